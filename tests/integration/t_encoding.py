"""Proves: base64 (the default) and float encodings give identical vectors, also from servers that ignore encoding_format, and dimensions are honoured."""
import harness as h


def scenario():
    texts = ["alpha", "beta gamma", "δέλτα"]
    with h.FakeAPI() as api:
        results = {}
        for enc in ("base64", "float"):
            got, p = h.run_pipe(api, [
                {"id": "plain", "input": texts},
                {"id": "array", "input": texts + ["x @fault:array"]},
                {"id": "b64", "input": texts + ["x @fault:base64"]},
                {"id": "dims", "input": texts, "dimensions": 32},
            ], "--encoding", enc)
            h.expect_ok(got["plain"], texts)
            h.expect_ok(got["array"], texts + ["x @fault:array"])
            h.expect_ok(got["b64"], texts + ["x @fault:base64"])
            h.expect_ok(got["dims"], texts, dims=32)
            results[enc] = got["plain"]["embeddings"]
        h.check(results["base64"] == results["float"], "same floats")
        got, p = h.run_pipe(api, [{"id": 1, "input": "x"}],
                            "--dimensions", "16")
        h.expect_ok(got[1], ["x"], dims=16)


h.main(scenario)
