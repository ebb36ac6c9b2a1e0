"""Proves: when spawning a worker fails (every third fork, by the test hook), the request is retried on a later spawn and every request is still answered once."""
import harness as h


def scenario():
    with h.FakeAPI() as api:
        reqs = [{"id": i, "input": f"text {i}"} for i in range(30)]
        # Which spawns fail is fixed, which request gets them is not:
        # with 4 jobs a retry can land on a failing spawn again, (1/3)^n
        # for n attempts. 13 attempts make that one run in ~10^5.
        got, p = h.run_pipe(api, reqs, "--retries", "12", "--jobs", "4",
                            env={"EMBEDWATCH_TEST_FAIL_FORK": "3"})
        for i in range(30):
            h.expect_ok(got[i], [f"text {i}"])
        h.check(any(a["attempts"] > 1 for a in got.values()),
                "some requests needed a second spawn")
        h.check("cannot spawn worker" in p.stderr(), "failure logged",
                p.stderr())
        # With no retries left, the failure is the answer. No warm pool:
        # which spawn fails must be the second request's.
        got, p = h.run_pipe(api, [{"id": 1, "input": "a"},
                                  {"id": 2, "input": "b"}],
                            "--retries", "0", "--jobs", "1", "--warm", "0",
                            env={"EMBEDWATCH_TEST_FAIL_FORK": "2"})
        h.expect_ok(got[1], ["a"])
        h.expect_error(got[2], "worker_crashed", attempts=1)
        h.check("cannot spawn worker" in got[2]["error"]["message"],
                "says why", got[2])


h.main(scenario)
