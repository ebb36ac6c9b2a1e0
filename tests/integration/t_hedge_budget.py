"""Proves: hedges stop at the budget: 100 slow requests, each worth a hedge, with --hedge-budget 10 and no floor, make at most 10% more calls (plus one in flight at the window's edge), and every request is still answered ok."""
import harness as h

N = 100


def scenario():
    reqs = [{"id": i, "input": f"slow {i} @fault:slow:300"} for i in range(N)]
    with h.FakeAPI() as api:
        got, p = h.run_pipe(api, reqs, "--hedge", "50", "--hedge-budget",
                            "10", "--retry-budget", "20", "--budget-floor",
                            "0", "--jobs", "16", "--timeout", "10",
                            timeout=120 * h.SLACK)
        for i in range(N):
            h.expect_ok(got[i], [f"slow {i} @fault:slow:300"])
        calls = api.stats()["requests"]
        hedges = sum(a["attempts"] - 1 for a in got.values())
        h.check(hedges >= 1, "some hedges ran", calls)
        h.check(hedges <= N // 10 + 1, f"{hedges} hedges for {N} requests",
                calls)
        h.check(calls == N + hedges, "every call counted in attempts",
                calls, hedges)


h.main(scenario)
