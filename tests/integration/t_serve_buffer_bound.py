"""Proves: unfinished request lines are bounded across clients by --max-buffered: 8 clients each sending 3 MB without a newline (under --max-buffered 4 MiB) get the biggest lines refused with invalid_request and their ids, the supervisor's RSS grows by a few MiB, not 24, and a refused client's next line is served."""
import time

import harness as h
import serve_harness as sh

N = 8
SIZE = 3 << 20


def scenario():
    with h.FakeAPI() as api, sh.Server(
            api, "--max-buffered", str(4 << 20), "--jobs", "2") as srv:
        base = srv.rss_kb()
        clients = [srv.connect() for _ in range(N)]
        pad = b"x" * (64 << 10)
        for k, c in enumerate(clients):
            c.sock.sendall(b'{"id": "big-%d", "input": "' % k)
        sent = 0
        while sent < SIZE:
            for c in clients:
                c.sock.sendall(pad)
            sent += len(pad)
        time.sleep(0.5)
        grown = (srv.rss_kb() - base) / 1024
        # ASan's quarantine keeps freed memory: RSS says nothing there.
        if not h.SANITIZED:
            h.check(grown < 12, f"RSS grew {grown:.1f} MiB",
                    srv.stderr()[-1500:])
        refused = 0
        for k, c in enumerate(clients):
            c.sock.sendall(b'"}\n')
            got = c.read_answers(1, 20 * h.SLACK)[0]
            if got.get("ok") is False and "max-buffered" in \
                    got["error"]["message"]:
                h.check(got["id"] == f"big-{k}", "refused with its id", got)
                h.expect_error(got, "invalid_request")
                refused += 1
                c.send({"id": "next", "input": "after"})
                h.expect_ok(c.read_answers(1, 20 * h.SLACK)[0], ["after"])
        h.check(refused >= N - 2, f"only {refused} of {N} refused")
        st = clients[0].stats()
        h.check(st["lines_refused"] == refused, "stats count them", st)
        for c in clients:
            c.close()


h.main(scenario)
