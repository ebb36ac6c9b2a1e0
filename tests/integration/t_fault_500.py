"""Proves: a 500 is retried with backoff until it succeeds, a 503 likewise, and a 500 that never ends uses up every attempt."""
import harness as h


def scenario():
    with h.FakeAPI() as api:
        got, p = h.run_pipe(api, [
            {"id": "a", "input": "flaky one @fault:500:2"},
            {"id": "b", "input": "flaky two @fault:503:1"},
            {"id": "c", "input": "always broken @fault:500:99"},
        ], "--retries", "3", "--timeout", "5", "--breaker", "off",
            timeout=60)
        # (--breaker off: c's four failures and a's two can come in a
        # row and open the circuit; t_breaker is its own scenario)
        h.expect_ok(got["a"], ["flaky one @fault:500:2"])
        h.check(got["a"]["attempts"] == 3, "two failures then success",
                got["a"])
        h.expect_ok(got["b"], ["flaky two @fault:503:1"])
        h.check(got["b"]["attempts"] == 2, "one failure then success",
                got["b"])
        h.expect_error(got["c"], "http", attempts=4)
        h.check(got["c"]["error"]["status"] == 500, "status given", got["c"])
        h.check(got["c"]["error"]["retryable"] is True, "5xx retryable")


h.main(scenario)
