"""Proves: SIGTERM makes serve stop accepting, answer queued requests shutting_down at once, let in-flight calls finish within --drain, kill the rest (shutting_down), close its clients, remove its socket and exit 0."""
import os
import signal
import socket
import time

import harness as h
import serve_harness as sh


def scenario():
    with h.FakeAPI() as api, sh.Server(
            api, "--jobs", "2", "--timeout", "30", "--drain", "3") as srv:
        with srv.connect() as c, srv.connect() as idle:
            c.send({"id": "slow", "input": "s @fault:slow:1500"},
                   {"id": "hung", "input": "h @fault:hang"},
                   *[{"id": f"q{i}", "input": f"queued {i}"}
                     for i in range(5)])
            h.wait_until(lambda: api.open_calls() >= 2, 10 * h.SLACK,
                         "two calls in flight")
            workers = h.working(srv.pid)
            h.check(len(workers) == 2, "two workers", workers)
            start = time.monotonic()
            srv.signal(signal.SIGTERM)
            first = c.read_answers(5, 5 * h.SLACK)
            h.check(time.monotonic() - start < 1.5 * h.SLACK,
                    "queued ones answered at once", first)
            # Draining: the path is still there but nobody listens.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(srv.path)
                accepted = True
            except OSError:
                accepted = False
            finally:
                s.close()
            h.check(not accepted, "no new clients while draining")
            answers = first + c.read_answers(2, 10 * h.SLACK)
            rc = srv.wait(10 * h.SLACK)
            elapsed = time.monotonic() - start
            h.check(rc == 0, f"exit status {rc}", srv.stderr())
            got = sh.by_id(answers)
            h.expect_ok(got["slow"], ["s @fault:slow:1500"])
            h.expect_error(got["hung"], "shutting_down", attempts=1)
            h.check("killed by shutdown" in got["hung"]["error"]["message"],
                    "says why", got["hung"])
            for i in range(5):
                h.expect_error(got[f"q{i}"], "shutting_down", attempts=0)
                h.check(got[f"q{i}"]["_t"] < got["slow"]["_t"] <
                        got["hung"]["_t"], "queued, then slow, then hung")
            h.check(2.0 < elapsed < 3 + 3 * h.SLACK,
                    f"drain took {elapsed:.1f} s")
            h.check(c.read_until_eof(5 * h.SLACK) == [], "then EOF")
            h.check(idle.read_until_eof(5 * h.SLACK) == [],
                    "an idle client is closed too")
        h.check(not os.path.exists(srv.path), "socket removed")
        h.check(not any(h.processes_in_group(w) for w in workers),
                "no workers left")
        h.wait_until(lambda: api.open_calls() == 0, 5 * h.SLACK,
                     "no calls left")


h.main(scenario)
