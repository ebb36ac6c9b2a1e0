"""Proves: --deadline bounds the whole request, attempts and backoff together, and per-request "timeout"/"deadline" override the options."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        start = time.monotonic()
        got, p = h.run_pipe(api, [
            {"id": "global", "input": "g @fault:hang"},
            {"id": "own", "input": "o @fault:hang", "timeout": 0.5,
             "deadline": 1.2},
        ], "--timeout", "1", "--retries", "10", "--deadline", "2.5",
            # Every call here hangs: to the breaker the endpoint is dead,
            # and its circuit_open (after 5 kills in a row, hedges
            # included) would answer before the deadline is reached.
            "--breaker", "off", timeout=60)
        elapsed = time.monotonic() - start
        g, o = got["global"], got["own"]
        h.expect_error(g, "timeout")
        h.check(2 <= g["attempts"] < 11, "stopped by the deadline", g)
        h.check(g["ms"] <= 2500 + 500 * h.SLACK, "within the deadline", g)
        h.expect_error(o, "timeout")
        h.check(o["ms"] <= 1200 + 500 * h.SLACK, "own deadline kept", o)
        h.check(elapsed < 6 * h.SLACK, f"took {elapsed:.1f} s")


h.main(scenario)
