"""Proves: a hedge wins over a hung first attempt: answered ok soon after the hedge delay, attempts 2, the hung worker is SIGKILLed at once (the fake sees its connection closed, no worker is left), and stats count the hedge as started and won, not as a timeout."""
import time

import harness as h


def scenario():
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--hedge", "100", "--timeout", "10", "--retries", "2")
        start = time.monotonic()
        p.send({"id": "w", "input": "first hangs @fault:hangonce:1"})
        a = p.read_answers(1, 10 * h.SLACK)[0]
        took = time.monotonic() - start
        h.expect_ok(a, ["first hangs @fault:hangonce:1"])
        h.check(a["attempts"] == 2, "two calls made", a)
        h.check(took < 3 * h.SLACK, f"answered after {took:.2f} s, not at "
                "the 10 s timeout", a)
        h.check(a["ms"] >= 100, "not before the hedge delay", a)
        # The loser's connection closes once its worker is killed.
        h.wait_until(lambda: api.open_calls() == 0, 5 * h.SLACK,
                     "the hung call's connection to close")
        h.wait_until(lambda: h.working(p.pid) == [], 5 * h.SLACK,
                     "no worker left")
        p.send({"op": "stats", "id": "s"})
        st = p.read_answers(1, 10)[0]["stats"]
        h.check(st["hedges"] == 1 and st["hedges_won"] == 1,
                "one hedge, and it won", st)
        h.check(st["errors"]["timeout"] == 0, "no timeout counted", st)
        h.check(api.stats()["requests"] == 2, "two calls reached the API",
                api.stats())
        p.close()
        h.check(p.wait(10) == 0, "exit 0", p.stderr())


h.main(scenario)
