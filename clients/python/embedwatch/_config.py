"""What both clients share besides the wire format: their options, the
command line and environment of the embedwatch child, the restart
intensity limit, and the child's stderr turned into log records.
"""
import collections
import logging
import os
import re
import shutil
import signal
import time

from ._protocol import DEFAULT_DEADLINE, DEFAULT_MAX_LINE, check_seconds
from .errors import TransportError

log = logging.getLogger("embedwatch")
child_log = logging.getLogger("embedwatch.child")

# Where `make install` (PREFIX=/usr/local) and the Debian package (/usr)
# put the binary: looked at after PATH.
INSTALLED = ("/usr/local/bin/embedwatch", "/usr/bin/embedwatch")

# The child's stderr goes to the "embedwatch.child" logger unless the
# caller passes another destination; this value means "the logger".
STDERR_TO_LOG = None


class Options:
    """A client's configuration, checked once at construction."""

    def __init__(self, *, binary=None, args=(), socket=None, api_key=None,
                 base_url=None, model=None, timeout=None, deadline=None,
                 max_retries=None, jobs=None, env=None, stderr=STDERR_TO_LOG,
                 max_restarts=5, restart_window=60.0, answer_margin=5.0,
                 close_grace=5.0, max_line=None):
        if isinstance(args, (str, bytes)):
            raise TypeError("args must be a list of command-line options")
        self.binary = binary
        self.args = [str(a) for a in args]
        self.socket = os.fspath(socket) if socket is not None else None
        self.api_key = api_key
        self.base_url = base_url
        self.model = model
        self.timeout = check_seconds("timeout", timeout)
        self.deadline = (check_seconds("deadline", deadline) or
                         DEFAULT_DEADLINE)
        self.max_retries = _check_count("max_retries", max_retries, 0)
        self.jobs = _check_count("jobs", jobs, 1)
        self.env = dict(env or {})
        self.stderr = stderr
        self.max_restarts = _check_count("max_restarts", max_restarts, 0)
        self.restart_window = float(restart_window)
        if not self.restart_window > 0:
            raise ValueError("restart_window must be positive")
        self.answer_margin = float(answer_margin)
        if not self.answer_margin >= 0:
            raise ValueError("answer_margin must not be negative")
        self.close_grace = float(close_grace)
        if not self.close_grace >= 0:
            raise ValueError("close_grace must not be negative")
        self.max_line = (DEFAULT_MAX_LINE if max_line is None else
                         _check_count("max_line", max_line, 1))
        if self.socket is not None:
            child_only = [name for name, value in (
                ("binary", binary), ("args", self.args), ("env", self.env),
                ("api_key", api_key), ("base_url", base_url),
                ("max_retries", max_retries), ("jobs", jobs),
                ("max_line", max_line)) if value not in (None, [], {})]
            if child_only:
                raise ValueError(
                    "socket= connects to a running 'embedwatch serve', "
                    "which has its own configuration; "
                    f"{', '.join(child_only)} only apply to a child the "
                    "client starts")

    def resolve_binary(self):
        """The embedwatch executable to start: binary=, else
        $EMBEDWATCH_BIN, else `embedwatch` on PATH, else where `make
        install` and the Debian package put it. Raises TransportError
        naming every place it looked."""
        path = self.binary or os.environ.get("EMBEDWATCH_BIN")
        if path:
            return os.fspath(path)
        path = shutil.which("embedwatch")
        if path is not None:
            return path
        for path in INSTALLED:
            if os.access(path, os.X_OK):
                return path
        raise TransportError(
            "cannot find the embedwatch binary: EMBEDWATCH_BIN is not set, "
            f"'embedwatch' is not on PATH ({os.environ.get('PATH', '')}), "
            f"and neither {' nor '.join(INSTALLED)} exists; install it "
            "(make install, or the Debian package), set EMBEDWATCH_BIN or "
            "pass binary=")

    def argv(self):
        """The child's command line. The API key never appears in it."""
        argv = [self.resolve_binary(), "pipe"]
        for opt, value in (("--base-url", self.base_url),
                           ("--model", self.model),
                           ("--timeout", self.timeout),
                           ("--retries", self.max_retries),
                           ("--jobs", self.jobs)):
            if value is not None:
                argv += [opt, _format_arg(value)]
        if self.max_line != DEFAULT_MAX_LINE:
            argv += ["--max-line", str(self.max_line)]
        return argv + self.args

    def child_env(self):
        env = dict(os.environ)
        env.update(self.env)
        if self.api_key is not None:
            env["EMBEDWATCH_API_KEY"] = self.api_key
        return env

    def request_deadline(self, deadline):
        """The deadline a request is sent with (seconds)."""
        return check_seconds("deadline", deadline) or self.deadline

    def wait_seconds(self, request_deadline):
        """How long a caller waits for an answer before it gives up,
        cancels the request and raises EmbedwatchTimeout: embedwatch
        answers at the deadline at the latest; the margin covers killing,
        reaping and scheduling."""
        return request_deadline + self.answer_margin


def _check_count(name, value, minimum):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be int")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def _format_arg(value):
    if isinstance(value, float):
        return f"{value:g}" if value == float(f"{value:g}") else repr(value)
    return str(value)


class RestartIntensity:
    """At most max_restarts restarts within window seconds, like an OTP
    supervisor's intensity and period. Not locked: callers serialize."""

    def __init__(self, max_restarts, window):
        self.max_restarts = max_restarts
        self.window = window
        self.times = collections.deque()

    def allow(self):
        """Record a restart now; False if it is one too many."""
        now = time.monotonic()
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        if len(self.times) >= self.max_restarts:
            return False
        self.times.append(now)
        return True

    def refusal(self, last_failure):
        """The message for giving up, naming the last failure if known."""
        return (f"embedwatch failed more than {self.max_restarts} times "
                f"within {self.window:g} s; not trying again" +
                (f" (last: {last_failure})" if last_failure else ""))


_LEVEL = re.compile(rb"^\S+ \S+\[\d+\] (error|warn|info|debug): ")
_LEVELS = {b"error": logging.ERROR, b"warn": logging.WARNING,
           b"info": logging.INFO, b"debug": logging.DEBUG}


class ChildStderr:
    """Lines of the child's stderr: logged to "embedwatch.child" at the
    level embedwatch gave them, the last few kept for error messages."""

    def __init__(self, pid, keep=20):
        self.pid = pid
        self.tail = collections.deque(maxlen=keep)

    def line(self, raw):
        raw = raw.rstrip(b"\r\n")
        if not raw:
            return
        m = _LEVEL.match(raw)
        level = _LEVELS[m.group(1)] if m else logging.WARNING
        text = raw.decode("utf-8", "replace")
        self.tail.append(text)
        child_log.log(level, "%s", text)

    def last_error(self):
        """The last error-like line, or the last line, or ''."""
        for text in reversed(self.tail):
            if " error: " in text:
                return text
        return self.tail[-1] if self.tail else ""


def describe_exit(returncode):
    """'exited with status 78' or 'was killed by SIGKILL'."""
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"
