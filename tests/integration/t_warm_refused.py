"""Proves: against an endpoint that refuses connections, warm refills back off (a bounded number of connects per second, no fork loop), and requests still get network answers in time."""
import socket
import time

import harness as h


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()       # nothing listens here now: connects are refused
    return port


def scenario():
    with h.FakeAPI() as api:
        url = f"http://127.0.0.1:{closed_port()}/v1"
        p = h.Pipe(api, "--jobs", "8", "--warm", "8", "--retries", "0",
                   "--timeout", "2", base_url=url)
        time.sleep(3)
        p.send({"op": "stats", "id": "s"})
        st = p.read_answers(1, 10)[0]["stats"]
        # Backoff 250 ms doubling, one warm worker trying at a time: in
        # 3 s about 5; a fork loop would be thousands.
        h.check(st["workers_started"] <= 12, "refills back off", st)
        h.check(st["warm_failures"] >= 2, "failed connects are counted", st)
        start = time.monotonic()
        p.send(*[{"id": i, "input": f"refused {i}"} for i in range(3)])
        for a in p.read_answers(3, 10 * h.SLACK):
            h.expect_error(a, "network", attempts=1)
        h.check(time.monotonic() - start < 2 * h.SLACK, "answered in time")
        p.close()
        h.check(p.wait(20) == 0, "exit 0", p.stderr())
        h.check(h.children(p.pid) == [], "no worker left")
        log = p.stderr()
        h.check(log.count("Connection refused") <= 3, "logged once, not "
                "per refill", log)


h.main(scenario)
