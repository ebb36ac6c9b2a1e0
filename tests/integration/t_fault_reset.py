"""Proves: a connection reset, a close without answer and a lying Content-Length are network errors, retried until the attempts run out."""
import harness as h


def scenario():
    with h.FakeAPI() as api:
        got, p = h.run_pipe(api, [
            {"id": "reset", "input": "x @fault:reset"},
            {"id": "close", "input": "x @fault:close"},
            {"id": "lie", "input": "x @fault:lie"},
        ], "--retries", "2", "--timeout", "5", "--breaker", "off")
        # (nine failures in a row would open the circuit breaker: its
        # own scenario is t_breaker)
        for k in ("reset", "close", "lie"):
            h.expect_error(got[k], "network", attempts=3)
            h.check(got[k]["error"]["retryable"] is True, "retryable",
                    got[k])
        h.check(api.stats()["requests"] == 9, "three attempts each",
                api.stats())


h.main(scenario)
