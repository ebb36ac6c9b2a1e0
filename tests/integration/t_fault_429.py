"""Proves: a 429 is retried no sooner than its Retry-After asks, and a 429 for an exhausted quota is answered at once, not retried."""
import harness as h


def scenario():
    with h.FakeAPI() as api:
        got, p = h.run_pipe(api, [
            {"id": "limited", "input": "slow down @fault:429:1"},
            {"id": "quota", "input": "no money @fault:quota"},
        ], "--retries", "3", "--timeout", "5")
        a = got["limited"]
        h.expect_ok(a, ["slow down @fault:429:1"])
        h.check(a["attempts"] == 2, "one 429 then success", a)
        h.check(a["ms"] >= 950, "waited the Retry-After second", a)
        q = got["quota"]
        h.expect_error(q, "rate_limited", attempts=1)
        h.check(q["error"]["retryable"] is False, "quota is final", q)
        h.check(q["error"]["status"] == 429, "status 429", q)
        h.check("quota" in q["error"]["message"], "API message kept", q)


h.main(scenario)
