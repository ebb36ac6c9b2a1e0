"""Proves: {"op":"cancel"} SIGKILLs a running request's worker at once and answers that request cancelled (queued ones too), and {"op":"stats"} reports the counters."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        # No warm pool: the counts of workers and connections below are
        # exact (t_warm_workers cancels a warm worker's call).
        p = h.Pipe(api, "--jobs", "1", "--timeout", "60", "--retries", "0",
                   "--warm", "0")
        p.send({"id": "run", "input": "r @fault:hang"},
               {"id": "wait", "input": "w"})
        h.wait_until(lambda: len(h.children(p.pid)) == 1, 10 * h.SLACK,
                     "the worker")
        worker = h.children(p.pid)[0]
        h.wait_until(lambda: api.open_calls() == 1, 10 * h.SLACK,
                     "the hung call")
        start = time.monotonic()
        p.send({"op": "cancel", "id": "wait"}, {"op": "cancel", "id": "run"},
               {"op": "cancel", "id": "unknown"})
        got = {a["id"]: a for a in p.read_answers(2, 10 * h.SLACK)}
        h.check(time.monotonic() - start < 3 * h.SLACK, "cancel is prompt")
        h.expect_error(got["wait"], "cancelled", attempts=0)
        h.expect_error(got["run"], "cancelled", attempts=1)
        h.check(got["run"]["error"]["retryable"] is False, "final",
                got["run"])
        # The answer comes at the kill; the process is gone right after.
        h.wait_until(lambda: h.processes_in_group(worker) == [],
                     5 * h.SLACK, "the worker to die")
        h.wait_until(lambda: api.open_calls() == 0, 10, "call closed")
        p.send({"op": "stats", "id": "s"}, b'{"op": "nope", "id": 3}\n')
        ans = {a["id"]: a for a in p.read_answers(2, 10 * h.SLACK)}
        st = ans["s"]["stats"]
        h.check(st["requests"] == 2 and st["errors"]["cancelled"] == 2,
                "counters", st)
        h.check(st["workers_started"] == 1 and st["in_flight"] == 0 and
                st["queued"] == 0, "counters", st)
        h.expect_error(ans[3], "invalid_request")
        p.close()
        h.check(p.wait(20) == 0, "exit 0", p.stderr())
        h.check(api.stats()["requests"] == 1, "the queued one never ran")


h.main(scenario)
