"""Proves: a serve started on the same path while the previous one drains after SIGTERM is either refused or keeps its socket: the old one's exit never removes a socket it did not make."""
import os
import shutil
import signal
import tempfile

import harness as h
import serve_harness as sh


def scenario():
    tmp = tempfile.mkdtemp(prefix="ew-handover-")
    path = os.path.join(tmp, "s")
    try:
        with h.FakeAPI() as api:
            with sh.Server(api, "--socket", path, "--drain", "3",
                           "--timeout", "60", socket=False,
                           dir=tmp) as old:
                old.wait_listening(20 * h.SLACK, path)
                with old.connect(path) as c:
                    c.send({"id": 1, "input": "keeps it draining @fault:hang"})
                    h.wait_until(lambda: api.open_calls() == 1, 10 * h.SLACK,
                                 "the hung call")
                    old.signal(signal.SIGTERM)
                    # Draining: the path is there, nobody listens on it.
                    h.wait_until(lambda: not sh.connectable(path),
                                 10 * h.SLACK, "the old one to stop listening")
                    h.check(old.proc.poll() is None, "old one still draining")
                    with sh.Server(api, "--socket", path, socket=False,
                                   dir=tmp, wait=False) as new:
                        h.wait_until(lambda: new.proc.poll() is not None or
                                     sh.connectable(path), 20 * h.SLACK,
                                     "the new one to listen or give up")
                        if new.proc.poll() is not None:
                            # Refusing while the old one drains is fine.
                            h.check(new.proc.returncode == 69,
                                    f"new one exited {new.proc.returncode}",
                                    new.stderr())
                            return
                        h.check(old.proc.poll() is None,
                                "the new one started during the drain")
                        ino = os.lstat(path).st_ino
                        rc = old.wait(20 * h.SLACK)
                        h.check(rc == 0, f"old one exited {rc}", old.stderr())
                        h.check(os.path.exists(path),
                                "the old serve's exit removed the new serve's "
                                "socket: the new one runs but nobody can "
                                "reach it", old.stderr(), new.stderr())
                        h.check(os.lstat(path).st_ino == ino,
                                "the new one's socket, unchanged")
                        with new.connect(path) as c2:
                            c2.send({"id": 1, "input": "new one"})
                            h.expect_ok(c2.read_answers(1, 20 * h.SLACK)[0],
                                        ["new one"])
                        sh.stop(new, path=path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
