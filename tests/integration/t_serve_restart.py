"""Proves: the restart loop works: a SIGKILLed serve takes its hung workers with it (nothing left in their groups or its own), and a new serve on the same path replaces the stale socket (and takes over the stale pidfile) and serves new clients, time after time."""
import os
import shutil
import tempfile

import harness as h
import serve_harness as sh

ROUNDS = 3


def scenario():
    tmp = tempfile.mkdtemp(prefix="ew-restart-")
    path = os.path.join(tmp, "s")
    pidfile = os.path.join(tmp, "pid")
    try:
        with h.FakeAPI() as api:
            for rnd in range(ROUNDS):
                if rnd > 0:
                    h.check(os.path.exists(path) and
                            not sh.connectable(path), "a stale socket left")
                with sh.Server(api, "--socket", path, "--pidfile", pidfile,
                               "--timeout", "60", "--jobs", "2",
                               socket=False, dir=tmp) as srv:
                    srv.wait_listening(20 * h.SLACK, path)
                    if rnd > 0:
                        h.check("replacing stale socket" in srv.stderr(),
                                "says it replaced the socket", srv.stderr())
                    h.check(open(pidfile).read().strip() == str(srv.pid),
                            "pidfile is the new instance's")
                    with srv.connect(path) as c:
                        c.send({"id": 1, "input": f"round {rnd}"})
                        h.expect_ok(c.read_answers(1, 20 * h.SLACK)[0],
                                    [f"round {rnd}"])
                        c.send({"id": 2, "input": f"hang {rnd} @fault:hang"})
                        h.wait_until(lambda: api.open_calls() == 1,
                                     10 * h.SLACK, "the hung call")
                        # The call is open at the fake a moment before ps
                        # shows its worker titled (and the first call's
                        # worker may still be exiting): wait for one.
                        h.wait_until(lambda: len(h.working(srv.pid)) == 1,
                                     10 * h.SLACK, "one worker")
                        workers = h.working(srv.pid)
                        h.check(len(workers) == 1, "one worker", workers)
                        srv.kill()
                        h.wait_until(lambda: not any(
                            h.processes_in_group(g) for g in
                            workers + [srv.pid]), 10 * h.SLACK,
                            "the worker to die with serve")
                        h.wait_until(lambda: api.open_calls() == 0,
                                     10 * h.SLACK, "the hung call to close")
                        h.check(c.read_until_eof(5 * h.SLACK) == [],
                                "the client sees the end")
            with sh.Server(api, "--socket", path, "--pidfile", pidfile,
                           socket=False, dir=tmp) as srv:
                srv.wait_listening(20 * h.SLACK, path)
                sh.stop(srv, path=path)
                h.check(not os.path.exists(pidfile), "pidfile removed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
