"""Proves: SIGTERM stops reading, answers queued requests shutting_down at once, lets in-flight calls finish within --drain, kills the rest, and exits 0 with one answer per request."""
import signal
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--jobs", "2", "--timeout", "30", "--drain", "3")
        p.send({"id": "slow", "input": "s @fault:slow:1500"},
               {"id": "hung", "input": "h @fault:hang"},
               *[{"id": f"q{i}", "input": f"queued {i}"} for i in range(5)])
        h.wait_until(lambda: api.stats()["requests"] >= 2, 10 * h.SLACK,
                     "two calls in flight")
        start = time.monotonic()
        p.proc.send_signal(signal.SIGTERM)
        answers = p.read_answers(7, 10 * h.SLACK)
        rc = p.wait(10 * h.SLACK)
        elapsed = time.monotonic() - start
        h.check(rc == 0, f"exit status {rc}", p.stderr())
        by_id = {a["id"]: a for a in answers}
        h.check(len(by_id) == 7, "one answer each", answers)
        h.expect_ok(by_id["slow"], ["s @fault:slow:1500"])
        h.expect_error(by_id["hung"], "shutting_down", attempts=1)
        h.check("killed by shutdown" in by_id["hung"]["error"]["message"],
                "says why", by_id["hung"])
        for i in range(5):
            h.expect_error(by_id[f"q{i}"], "shutting_down", attempts=0)
            h.check(by_id[f"q{i}"]["_t"] < by_id["hung"]["_t"],
                    "queued ones answered before the drain ends")
        h.check(2.0 < elapsed < 3 + 3 * h.SLACK,
                f"drain took {elapsed:.1f} s")
        h.check(h.children(p.pid) == [], "no workers left")


h.main(scenario)
