"""Proves: under load, with hung calls mixed in, every one of thousands of requests gets exactly one answer, and no worker, zombie or descriptor is left."""
import time

import harness as h

N = 3000


def scenario():
    reqs = []
    for i in range(N):
        if i % 100 == 7:
            reqs.append({"id": i, "input": f"hang {i} @fault:hang"})
        elif i % 100 == 42:
            reqs.append({"id": i, "input": f"flaky {i} @fault:500:1"})
        else:
            reqs.append({"id": i, "input": [f"text {i}", f"more {i}"]})
    with h.FakeAPI() as api:
        # Hung calls can hold all 16 workers at once, so that only
        # timeouts come back for a while: the circuit breaker would then
        # rightly open, which is not what this scenario is about.
        p = h.Pipe(api, "--jobs", "16", "--timeout", "1", "--retries", "1",
                   "--queue", "256", "--breaker", "off")
        p.send({"id": "warm", "input": "warm up"})
        p.read_answers(1, 30 * h.SLACK)
        # An answer may come before its worker has exited and been reaped.
        h.wait_until(lambda: h.working(p.pid) == [], 10, "the reap")
        fds_at_start = h.own_fds(p.pid)
        start = time.monotonic()
        p.send(*reqs)
        answers = p.read_answers(N, 240 * h.SLACK)
        elapsed = time.monotonic() - start
        h.wait_until(lambda: h.own_fds(p.pid) == fds_at_start, 10,
                     "descriptors back to where they were")
        p.close()
        h.check(p.wait(30) == 0, "exit 0", p.stderr())
        h.check(p.rest_of_stdout() == b"", "exactly one answer each")
        ids = sorted(a["id"] for a in answers)
        h.check(ids == list(range(N)), "every id exactly once")
        for a in answers:
            i = a["id"]
            if i % 100 == 7:
                h.expect_error(a, "timeout", attempts=2)
            elif i % 100 == 42:
                h.expect_ok(a, [f"flaky {i} @fault:500:1"])
            else:
                h.expect_ok(a, [f"text {i}", f"more {i}"])
        h.log(f"{N} requests in {elapsed:.1f} s")


h.main(scenario)
