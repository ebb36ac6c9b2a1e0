"""Proves: under a service manager's NOTIFY_SOCKET (a path or an abstract @name) serve says READY=1 with MAINPID once its socket accepts connections, reports STATUS=, pings WATCHDOG=1 every WATCHDOG_USEC/2 (only when WATCHDOG_PID is absent or its own), and says STOPPING=1 on SIGTERM."""
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time

import harness as h
import serve_harness as sh


class Manager:
    """The service manager's end: a datagram socket that logs every
    message with its arrival time."""

    def __init__(self, abstract):
        self.dir = tempfile.mkdtemp(prefix="ew-notify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"ew-notify-{os.getpid()}-{secrets.token_hex(6)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(self.dir, "notify")
            self.sock.bind(self.address)
        self.messages = []      # (monotonic time, {key: value})

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _recv(self, timeout):
        """Log the next message if one comes within timeout seconds."""
        self.sock.settimeout(max(0.001, timeout))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return
        msg = dict(line.split("=", 1) for line in data.decode().splitlines()
                   if "=" in line)
        self.messages.append((time.monotonic(), msg))

    def receive(self, until):
        """Collect messages until one satisfies until(message), and
        return it."""
        deadline = time.monotonic() + 20 * h.SLACK
        seen = 0
        while True:
            for _, msg in self.messages[seen:]:
                if until(msg):
                    return msg
            seen = len(self.messages)
            left = deadline - time.monotonic()
            h.check(left > 0, "the awaited notification never came",
                    self.messages[-5:])
            self._recv(left)

    def drain(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._recv(end - time.monotonic())

    def count(self, key, since=0.0):
        return sum(1 for t, m in self.messages if key in m and t >= since)


def one_run(api, abstract, watchdog_pid=None):
    mgr = Manager(abstract)
    env = {"NOTIFY_SOCKET": mgr.address, "WATCHDOG_USEC": "200000"}
    if watchdog_pid is not None:
        env["WATCHDOG_PID"] = str(watchdog_pid)
    srv = sh.Server(api, "--jobs", "2", env=env, wait=False)
    try:
        srv.start()
        ready = mgr.receive(lambda m: "READY" in m)
        # READY is the promise that clients may connect now.
        h.check(sh.connectable(srv.path), "connectable when READY arrives")
        h.check(ready["READY"] == "1", "READY=1", ready)
        h.check(ready.get("MAINPID") == str(srv.pid), "MAINPID is ours",
                ready, srv.pid)
        t_ready = mgr.messages[-1][0]
        status = mgr.receive(lambda m: "STATUS" in m)
        h.check("clients" in status["STATUS"], "a status line", status)
        with srv.connect() as c:
            c.send({"id": 1, "input": "notified"})
            h.expect_ok(c.read_answers(1, 20 * h.SLACK)[0], ["notified"])
        mgr.drain(max(0.0, t_ready + 2.0 - time.monotonic()))
        pings = mgr.count("WATCHDOG", since=t_ready - 0.5)
        h.log(f"{'abstract' if abstract else 'path'} socket, WATCHDOG_PID="
              f"{watchdog_pid}: {pings} pings in 2 s")
        if watchdog_pid is None:
            h.check(pings >= 3, f"only {pings} WATCHDOG=1 within 2 s",
                    mgr.messages[-5:])
            h.check(all(m["WATCHDOG"] == "1" for _, m in mgr.messages
                        if "WATCHDOG" in m), "WATCHDOG=1 only")
        else:
            h.check(pings == 0, "no pings when WATCHDOG_PID is another "
                    "process", mgr.messages[-5:])
        h.check(mgr.count("STOPPING") == 0, "not stopping yet")
        t_term = time.monotonic()
        srv.signal(signal.SIGTERM)
        mgr.receive(lambda m: "STOPPING" in m)
        h.check(mgr.messages[-1][0] >= t_term, "STOPPING after SIGTERM")
        rc = srv.wait(20 * h.SLACK)
        h.check(rc == 0, f"exit {rc}", srv.stderr())
        h.check("cannot notify" not in srv.stderr(), "every notification "
                "went through", srv.stderr())
    finally:
        srv.close()
        mgr.close()


def scenario():
    with h.FakeAPI() as api:
        one_run(api, abstract=False)
        one_run(api, abstract=True)
        # WATCHDOG_PID names another process: the pings are not ours.
        one_run(api, abstract=False, watchdog_pid=1)


h.main(scenario)
