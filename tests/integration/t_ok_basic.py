"""Proves: ids are echoed unchanged and each answer carries the right vectors in input order, although the API shuffles `data`."""
import harness as h


def scenario():
    texts = [f"text number {i}" for i in range(7)]
    reqs = [
        {"id": "q1", "input": "hello"},
        {"id": 7, "input": ["a", "b"]},
        {"id": -3.5, "input": texts},
        {"id": "ünï \"quoted\"", "input": ["x"]},
        {"id": 10 ** 15, "input": "big id", "model": "other-model"},
    ]
    with h.FakeAPI() as api:
        got, p = h.run_pipe(api, reqs, "--timeout", "10")
        h.expect_ok(got["q1"], ["hello"])
        h.expect_ok(got[7], ["a", "b"])
        h.expect_ok(got[-3.5], texts)
        h.expect_ok(got["ünï \"quoted\""], ["x"])
        h.expect_ok(got[10 ** 15], ["big id"])
        h.check(got[10 ** 15]["model"] == "other-model",
                "per-request model not used", got[10 ** 15])
        h.check(got["q1"]["model"] == "text-embedding-3-small",
                "default model not used", got["q1"])
        for a in got.values():
            h.check(a["attempts"] == 1, "one attempt expected", a)
            h.check(isinstance(a["ms"], int) and a["ms"] >= 0, "ms", a)
        h.check(got[7]["usage"] == {"prompt_tokens": 2, "total_tokens": 2},
                "usage not passed through", got[7])
        h.check(api.stats()["requests"] == len(reqs),
                "one API call per request", api.stats())


h.main(scenario)
