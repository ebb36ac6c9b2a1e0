"""Proves: by default a call goes out on a connection a warm worker opened before the request existed, exactly one connection per call, in fork and exec mode, and the pool grows to a burst's size."""
import time

import harness as h


def sequential(api, *mode):
    p = h.Pipe(api, "--jobs", "4", *mode)
    sent = []
    for i in range(5):
        # The pool (one worker by default) connects ahead between calls.
        h.wait_until(lambda: api.open_connections() >= 1, 10 * h.SLACK,
                     "a connection opened ahead")
        time.sleep(0.05)
        sent.append(time.monotonic())
        p.send({"id": i, "input": f"seq {i}"})
        a = p.read_answers(1, 10 * h.SLACK)[0]
        h.expect_ok(a, [f"seq {i}"])
        h.check(a["attempts"] == 1, "one attempt", a)
    calls = api.calls()
    h.check(len(calls) == 5, "five calls", calls)
    h.check(len({c["conn"] for c in calls}) == 5 and
            all(c["nth"] == 1 for c in calls),
            "exactly one connection per call", calls)
    for c, t in zip(calls, sent):
        h.check(c["accepted"] < t < c["received"],
                "the connection was open before the request existed", c, t)
    p.close()
    h.check(p.wait(20) == 0, "exit 0", p.stderr())
    h.check(h.children(p.pid) == [], "no worker left")


def scenario():
    with h.FakeAPI() as api:
        sequential(api)
        api.reset()
        sequential(api, "--exec-worker")
        api.reset()

        # A burst of 6 grows the pool to at least 6 connected workers (more
        # while the call rate says refills are still connecting).
        p = h.Pipe(api, "--jobs", "8")
        p.send(*[{"id": i, "input": f"burst {i}"} for i in range(6)])
        for a in p.read_answers(6, 20 * h.SLACK):
            h.expect_ok(a, [f"burst {a['id']}"])
        h.wait_until(lambda: 6 <= len(h.warm(p.pid)) <= 8 and
                     api.open_connections() == len(h.warm(p.pid)),
                     10 * h.SLACK, "six or more warm workers connected")
        h.check(api.stats()["requests"] == 6, "no request of their own")
        p.close()
        h.check(p.wait(20) == 0, "exit 0", p.stderr())


h.main(scenario)
