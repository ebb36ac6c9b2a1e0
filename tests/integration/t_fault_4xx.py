"""Proves: 400, 401, 403, 404 and 422 are answered at once as http errors with the API's message, never retried."""
import harness as h


def scenario():
    codes = [400, 401, 403, 404, 422]
    reqs = [{"id": c, "input": f"status @fault:{c}"} for c in codes]
    with h.FakeAPI() as api:
        got, p = h.run_pipe(api, reqs, "--retries", "3")
        for c in codes:
            a = got[c]
            h.expect_error(a, "http", attempts=1)
            h.check(a["error"]["status"] == c, "status echoed", a)
            h.check(a["error"]["retryable"] is False, "not retryable", a)
            h.check(len(a["error"]["message"]) > 20, "API message kept", a)
        h.check("Incorrect API key" in got[401]["error"]["message"],
                "the API's own words", got[401])
        h.check(api.stats()["requests"] == len(codes), "no retries",
                api.stats())


h.main(scenario)
