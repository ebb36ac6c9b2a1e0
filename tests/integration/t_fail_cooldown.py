"""Proves: once two requests in a row get the same 401 (a bad key), pipe answers every request with it at once, making no call, for --fail-cooldown; after the cool-down calls are made again; one 401 alone (a per-request fault) changes nothing."""
import time

import harness as h


def scenario():
    with h.FakeAPI("--require-key", "sk-right") as api:
        p = h.Pipe(api, "--fail-cooldown", "2", "--jobs", "1",
                   env={"EMBEDWATCH_API_KEY": "sk-wrong"})
        p.send({"id": 1, "input": "a"}, {"id": 2, "input": "b"})
        for a in p.read_answers(2, 30):
            h.expect_error(a, "http", attempts=1)
            h.check(a["error"]["status"] == 401, "401", a)
        t0 = time.monotonic()
        p.send(*[{"id": 10 + i, "input": "c"} for i in range(20)])
        answers = p.read_answers(20, 10)
        took = time.monotonic() - t0
        for a in answers:
            h.expect_error(a, "http", attempts=0)
            h.check(a["error"]["status"] == 401, "the same status", a)
            h.check("no call made" in a["error"]["message"] and
                    "Incorrect API key" in a["error"]["message"],
                    "says why", a)
            h.check(a["error"]["retryable"] is False, "final", a)
        h.check(took < 1.5 * h.SLACK, f"answered at once ({took:.2f} s)")
        h.check(api.stats()["requests"] == 2, "no call in the cool-down",
                api.stats())
        p.send({"op": "stats", "id": "s"})
        st = p.read_answers(1, 10)[0]["stats"]
        h.check(st["endpoint_failed"] is True, "in stats", st)
        time.sleep(2.2)
        p.send({"id": "later", "input": "d"})
        a = p.read_answers(1, 30)[0]
        h.expect_error(a, "http", attempts=1)
        h.check(api.stats()["requests"] == 3, "a call after the cool-down",
                api.stats())
        p.close()
        h.check(p.wait(10) == 0, "exit 0", p.stderr())

    with h.FakeAPI() as api:
        got, p = h.run_pipe(api, [{"id": 1, "input": "x @fault:401"},
                                  {"id": 2, "input": "fine"},
                                  {"id": 3, "input": "y @fault:401"},
                                  {"id": 4, "input": "fine too"}],
                            "--jobs", "1")
        h.expect_ok(got[2], ["fine"])
        h.expect_ok(got[4], ["fine too"])
        h.check(api.stats()["requests"] == 4, "each its own call",
                api.stats())


h.main(scenario)
