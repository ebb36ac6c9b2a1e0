"""Proves: under systemd socket activation (LISTEN_PID = its pid, LISTEN_FDS=1, the listening socket on fd 3) serve needs no --socket, serves clients on the inherited socket, keeps it from its workers, and leaves it in place at exit; LISTEN_PID naming another process is ignored."""
import os
import shutil
import signal
import socket
import tempfile

import harness as h
import serve_harness as sh

# $$ is the pid that exec keeps: the server's own.
ACTIVATE = 'LISTEN_PID=${EW_LISTEN_PID:-$$} LISTEN_FDS=1 exec "$0" "$@"'


def activated(api, listener, *args, listen_pid=None):
    fd = listener.fileno()

    def fd3():
        if fd == 3:
            os.set_inheritable(3, True)
        else:
            os.dup2(fd, 3)      # inheritable, unlike everything else

    env = {} if listen_pid is None else {"EW_LISTEN_PID": str(listen_pid)}
    return sh.Server(api, socket=False, env=env,
                     argv=["/bin/sh", "-c", ACTIVATE, h.EMBEDWATCH, "serve",
                           *args],
                     popen_extra={"preexec_fn": fd3, "close_fds": False})


def socket_inodes(pid):
    found = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(int(link[8:-1]))
    return found


def scenario():
    tmp = tempfile.mkdtemp(prefix="ew-act-")
    path = os.path.join(tmp, "activated.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(16)
        inode = os.fstat(listener.fileno()).st_ino
        with h.FakeAPI() as api:
            with activated(api, listener, "--jobs", "2", "--timeout",
                           "60") as srv:
                with srv.connect(path) as c:
                    c.send({"id": 1, "input": "activated"})
                    h.expect_ok(c.read_answers(1, 20 * h.SLACK)[0],
                                ["activated"])
                    h.check(inode in socket_inodes(srv.pid),
                            "serve holds the activated socket")
                    # The first worker may outlive its answer briefly.
                    h.wait_until(lambda: h.working(srv.pid) == [],
                                 10 * h.SLACK, "the first worker's reap")
                    c.send({"id": 2, "input": "hang @fault:hang"})
                    h.wait_until(lambda: len(h.working(srv.pid)) == 1,
                                 10 * h.SLACK, "a worker")
                    worker = h.working(srv.pid)[0]
                    h.wait_until(lambda: api.open_calls() == 1,
                                 10 * h.SLACK, "its call")
                    h.check(inode not in socket_inodes(worker),
                            "the worker does not hold the listening socket")
                    c.send({"op": "cancel", "id": 2})
                    h.expect_error(c.read_answers(1, 10 * h.SLACK)[0],
                                   "cancelled")
                    st = c.stats()
                    h.check(st["clients"] == 1, "one client", st)
                h.check("socket from systemd" in srv.stderr(),
                        "says where it serves", srv.stderr())
                srv.signal(signal.SIGTERM)
                rc = srv.wait(20 * h.SLACK)
                h.check(rc == 0, f"exit {rc}", srv.stderr())
                h.check(os.path.exists(path), "the manager's socket stays")

            # Another process's LISTEN_PID: not ours, so no socket at all.
            with activated(api, listener, "--jobs", "2",
                           listen_pid=1) as srv:
                rc = srv.wait(20 * h.SLACK)
                h.check(rc == 64, f"exit {rc}, wanted 64", srv.stderr())
                h.check("serve needs --socket" in srv.stderr(),
                        "says what is missing", srv.stderr())
    finally:
        listener.close()
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
