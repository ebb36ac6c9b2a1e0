"""Proves: if the reader of stdout goes away, embedwatch notices, kills its workers and exits non-zero instead of hanging."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--timeout", "60", "--jobs", "2")
        p.send({"id": 1, "input": "hang @fault:hang"},
               {"id": 2, "input": "fine"})
        h.wait_until(lambda: api.stats()["requests"] >= 2, 10 * h.SLACK,
                     "calls made")
        p.proc.stdout.close()
        time.sleep(0.5)
        try:
            p.send({"id": 3, "input": "after close"})
        except BrokenPipeError:
            pass  # it noticed already (writing the answer to 2), and left
        rc = p.wait(15 * h.SLACK)
        h.check(rc == 74, f"exit status {rc}, want 74", p.stderr())
        h.check("cannot write answers" in p.stderr(), "says why",
                p.stderr())
        h.wait_until(lambda: api.open_calls() == 0, 10,
                     "the hung call to be killed")


h.main(scenario)
