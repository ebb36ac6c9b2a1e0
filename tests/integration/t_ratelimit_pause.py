"""Proves: a 429 with Retry-After pauses the endpoint for every request, not just the one that got it (others sent meanwhile wait for the pause, then succeed); and a 429 whose Retry-After exceeds what the deadline leaves is answered rate_limited at once with retry_after_ms, no further call."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--retries", "2")
        t0 = time.monotonic()
        # Retry-After: 1, and retry-after-ms: 1500, which wins.
        p.send({"id": "a", "input": "limited @fault:429:1:1500"})
        time.sleep(0.3)
        h.check(api.stats()["requests"] == 1, "the 429 came", api.stats())
        p.send({"id": "b", "input": "bystander"})
        got = {a["id"]: a for a in p.read_answers(2, 30 * h.SLACK)}
        h.expect_ok(got["a"], ["limited @fault:429:1:1500"])
        h.expect_ok(got["b"], ["bystander"])
        h.check(got["a"]["attempts"] == 2, "retried once", got["a"])
        tb = got["b"]["_t"] - (t0 - p.started)
        h.check(tb >= 1.3, f"the bystander waited for the pause ({tb:.2f} s)",
                got["b"])
        p.send({"op": "stats", "id": "s"})
        st = p.read_answers(1, 10)[0]["stats"]
        h.check(st["rate_limit_pauses"] == 1, "one pause", st)
        h.check(st["rate_limit_waits"] >= 1, "a call held back", st)
        p.close()
        h.check(p.wait(10) == 0, "exit 0", p.stderr())

        api.reset()
        got, p = h.run_pipe(api, [{"id": "far",
                                   "input": "x @fault:429:5:60000"}],
                            "--deadline", "5", "--retries", "3")
        a = got["far"]
        h.expect_error(a, "rate_limited", attempts=1)
        h.check(a["error"]["retry_after_ms"] == 60000, "says when", a)
        h.check(a["error"]["retryable"] is True, "retryable later", a)
        h.check(a["ms"] < 2000 * h.SLACK, "at once, not at the deadline", a)
        h.check(api.stats()["requests"] == 1, "no further call",
                api.stats())


h.main(scenario)
