"""Helpers for the `embedwatch serve` scenarios (tests/integration/t_serve_*.py).

Server runs `embedwatch serve` on a socket in its own mkdtemp directory
(removed on exit), in its own session, with the fake API's URL and none of
the service manager's variables (NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*) that
the test runner itself might have been given. Client is one connection,
talked to line by line like harness.Pipe. Both clean up after themselves
as context managers; Server kills only the process it started.
"""
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness as h

SERVICE_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def serve_env(api, env=None):
    """The environment a server gets: ours, minus the API and service
    manager variables, plus the fake's URL and env."""
    full = {k: v for k, v in h.clean_env().items()
            if k not in SERVICE_VARS}
    full["EMBEDWATCH_BASE_URL"] = api.base_url
    full.update(env or {})
    return full


def connectable(path):
    """Does something accept connections on the socket at path?"""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Server:
    """A running `embedwatch serve`. By default it listens on
    <dir>/sock (socket=False: pass your own --socket, or none) and
    start() waits until that socket accepts connections; the probe is a
    connection of its own, which the server counts until it notices the
    close. dir defaults to a fresh mkdtemp directory, removed at close."""

    def __init__(self, api, *args, env=None, dir=None, socket=True,
                 wait=True, popen_extra=None, argv=None):
        self.own_dir = dir is None
        self.dir = dir or tempfile.mkdtemp(prefix="ew-serve-")
        self.path = os.path.join(self.dir, "sock")
        self.args = list(args)
        if socket:
            self.args = ["--socket", self.path] + self.args
        self.argv = argv or [h.EMBEDWATCH, "serve"] + self.args
        self.env = serve_env(api, env)
        self.popen_extra = popen_extra or {}
        self.wait_ready = wait and socket
        self.proc = None
        self.stderr_file = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()        # __exit__ will not run
            raise

    def __exit__(self, *exc):
        self.close()

    def start(self):
        h.check(self.proc is None, "one Server starts one process")
        self.stderr_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self.stderr_file,
            stderr=self.stderr_file, env=self.env, start_new_session=True,
            **self.popen_extra)
        self.pid = self.proc.pid
        if self.wait_ready:
            self.wait_listening(20 * h.SLACK)
        return self

    def wait_listening(self, timeout, path=None):
        path = path or self.path
        deadline = time.monotonic() + timeout
        while not (os.path.exists(path) and connectable(path)):
            h.check(self.proc.poll() is None,
                    f"serve exited {self.proc.returncode} at start",
                    self.stderr())
            h.check(time.monotonic() < deadline,
                    f"serve not listening on {path} within {timeout} s",
                    self.stderr())
            time.sleep(0.02)

    def connect(self, path=None):
        return Client(path or self.path)

    def signal(self, signo):
        h.check(self.proc.poll() is None, "serve died before signal "
                f"{signo}", self.proc.returncode, self.stderr())
        self.proc.send_signal(signo)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            h.check(False, f"serve did not exit within {timeout} s",
                    self.stderr())

    def stderr(self):
        if self.stderr_file is None:
            return ""
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        if self.stderr_file is not None:
            self.stderr_file.close()
            self.stderr_file = None
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def stats(self, timeout=None):
        """The stats object, asked over a connection of its own."""
        with self.connect() as c:
            return c.stats(timeout)

    def rss_kb(self):
        return rss_kb(self.pid)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Client:
    """One connection to a server: send request dicts, read answer dicts
    (with the arrival time since connect in '_t')."""

    def __init__(self, path, sock=None):
        self.sock = sock or socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if sock is None:
            self.sock.settimeout(10 * h.SLACK)
            self.sock.connect(path)
        self.sock.settimeout(60 * h.SLACK)
        self.pending = b""
        self.backlog = []       # answers read while looking for another
        self.eof = False
        self.reset = False      # the server closed with ECONNRESET
        self.started = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, *requests):
        self.sock.sendall(encode(requests))

    def try_send(self, data):
        """Write what the socket takes now, without blocking; returns the
        number of bytes taken."""
        self.sock.settimeout(0.0)
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0
        finally:
            self.sock.settimeout(60 * h.SLACK)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self, deadline):
        """Read once (waiting until deadline); False at EOF."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            if not sel.select(left):
                return True
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            self.reset = True
            chunk = b""
        if chunk == b"":
            self.eof = True
            return False
        self.pending += chunk
        return True

    def _next_line(self):
        if b"\n" not in self.pending:
            return None
        line, self.pending = self.pending.split(b"\n", 1)
        obj = json.loads(line)
        obj["_t"] = time.monotonic() - self.started
        return obj

    def read_answers(self, n, timeout):
        """The next n answers, within timeout seconds."""
        out = []
        while self.backlog and len(out) < n:
            out.append(self.backlog.pop(0))
        deadline = time.monotonic() + timeout
        while len(out) < n:
            obj = self._next_line()
            if obj is not None:
                out.append(obj)
                continue
            h.check(time.monotonic() < deadline, f"only {len(out)} of {n} "
                    f"answers within {timeout} s", out[-3:])
            h.check(self._fill(deadline), f"connection closed after "
                    f"{len(out)} of {n} answers", out[-3:], self.pending)
        return out

    def read_until_eof(self, timeout):
        """Every answer left until the server closes (within timeout)."""
        out = list(self.backlog)
        self.backlog = []
        deadline = time.monotonic() + timeout
        while True:
            obj = self._next_line()
            if obj is not None:
                out.append(obj)
                continue
            if self.eof:
                break
            h.check(time.monotonic() < deadline, "connection not closed "
                    f"within {timeout} s", out[-3:])
            self._fill(deadline)
        h.check(self.pending == b"", "a partial line before EOF",
                self.pending)
        return out

    def quiet_for(self, seconds):
        """Check that no answer arrives for seconds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._fill(deadline):
            pass
        obj = self._next_line()
        h.check(obj is None, "an answer arrived when none was due", obj)

    def request(self, req, timeout=None):
        """Send req and return the answer with its id; other answers that
        come first are kept for read_answers."""
        timeout = timeout or 20 * h.SLACK
        self.send(req)
        deadline = time.monotonic() + timeout
        while True:
            obj = self._next_line()
            if obj is not None:
                if obj.get("id") == req.get("id"):
                    return obj
                self.backlog.append(obj)
                continue
            h.check(time.monotonic() < deadline, f"no answer to {req!r} "
                    f"within {timeout} s")
            h.check(self._fill(deadline), f"connection closed before the "
                    f"answer to {req!r}")

    def stats(self, timeout=None):
        ans = self.request({"op": "stats", "id": "_stats"}, timeout)
        h.check(ans.get("ok") is True and "stats" in ans, "a stats answer",
                ans)
        return ans["stats"]


def encode(requests):
    return b"".join(r if isinstance(r, bytes) else
                    (json.dumps(r) + "\n").encode() for r in requests)


def push(client, data, sent, seconds, pause=0.05):
    """Offer data[sent:] to a flooding client for a while, as fast as its
    socket takes it; returns the new offset."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and sent < len(data):
        n = client.try_send(data[sent:sent + (1 << 16)])
        sent += n
        if n == 0:
            time.sleep(pause)
    return sent


def by_id(answers):
    """Answers keyed by id, checking there is one per id."""
    out = {}
    for a in answers:
        h.check(a.get("id") not in out, f"two answers for id {a.get('id')!r}",
                a)
        out[a.get("id")] = a
    return out


def no_workers_left(server):
    return h.working(server.pid) == []


def stop(server, timeout=None, path=None):
    """SIGTERM the server and check it exits 0 and removes its socket
    (server.path unless path is given)."""
    path = path or server.path
    server.signal(signal.SIGTERM)
    rc = server.wait(timeout or 30 * h.SLACK)
    h.check(rc == 0, f"serve exited {rc} after SIGTERM", server.stderr())
    h.check(not os.path.exists(path), "socket removed at exit", path)
