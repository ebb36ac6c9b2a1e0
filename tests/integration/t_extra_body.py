"""Proves: a request's "user" and "extra_body" members reach the API's request body (fork and exec'd workers), and an extra_body that is not an object or names a member embedwatch sets itself is refused as invalid_request without a call."""
import harness as h


def scenario():
    with h.FakeAPI() as api:
        for mode in ([], ["--exec-worker"]):
            got, p = h.run_pipe(api, [{"id": 1, "input": "x", "user": "u-7",
                                       "extra_body": {"foo": {"a": [1, "é"]},
                                                      "bar": None}}], *mode)
            h.expect_ok(got[1], ["x"])
            body = api.stats()["last_body"]
            h.check(body.get("user") == "u-7", f"user {mode}", body)
            h.check(body.get("foo") == {"a": [1, "é"]} and "bar" in body,
                    f"extra_body {mode}", body)
            h.check(body.get("input") == ["x"], "input kept", body)
        before = api.stats()["requests"]
        got, p = h.run_pipe(api, [
            {"id": 1, "input": "x", "extra_body": {"model": "other"}},
            {"id": 2, "input": "x", "extra_body": [1]},
            {"id": 3, "input": "x", "user": 5}])
        for i in (1, 2, 3):
            h.expect_error(got[i], "invalid_request")
        h.check(api.stats()["requests"] == before, "no call made")


h.main(scenario)
