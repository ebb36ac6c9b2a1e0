"""Proves: the rate-limit budget paces calls from the x-ratelimit-* headers: with the fake enforcing 600 requests a minute and only 5 left at start, 40 requests all succeed, with no 429 but in the first burst (8 calls sent before any header came), spread over the refill time rather than sent at once; --rpm paces alike with no headers at all."""
import time

import harness as h

N = 40


def scenario():
    reqs = [{"id": i, "input": f"text {i}"} for i in range(N)]
    with h.FakeAPI("--rl-rpm", "600", "--rl-start-requests", "5") as api:
        t0 = time.monotonic()
        got, p = h.run_pipe(api, reqs, "--jobs", "8", timeout=60 * h.SLACK)
        took = time.monotonic() - t0
        for i in range(N):
            h.expect_ok(got[i], [f"text {i}"])
        st = api.stats()
        h.check(st["rate_limited"] <= 3, "no 429 after the first burst",
                st)
        h.check(st["requests"] == N + st["rate_limited"], "one call each",
                st)
        # 35 beyond the first 5 at 10 a second: about 3.5 s.
        h.check(took >= 2.5, f"paced: {took:.2f} s", st)
        h.check(took < 20 * h.SLACK, f"not stalled: {took:.2f} s")

    with h.FakeAPI() as api:
        # --rpm 300: 5 a second, a second's worth at once.
        t0 = time.monotonic()
        got, p = h.run_pipe(api, reqs[:15], "--rpm", "300",
                            timeout=60 * h.SLACK)
        took = time.monotonic() - t0
        h.check(all(a["ok"] for a in got.values()), "all ok")
        h.check(took >= 1.6, f"paced by hand: {took:.2f} s")


h.main(scenario)
