"""Proves: fork+exec of the external worker (--exec-worker, --worker PATH) gives the same answers as the built-in fork mode, faults included."""
import harness as h


def scenario():
    reqs = [{"id": "a", "input": ["one", "two"]},
            {"id": "b", "input": "x @fault:500:1"},
            {"id": "c", "input": "y @fault:401"},
            {"id": "d", "input": "z @fault:hang"}]
    with h.FakeAPI() as api:
        for args in (["--exec-worker"], ["--worker", h.WORKER]):
            api.reset()
            got, p = h.run_pipe(api, reqs, *args, "--timeout", "1",
                                "--retries", "1")
            h.expect_ok(got["a"], ["one", "two"])
            h.expect_ok(got["b"], ["x @fault:500:1"])
            h.check(got["b"]["attempts"] == 2, "retried", got["b"])
            h.expect_error(got["c"], "http", attempts=1)
            h.expect_error(got["d"], "timeout", attempts=2)
        p = h.Pipe(api, "--worker", "/nonexistent/worker")
        p.close()
        h.check(p.wait(10) == 78, "missing worker refused at start (78)")
        h.check("/nonexistent/worker" in p.stderr(), "names it", p.stderr())


h.main(scenario)
