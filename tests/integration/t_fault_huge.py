"""Proves: a body far over --max-response is refused while it arrives, quickly, as bad_response."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        start = time.monotonic()
        got, p = h.run_pipe(api, [
            {"id": "huge", "input": "x @fault:huge:300"},
            {"id": "fine", "input": "fine"},
        ], "--max-response", "1048576", "--retries", "2", "--timeout", "20")
        elapsed = time.monotonic() - start
        a = got["huge"]
        h.expect_error(a, "bad_response", attempts=1)
        h.check("1048576" in a["error"]["message"], "names the cap", a)
        h.expect_ok(got["fine"], ["fine"])
        h.check(elapsed < 10 * h.SLACK, f"took {elapsed:.1f} s: the cap "
                "must cut the transfer, not wait for 300 MiB")


h.main(scenario)
