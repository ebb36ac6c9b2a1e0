"""Proves: serve writes its log to --log-file and, on SIGHUP, reopens it by name, so that after a rotation (rename) new lines go to a fresh file and none to the old one."""
import os
import shutil
import signal
import tempfile

import harness as h
import serve_harness as sh


def request(srv, text):
    with srv.connect() as c:
        c.send({"id": 1, "input": text})
        h.expect_ok(c.read_answers(1, 20 * h.SLACK)[0], [text])


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def scenario():
    tmp = tempfile.mkdtemp(prefix="ew-sighup-")
    log = os.path.join(tmp, "embedwatch.log")
    try:
        with h.FakeAPI() as api, sh.Server(
                api, "--log-file", log, "--log-level", "debug", "--jobs",
                "2", dir=tmp) as srv:
            request(srv, "before rotation")
            h.wait_until(lambda: "request 1 attempt 1" in read(log),
                         10 * h.SLACK, "debug lines in the log file")
            h.check("serving on" in read(log), "startup logged there",
                    read(log))
            os.rename(log, log + ".1")
            srv.signal(signal.SIGHUP)
            h.wait_until(lambda: os.path.exists(log), 10 * h.SLACK,
                         "the log file to be re-created")
            h.wait_until(lambda: "log reopened" in read(log), 10 * h.SLACK,
                         "the reopen to be logged in the new file")
            old_size = os.path.getsize(log + ".1")
            request(srv, "after rotation")
            h.wait_until(lambda: "request 1 attempt 1" in read(log),
                         10 * h.SLACK, "the new request logged in the new "
                         "file")
            h.check(os.path.getsize(log + ".1") == old_size,
                    "nothing more in the rotated file",
                    read(log + ".1")[-500:])
            h.check("after rotation" not in read(log + ".1"),
                    "rotated file untouched")

            # Rotate again: the same descriptor dance works twice.
            os.rename(log, log + ".2")
            srv.signal(signal.SIGHUP)
            h.wait_until(lambda: os.path.exists(log) and
                         "log reopened" in read(log), 10 * h.SLACK,
                         "a second re-creation")
            size2 = os.path.getsize(log + ".2")
            sh.stop(srv)
            h.check("stopped" in read(log), "shutdown logged in the newest",
                    read(log))
            h.check(os.path.getsize(log + ".2") == size2,
                    "second rotated file untouched")
            # (main logs its one debug line before serve opens the file)
            for line in ("serving on", "request 1", "reopened", "stopped"):
                h.check(line not in srv.stderr(), f"{line!r} not on stderr",
                        srv.stderr())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
