"""Shared helpers for the integration scenarios (tests/integration/t_*.py).

Each scenario runs the real binaries from $EW_BIN against the real fake API
(tests/fake/fake_api.py) on an ephemeral port, asserts with check(), and
exits non-zero on failure (run through harness.main). Timing assertions
use generous margins: precision is the benchmark's business.
"""
import json
import os
import struct
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("EW_BIN", os.path.join(ROOT, "bin"))
EMBEDWATCH = os.path.join(BIN, "embedwatch")
WORKER = os.path.join(BIN, "embedwatch-worker")
SANITIZED = os.environ.get("EW_SUITE", "plain") != "plain"
# Sanitized binaries start and run slower: scale the margins, not the
# deadlines under test.
SLACK = 3.0 if SANITIZED else 1.0

sys.path.insert(0, os.path.join(ROOT, "tests", "fake"))
import fake_api  # noqa: E402


class CheckFailed(Exception):
    pass


def check(cond, msg, *context):
    if not cond:
        detail = "".join(f"\n  {c!r}"[:2000] for c in context)
        raise CheckFailed(msg + detail)


def log(*args):
    print(*args, flush=True)


def clean_env(drop=()):
    """Our environment without the variables that configure embedwatch
    or the SDKs (EMBEDWATCH_*, OPENAI_*) and those named in drop
    (prefixes), so that a scenario sets exactly what it means to."""
    prefixes = ("EMBEDWATCH_", "OPENAI_") + tuple(drop)
    return {k: v for k, v in os.environ.items()
            if not k.startswith(prefixes)}


class FakeAPI:
    """The fake embeddings API on an ephemeral port, for one scenario."""

    def __init__(self, *args, tls=False):
        self.dir = tempfile.mkdtemp(prefix="ew-fake-")
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "fake.log")
        self.args = list(args)
        self.tls = tls
        self.cacert = None

    def make_cert(self):
        """A self-signed certificate for 127.0.0.1: the fake's and our CA."""
        self.cacert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        out = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
             "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", key, "-out", self.cacert],
            capture_output=True, text=True)
        check(out.returncode == 0, "cannot make a certificate", out.stderr)
        self.args += ["--tls-cert", self.cacert, "--tls-key", key]

    def __enter__(self):
        if self.tls:
            self.make_cert()
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "fake",
                                          "fake_api.py"),
             "--port-file", self.port_file] + self.args,
            stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.port_file):
            check(self.proc.poll() is None, "fake API died at start",
                  open(self.log_path).read())
            check(time.monotonic() < deadline, "fake API did not start")
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())
        scheme = "https" if self.tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.port}/v1"
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def get(self, path):
        context = None
        if self.tls:
            import ssl
            context = ssl.create_default_context(cafile=self.cacert)
        scheme = "https" if self.tls else "http"
        with urllib.request.urlopen(
                f"{scheme}://127.0.0.1:{self.port}{path}", timeout=10,
                context=context) as r:
            return json.loads(r.read() or b"null")

    def calls(self):
        """Per embeddings request: its connection and when (see README)."""
        return self.get("/_calls")

    def stats(self):
        return self.get("/_stats")

    def texts(self):
        """{"requested": {text: n}, "answered": {text: n}} so far."""
        return self.get("/_texts")

    def open_calls(self):
        """Calls the fake is still answering (a hung one until its client
        goes away); connections opened ahead by warm workers are no calls."""
        return self.stats()["in_progress"]

    def open_connections(self):
        """Connections open at the fake, not counting this question."""
        return self.stats()["open_connections"] - 1

    def reset(self):
        self.get("/_reset")


class Pipe:
    """A running `embedwatch pipe`, talked to line by line."""

    def __init__(self, api, *args, env=None, base_url=None, preexec=None):
        full_env = clean_env()
        full_env["EMBEDWATCH_BASE_URL"] = base_url or api.base_url
        full_env.update(env or {})
        self.stderr_file = tempfile.TemporaryFile()
        self.argv = [EMBEDWATCH, "pipe"] + list(args)
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr_file, env=full_env, preexec_fn=preexec)
        self.pid = self.proc.pid
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.pending = b""
        self.started = time.monotonic()

    def send(self, *requests):
        data = b"".join(r if isinstance(r, bytes) else
                        (json.dumps(r) + "\n").encode() for r in requests)
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close(self):
        self.proc.stdin.close()

    def read_answers(self, n, timeout):
        """Read n answer lines within timeout seconds (each a dict, with
        the arrival time since start in '_t')."""
        out = []
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while len(out) < n:
            while b"\n" in self.pending and len(out) < n:
                line, self.pending = self.pending.split(b"\n", 1)
                obj = json.loads(line)
                obj["_t"] = time.monotonic() - self.started
                out.append(obj)
            if len(out) >= n:
                break
            left = deadline - time.monotonic()
            check(left > 0, f"only {len(out)} of {n} answers within "
                  f"{timeout} s", self.stderr())
            if sel.select(left):
                chunk = self.proc.stdout.read(1 << 20)
                if chunk == b"":
                    check(False, f"stdout closed after {len(out)} of {n} "
                          "answers", self.stderr())
                if chunk:
                    self.pending += chunk
        sel.close()
        return out

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            check(False, f"embedwatch did not exit within {timeout} s",
                  self.stderr())

    def rest_of_stdout(self):
        os.set_blocking(self.proc.stdout.fileno(), True)
        return self.pending + self.proc.stdout.read()

    def stderr(self):
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_pipe(api, requests, *args, timeout=60, env=None, preexec=None):
    """Send every request, close stdin, and return (answers by id, pipe)
    once embedwatch exited; checks exactly one answer per request and
    exit status 0."""
    p = Pipe(api, *args, env=env, preexec=preexec)
    p.send(*requests)
    p.close()
    answers = p.read_answers(len(requests), timeout)
    rc = p.wait(timeout)
    extra = p.rest_of_stdout()
    check(extra == b"", "more answers than requests", extra[:500])
    check(rc == 0, f"embedwatch exited {rc}", p.stderr())
    by_id = {}
    for a in answers:
        check(a["id"] not in by_id, f"two answers for id {a['id']!r}")
        by_id[a["id"]] = a
    return by_id, p


def expect_ok(answer, texts, dims=8):
    check(answer.get("ok") is True, "expected ok", answer)
    embs = answer["embeddings"]
    check(len(embs) == len(texts), "wrong number of embeddings", answer)
    for text, emb in zip(texts, embs):
        want = fake_api.embedding_for(text, dims)
        check(as_float32(emb) == want, f"embedding for {text!r} is wrong",
              emb[:4], want[:4])


def as_float32(values):
    """The float32 values a list of JSON numbers denotes (the fake's
    values are exact float32, printed shortest-round-trip)."""
    return list(struct.unpack(f"<{len(values)}f",
                              struct.pack(f"<{len(values)}f", *values)))


def expect_error(answer, code, attempts=None):
    check(answer.get("ok") is False, f"expected error {code}", answer)
    check(answer["error"]["code"] == code,
          f"expected code {code}, got {answer['error']['code']}", answer)
    if attempts is not None:
        check(answer["attempts"] == attempts,
              f"expected {attempts} attempts, got {answer['attempts']}",
              answer)


def cmdline(pid):
    """pid's command line (its process title), "" once it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def working(pid):
    """Children of pid that are not idle warm workers (those wait for a
    job, connected ahead: their title says "(warm)"), nor forks too young
    to have a title of their own yet (still the supervisor's)."""
    own = cmdline(pid)
    return [k for k in children(pid)
            if not is_warm(k) and cmdline(k) != own]


def is_warm(pid):
    """Is pid an idle warm worker? Its title says "(warm)"; an exec'd
    one that sets no title (a test's script) has --warm on its argv."""
    c = cmdline(pid)
    return "(warm)" in c or " --warm " in c


def warm(pid):
    """Children of pid that are idle warm workers."""
    return [k for k in children(pid) if is_warm(k)]


def own_fds(pid):
    """pid's descriptors, less the two (result and job pipe) each idle
    warm worker holds open."""
    return fd_count(pid) - 2 * len(warm(pid))


def children(pid):
    """Pids whose parent is pid (from /proc)."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(name))
    return kids


def processes_in_group(pgid):
    """Live (non-zombie) pids whose process group is pgid."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(name))
    return found


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def others_can_run(*paths):
    """Can a user who is neither owner nor group (nobody) run these files:
    every directory above each one searchable by others, each file
    executable by others? (A clone under a 0700 mktemp -d is not.)"""
    for path in paths:
        path = os.path.abspath(path)
        if not os.stat(path).st_mode & 0o001:
            return False
        d = os.path.dirname(path)
        while True:
            if not os.stat(d).st_mode & 0o001:
                return False
            if d == "/":
                break
            d = os.path.dirname(d)
    return True


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, f"timed out waiting for {what}")
        time.sleep(0.05)


def main(fn):
    """Run a scenario function; exit 0 if it returns, 1 if a check fails."""
    try:
        fn()
    except CheckFailed as e:
        log(f"FAILED: {e}")
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    log("ok")
    sys.exit(0)
