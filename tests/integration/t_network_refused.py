"""Proves: an API that refuses connections gives network errors, retried, with curl's reason in the message."""
import socket

import harness as h


def scenario():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()               # nothing listens there now
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--retries", "2",
                   base_url=f"http://127.0.0.1:{port}/v1")
        p.send({"id": 1, "input": "x"})
        p.close()
        a = p.read_answers(1, 30)[0]
        h.check(p.wait(30) == 0, "exit 0")
        h.expect_error(a, "network", attempts=3)
        h.check("onnect" in a["error"]["message"], "curl's reason", a)


h.main(scenario)
