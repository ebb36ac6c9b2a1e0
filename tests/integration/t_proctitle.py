"""Proves: a worker's process title (what ps shows every user) names the supervisor's number for it and its attempt, never the request's id, in fork, warm and exec'd worker modes."""
import time

import harness as h

SECRET_ID = "customer-4711-secret-id"


cmdline = h.cmdline


def scenario():
    with h.FakeAPI() as api:
        for mode in ([], ["--warm", "1"], ["--exec-worker"]):
            p = h.Pipe(api, "--timeout", "30", *mode)
            p.send({"id": SECRET_ID, "input": "@fault:hang"})
            titles = []
            deadline = time.monotonic() + 20 * h.SLACK
            while time.monotonic() < deadline:
                titles = [cmdline(k) for k in h.children(p.pid)]
                if any("attempt" in t for t in titles):
                    break
                time.sleep(0.05)
            p.send({"op": "cancel", "id": SECRET_ID})
            p.close()
            p.read_answers(1, 30 * h.SLACK)
            h.check(p.wait(30) == 0, "exit 0", p.stderr())
            h.check(any("worker " in t and " attempt 1" in t
                        for t in titles), f"a worker titled {mode}", titles)
            for t in titles:
                h.check(SECRET_ID not in t, f"title shows the id {mode}", t)


h.main(scenario)
