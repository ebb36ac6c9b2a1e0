"""Proves: warm workers whose connections the server closes when idle, or that wait longer than --warm-idle, are replaced, and no request sees an error."""
import time

import harness as h


def run(api, *args):
    p = h.Pipe(api, "--jobs", "4", "--warm", "2", *args)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 2.5:
        time.sleep(0.35)
        p.send({"id": n, "input": f"idle {n}"})
        a = p.read_answers(1, 10 * h.SLACK)[0]
        h.expect_ok(a, [f"idle {n}"])
        h.check(a["attempts"] == 1, "no request saw an error", a)
        n += 1
    p.send({"op": "stats", "id": "s"})
    st = p.read_answers(1, 10)[0]["stats"]
    # Every 0.2-0.3 s both warm connections go and are replaced.
    h.check(st["workers_started"] > n + 4, "the pool was replaced", st, n)
    h.check(st["warm_failures"] == 0, "a replacement is no failure", st)
    p.close()
    h.check(p.wait(20) == 0, "exit 0", p.stderr())
    h.check("ended idle" not in p.stderr(), "nothing odd logged", p.stderr())


def scenario():
    with h.FakeAPI("--idle-close-ms", "200") as api:
        run(api)
    with h.FakeAPI() as api:
        run(api, "--warm-idle", "0.3")
        h.check(api.stats()["requests"] == len(api.calls()), "calls only")


h.main(scenario)
