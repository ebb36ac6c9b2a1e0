"""Proves: a body dripped one byte a second (which defeats per-read timeouts) is cut at the attempt timeout, and the answer says how much of the body came."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        start = time.monotonic()
        got, p = h.run_pipe(api, [{"id": "d", "input": "slow @fault:drip:300"}],
                            "--timeout", "2", "--retries", "1")
        elapsed = time.monotonic() - start
        a = got["d"]
        h.expect_error(a, "timeout", attempts=2)
        msg = a["error"]["message"]
        h.check("first byte at" in msg and "bytes of the body" in msg,
                "says the body was arriving", msg)
        h.check(elapsed < 10 * h.SLACK, f"took {elapsed:.1f} s")


h.main(scenario)
