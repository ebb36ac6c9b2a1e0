"""Proves: with --warm, workers forked and connected ahead take calls (small and larger than a pipe), in fork and exec mode, without a request of their own, are killed at their deadline, cancelled, and none is left after EOF or when the supervisor is SIGKILLed."""
import time

import harness as h


def scenario():
    big = [f"{i} " + "y" * 1000 for i in range(100)]     # ~100 KB job
    reqs = [{"id": "a", "input": ["one", "two"]},
            {"id": "b", "input": "flaky @fault:500:1"},
            {"id": "c", "input": "hang @fault:hang"},
            {"id": "big", "input": big}]
    with h.FakeAPI() as api:
        for mode in ([], ["--exec-worker"]):
            p = h.Pipe(api, "--warm", "4", "--jobs", "4", "--timeout", "1",
                       "--retries", "1", *mode)
            h.wait_until(lambda: len(h.children(p.pid)) == 4, 10 * h.SLACK,
                         "four warm workers")
            h.wait_until(lambda: api.open_connections() == 4,
                         10 * h.SLACK, "four connections opened ahead")
            h.check(api.stats()["requests"] == 0,
                    "warm workers call nothing before they get a job")
            p.send(*reqs)
            got = {a["id"]: a for a in p.read_answers(4, 30 * h.SLACK)}
            h.expect_ok(got["a"], ["one", "two"])
            h.expect_ok(got["b"], ["flaky @fault:500:1"])
            h.check(got["b"]["attempts"] == 2, "retried", got["b"])
            h.expect_error(got["c"], "timeout", attempts=2)
            h.check(got["c"]["ms"] < 2000 + 1500 * h.SLACK, "in time",
                    got["c"])
            h.expect_ok(got["big"], big)
            # The pool is topped up again, then everything goes at EOF.
            h.wait_until(lambda: len(h.children(p.pid)) == 4, 10 * h.SLACK,
                         "the pool refilled")
            p.close()
            h.check(p.wait(20) == 0, "exit 0", p.stderr())
            h.check(h.children(p.pid) == [], "no worker left")
            api.reset()

        # Cancel reaches a warm worker's call; SIGKILL takes the pool along.
        p = h.Pipe(api, "--warm", "3", "--jobs", "3", "--timeout", "60")
        h.wait_until(lambda: len(h.children(p.pid)) == 3, 10 * h.SLACK,
                     "three warm workers")
        p.send({"id": "x", "input": "x @fault:hang"})
        h.wait_until(lambda: api.stats()["requests"] == 1, 10 * h.SLACK,
                     "the call")
        start = time.monotonic()
        p.send({"op": "cancel", "id": "x"})
        a = p.read_answers(1, 10 * h.SLACK)[0]
        h.expect_error(a, "cancelled", attempts=1)
        h.check(time.monotonic() - start < 3 * h.SLACK, "prompt")
        h.wait_until(lambda: len(h.children(p.pid)) == 3, 10 * h.SLACK,
                     "the pool refilled")
        pool = h.children(p.pid)
        p.kill()
        h.wait_until(lambda: not any(h.processes_in_group(w) for w in pool),
                     10, "the warm workers to die with their supervisor")


h.main(scenario)
