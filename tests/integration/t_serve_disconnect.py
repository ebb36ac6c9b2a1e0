"""Proves: a serve client that hangs up has its running workers SIGKILLed and its queued requests dropped at once while other clients go on being served, and a client that only half-closes still gets every answer."""
import time

import harness as h
import serve_harness as sh


def scenario():
    with h.FakeAPI() as api, sh.Server(
            api, "--jobs", "6", "--conn-inflight", "4", "--timeout", "60",
            "--retries", "0") as srv:
        with srv.connect() as other:
            leaver = srv.connect()
            # Answers it never reads make its close a reset.
            leaver.send({"id": "a", "input": "unread a"},
                        {"id": "b", "input": "unread b"})
            h.wait_until(lambda: other.stats()["ok"] == 2, 20 * h.SLACK,
                         "two answers waiting unread")
            leaver.send(*[{"id": i, "input": f"leaver {i} @fault:hang"}
                          for i in range(6)])
            h.wait_until(lambda: api.open_calls() == 4, 20 * h.SLACK,
                         "the leaver's four hung calls")
            h.wait_until(lambda: len(h.working(srv.pid)) == 4,
                         10 * h.SLACK, "four workers")
            workers = h.working(srv.pid)
            st = other.stats()
            h.check(st["in_flight"] == 4 and st["queued"] == 2 and
                    st["clients"] == 2, "four running, two waiting", st)
            # The other client is served meanwhile.
            other.send({"id": 0, "input": "while they hang"})
            h.expect_ok(other.read_answers(1, 20 * h.SLACK)[0],
                        ["while they hang"])

            start = time.monotonic()
            leaver.close()
            h.wait_until(lambda: sh.no_workers_left(srv), 2 * h.SLACK,
                         "the leaver's workers to be killed")
            h.wait_until(lambda: api.open_calls() == 0, 2 * h.SLACK,
                         "the leaver's calls to close")
            h.log(f"leaver's work gone in {time.monotonic() - start:.2f} s")
            h.check(not any(h.processes_in_group(w) for w in workers),
                    "nothing left in the workers' groups")
            st = other.stats()
            h.check(st["in_flight"] == 0 and st["queued"] == 0 and
                    st["clients"] == 1, "the leaver is forgotten", st)
            h.check(st["workers_killed"] == 4, "four workers killed", st)
            h.check(api.stats()["requests"] == 2 + 4 + 1,
                    "the queued ones never reached the API", api.stats())
            other.send({"id": 0, "input": "after they left"})
            h.expect_ok(other.read_answers(1, 20 * h.SLACK)[0],
                        ["after they left"])

        # Half-closed: every answer comes, then EOF.
        with srv.connect() as half:
            texts = ["half a @fault:slow:800", "half b",
                     "half c @fault:slow:400"]
            half.send(*[{"id": i, "input": t} for i, t in enumerate(texts)])
            half.send(b'{"id": "last", "input": "no newline"}')
            half.shutdown_write()
            got = sh.by_id(half.read_until_eof(30 * h.SLACK))
            h.check(sorted(got, key=str) == [0, 1, 2, "last"],
                    "one answer each", got)
            for i, t in enumerate(texts):
                h.expect_ok(got[i], [t])
            h.expect_ok(got["last"], ["no newline"])
            h.check(not half.reset, "closed cleanly, not reset")
        h.wait_until(lambda: sh.no_workers_left(srv), 10 * h.SLACK,
                     "no workers at the end")
        sh.stop(srv)


h.main(scenario)
