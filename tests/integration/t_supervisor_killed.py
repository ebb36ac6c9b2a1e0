"""Proves: if the supervisor itself is SIGKILLed, its workers die too (no orphans left calling the API)."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--timeout", "60", "--jobs", "4")
        p.send(*[{"id": i, "input": f"hang {i} @fault:hang"}
                 for i in range(4)])
        h.wait_until(lambda: len(h.working(p.pid)) == 4, 10 * h.SLACK,
                     "four workers")
        workers = h.children(p.pid)
        h.wait_until(lambda: api.open_calls() >= 4,
                     10 * h.SLACK, "four hung calls")
        p.kill()
        h.wait_until(lambda: not any(h.processes_in_group(w)
                                     for w in workers),
                     10, "the workers to die with their supervisor")
        h.wait_until(lambda: api.open_calls() == 0, 10,
                     "the hung connections to close")


h.main(scenario)
