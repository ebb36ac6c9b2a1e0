"""Proves: a server that sends its status line and then nothing is cut at the attempt timeout."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        start = time.monotonic()
        got, p = h.run_pipe(api, [{"id": "s", "input": "x @fault:stall"}],
                            "--timeout", "1.5", "--retries", "1")
        elapsed = time.monotonic() - start
        h.expect_error(got["s"], "timeout", attempts=2)
        h.check(elapsed < 8 * h.SLACK, f"took {elapsed:.1f} s")


h.main(scenario)
