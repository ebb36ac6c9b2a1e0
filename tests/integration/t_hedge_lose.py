"""Proves: a hedge that loses to the first attempt is killed as soon as the first answers: ok from the first call, attempts 2, hedges 1 and hedges_won 0, no worker left, and with --hedge off no second call at all."""
import time

import harness as h


def scenario():
    text = "first is quicker @fault:slowseq:400:5000"
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--hedge", "100", "--timeout", "10")
        p.send({"id": 1, "input": text})
        a = p.read_answers(1, 10 * h.SLACK)[0]
        h.expect_ok(a, [text])
        h.check(a["attempts"] == 2, "the hedge counts as a call", a)
        h.check(a["ms"] < 3000 * h.SLACK, "answered by the first call, not "
                "the 5 s hedge", a)
        h.wait_until(lambda: h.working(p.pid) == [], 5 * h.SLACK,
                     "no worker left")
        p.send({"op": "stats", "id": "s"})
        st = p.read_answers(1, 10)[0]["stats"]
        h.check(st["hedges"] == 1 and st["hedges_won"] == 0,
                "one hedge, lost", st)
        p.close()
        h.check(p.wait(10) == 0, "exit 0", p.stderr())

        api.reset()
        got, p = h.run_pipe(api, [{"id": 2, "input": text}], "--hedge",
                            "off")
        h.check(got[2]["attempts"] == 1, "no hedge when off", got[2])
        h.check(api.stats()["requests"] == 1, "one call", api.stats())


h.main(scenario)
