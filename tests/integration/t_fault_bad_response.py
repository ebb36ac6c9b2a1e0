"""Proves: invalid JSON, too few embeddings, unequal dimensions, duplicate indexes and NaN are bad_response, not retried, and the neighbours are unaffected."""
import harness as h


def scenario():
    faults = ["badjson", "few", "dims", "dupindex", "nan"]
    reqs = [{"id": f, "input": ["one", f"two @fault:{f}", "three"]}
            for f in faults]
    reqs.append({"id": "fine", "input": ["one", "two", "three"]})
    with h.FakeAPI() as api:
        for enc in ("base64", "float"):
            api.reset()
            got, p = h.run_pipe(api, reqs, "--encoding", enc,
                                "--retries", "2")
            for f in faults:
                h.expect_error(got[f], "bad_response", attempts=1)
                h.check(got[f]["error"]["retryable"] is False,
                        "bad_response is final", got[f])
            h.expect_ok(got["fine"], ["one", "two", "three"])
            h.check(api.stats()["requests"] == len(reqs), "no retries")


h.main(scenario)
