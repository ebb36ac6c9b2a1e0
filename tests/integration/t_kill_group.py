"""Proves: a worker stuck where libcurl cannot help is SIGKILLed at its timeout together with everything in its process group, and the answer still comes in time."""
import os
import time

import harness as h

STUCK = os.path.join(h.ROOT, "tests", "fake", "stuck-worker")


def scenario():
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--worker", STUCK, "--timeout", "2", "--retries", "0")
        p.send({"id": "stuck", "input": "x"})
        # Catch the worker and its grandchild while they run.
        h.wait_until(lambda: len(h.working(p.pid)) == 1, 10 * h.SLACK,
                     "the worker to start")
        worker = h.working(p.pid)[0]
        h.wait_until(lambda: len(h.processes_in_group(worker)) >= 2,
                     10 * h.SLACK, "the grandchild to start")
        group = h.processes_in_group(worker)
        h.check(worker in group, "the worker leads its own group", group)
        start = time.monotonic()
        a = p.read_answers(1, 20)[0]
        waited = time.monotonic() - start
        h.expect_error(a, "timeout", attempts=1)
        h.check("killed at" in a["error"]["message"], "says it was killed",
                a)
        h.check(a["ms"] < 2000 + 1000 * h.SLACK, "answered near the "
                "timeout", a)
        h.check(waited < 5 * h.SLACK, f"waited {waited:.1f} s")
        h.wait_until(lambda: h.processes_in_group(worker) == [],
                     5, "the whole group to die")
        p.close()
        h.check(p.wait(20) == 0, "exit 0", p.stderr())


h.main(scenario)
