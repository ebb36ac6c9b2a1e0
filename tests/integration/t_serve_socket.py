"""Proves: serve makes its socket with the asked mode (0600 by default, whatever the umask), replaces a stale socket file, refuses a live socket (69) or a non-socket (78) without disturbing it, refuses a second instance on its --pidfile (69, naming the pid), and removes socket and pidfile at SIGTERM."""
import os
import shutil
import socket
import stat
import tempfile

import harness as h
import serve_harness as sh


def served(srv, path=None, text="hello"):
    with srv.connect(path) as c:
        c.send({"id": 1, "input": text})
        h.expect_ok(c.read_answers(1, 20 * h.SLACK)[0], [text])


def mode_of(path):
    st = os.lstat(path)
    h.check(stat.S_ISSOCK(st.st_mode), "a socket", path, oct(st.st_mode))
    return stat.S_IMODE(st.st_mode)


def refused(api, want_rc, want_msg, *args, dir):
    other = sh.Server(api, *args, socket=False, dir=dir)
    with other:
        rc = other.wait(20 * h.SLACK)
        err = other.stderr()
    h.check(rc == want_rc, f"exit {rc}, wanted {want_rc}", err)
    h.check(want_msg in err, f"says {want_msg!r}", err)
    return err


def scenario():
    tmp = tempfile.mkdtemp(prefix="ew-sock-")
    try:
        with h.FakeAPI() as api:
            path = os.path.join(tmp, "s")
            # Modes: the default, and one asked for, under a strict umask.
            with sh.Server(api, "--socket", path, socket=False, dir=tmp,
                           popen_extra={"umask": 0o022}) as srv:
                srv.wait_listening(20 * h.SLACK, path)
                h.check(mode_of(path) == 0o600, "mode 0600 by default",
                        oct(mode_of(path)))
                served(srv, path)
                sh.stop(srv, path=path)
            with sh.Server(api, "--socket", path, "--socket-mode", "0660",
                           socket=False, dir=tmp,
                           popen_extra={"umask": 0o077}) as srv:
                srv.wait_listening(20 * h.SLACK, path)
                h.check(mode_of(path) == 0o660, "mode 0660 as asked",
                        oct(mode_of(path)))
                sh.stop(srv, path=path)

            # A stale socket file: bound, closed, never unlinked.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.close()
            h.check(os.path.exists(path) and not sh.connectable(path),
                    "a stale socket")
            with sh.Server(api, "--socket", path, "--pidfile",
                           os.path.join(tmp, "pid"), socket=False,
                           dir=tmp) as srv:
                srv.wait_listening(20 * h.SLACK, path)
                served(srv, path, "after a stale one")
                h.check("replacing stale socket" in srv.stderr(),
                        "says it replaced it", srv.stderr())
                pid_text = open(os.path.join(tmp, "pid")).read().strip()
                h.check(pid_text == str(srv.pid), "pidfile holds our pid",
                        pid_text, srv.pid)

                # A live socket is never stolen.
                inode = os.lstat(path).st_ino
                refused(api, 69, "another server is answering", "--socket",
                        path, dir=tmp)
                h.check(os.lstat(path).st_ino == inode, "socket untouched")
                # Nor is a running instance's pidfile, on another socket.
                other_path = os.path.join(tmp, "s2")
                err = refused(api, 69, f"already running as pid {srv.pid}",
                              "--socket", other_path, "--pidfile",
                              os.path.join(tmp, "pid"), dir=tmp)
                h.check(not os.path.exists(other_path),
                        "the refused instance made no socket", err)
                h.check(open(os.path.join(tmp, "pid")).read().strip() ==
                        str(srv.pid), "pidfile untouched")
                served(srv, path, "still serving")
                h.check(srv.proc.poll() is None, "first still running")
                sh.stop(srv, path=path)
                h.check(not os.path.exists(os.path.join(tmp, "pid")),
                        "pidfile removed at exit")

            # Not a socket: a regular file stays as it was.
            with open(path, "w") as f:
                f.write("precious\n")
            refused(api, 78, "is not a socket", "--socket", path, dir=tmp)
            h.check(open(path).read() == "precious\n", "file untouched")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
