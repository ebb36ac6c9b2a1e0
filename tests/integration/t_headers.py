"""Proves: --header values reach the API unchanged and never appear in logs; malformed headers are refused at start."""
import harness as h


def scenario():
    with h.FakeAPI() as api:
        got, p = h.run_pipe(api, [{"id": 1, "input": "x"}],
                            "--header", "api-key: azure-secret-123",
                            "--header", "X-Trace: abc", "--log-level",
                            "debug")
        h.expect_ok(got[1], ["x"])
        seen = api.stats()["last_headers"]
        h.check(seen.get("api-key") == "azure-secret-123", "custom header",
                seen)
        h.check(seen.get("x-trace") == "abc", "second header", seen)
        h.check("azure-secret-123" not in p.stderr(), "header value logged")
        for bad in ("NoColon", ": empty-name", "Bad Name: v"):
            p = h.Pipe(api, "--header", bad)
            p.close()
            h.check(p.wait(10) == 64, f"--header {bad!r} refused (64)")


h.main(scenario)
