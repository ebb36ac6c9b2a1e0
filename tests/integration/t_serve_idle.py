"""Proves: idle clients cannot hold every slot: with --max-clients 4 held by idle connections, a new client is taken (the longest idle one is closed to make room) and served; connections idle past --idle-timeout with nothing in flight are closed, while one waiting for a hung call is not; stats counts the closes."""
import time

import harness as h
import serve_harness as sh


def scenario():
    with h.FakeAPI() as api, sh.Server(
            api, "--max-clients", "4", "--idle-timeout", "3", "--jobs", "2",
            "--timeout", "20", "--retries", "0") as srv:
        idle = [srv.connect() for _ in range(4)]
        time.sleep(1.5)
        with srv.connect() as new:
            got = new.request({"id": 1, "input": "let me in"},
                              timeout=10 * h.SLACK)
            h.expect_ok(got, ["let me in"])
            st = new.stats()
            h.check(st["clients_closed_idle"] >= 1, "a close counted", st)
        closed = [c for c in idle if not c._fill(time.monotonic() + 0.5)]
        h.check(len(closed) >= 1, "the longest idle one was closed")

        # The idle timeout: idle ones go, a busy one stays.
        busy = srv.connect()
        busy.send({"id": "h", "input": "wait @fault:hang"})
        h.wait_until(lambda: api.open_calls() == 1, 10 * h.SLACK, "the call")
        t0 = time.monotonic()
        for c in idle:
            c.read_until_eof(10 * h.SLACK)
        h.check(time.monotonic() - t0 < 8 * h.SLACK, "closed in time")
        time.sleep(3.5)
        busy.send({"op": "cancel", "id": "h"})
        got = busy.read_answers(1, 10 * h.SLACK)[0]
        h.expect_error(got, "cancelled")
        busy.close()
        for c in idle:
            c.close()


h.main(scenario)
