"""Proves: when spawning a worker fails (every third fork, by the test hook, which fails like a fork out of processes: EAGAIN), the request is not blamed: it keeps its attempt, the spawn is retried after a backoff, every request is answered ok once, and the failure is logged once per episode; a spawn that keeps failing past the deadline is answered worker_crashed saying why."""
import harness as h


def scenario():
    with h.FakeAPI() as api:
        reqs = [{"id": i, "input": f"text {i}"} for i in range(30)]
        # (Before issue 14 each failed fork spent an attempt: this needed
        # --retries 12; now no attempt is spent, so none is needed.)
        got, p = h.run_pipe(api, reqs, "--retries", "0", "--jobs", "4",
                            env={"EMBEDWATCH_TEST_FAIL_FORK": "3"})
        for i in range(30):
            h.expect_ok(got[i], [f"text {i}"])
            h.check(got[i]["attempts"] == 1, "no attempt spent", got[i])
        err = p.stderr()
        h.check("cannot spawn workers" in err, "failure logged", err)
        h.check(err.count("cannot spawn workers") <= 3,
                "logged per episode, not per fork", err)
        # Every fork fails: the deadline ends it, with the reason.
        got, p = h.run_pipe(api, [{"id": 1, "input": "a", "deadline": 1}],
                            "--retries", "0", "--jobs", "1",
                            env={"EMBEDWATCH_TEST_FAIL_FORK": "1"})
        h.expect_error(got[1], "worker_crashed", attempts=0)
        h.check("cannot spawn a worker before the deadline" in
                got[1]["error"]["message"], "says why", got[1])


h.main(scenario)
