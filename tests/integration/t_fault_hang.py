"""Proves: a server that never answers costs one timeout per attempt, every attempt is retried, and the answer says where the call hung, within the deadline."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        start = time.monotonic()
        got, p = h.run_pipe(api, [{"id": "h", "input": "zzz @fault:hang"},
                                  {"id": "fine", "input": "fine"}],
                            "--timeout", "1", "--retries", "2",
                            "--deadline", "30", "--hedge", "off",
                            timeout=60)
        # (--hedge off: a hedge would overlap the attempts; t_hedge_win
        # covers that)
        elapsed = time.monotonic() - start
        h.expect_ok(got["fine"], ["fine"])
        a = got["h"]
        h.expect_error(a, "timeout", attempts=3)
        msg = a["error"]["message"]
        h.check(msg.startswith("attempt 3 of 3"), "message names the "
                "attempt", msg)
        h.check("sent the request" in msg and "no first byte" in msg,
                "message says where it hung", msg)
        h.check(a["error"]["retryable"] is True, "timeouts are retryable", a)
        # 3 attempts of 1 s plus backoff (at most 0.5 + 1 s): generous bound.
        h.check(elapsed < 12 * h.SLACK, f"took {elapsed:.1f} s")
        h.check(a["ms"] >= 3000 * 0.9, "three attempts of ~1 s each", a)
        h.check(api.stats()["requests"] >= 4, "each attempt reached the "
                "API", api.stats())
        h.check(h.children(p.pid) == [], "no workers left")


h.main(scenario)
