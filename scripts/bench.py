#!/usr/bin/env python3
"""embedwatch benchmarks (make bench, through scripts/bench).

Measures, on 127.0.0.1, against a private nginx that returns one fixed,
OpenAI-shaped answer (plain HTTP, and HTTPS with a test CA made at bench
time) and against the fake API (tests/fake/) for calls that hang:

  1. kill precision: 100 hung calls at once, answer arrival minus
     (send time + --timeout), with the built-in fork worker and with an
     exec'd worker that never answers (the SIGKILL path);
  2. latency one embedwatch call adds to a direct libcurl call (one curl
     process, a new connection per request);
  3. throughput at --jobs 4 and 16 beside xargs -P + curl per call;
  4. the same over HTTPS, with CPU time per call;
  5. the supervisor's peak RSS with 10,000 requests queued.

Every figure is measured in the run that prints it; nothing is tuned.
The markdown table goes to stdout and to build/bench/results.md. Python
3 standard library only. Everything started here (nginx, the fake,
embedwatch, curl) is stopped before exit, also on SIGINT and SIGTERM.
"""
import argparse
import base64
import collections
import datetime
import fcntl
import hashlib
import json
import os
import random
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "scripts", "bench-data")
FAKE = os.path.join(ROOT, "tests", "fake", "fake_api.py")
STUCK_WORKER = os.path.join(ROOT, "tests", "fake", "stuck-worker")
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"

MODEL = "text-embedding-3-small"
DIMS = 1536
TEXT = "The quick brown fox jumps over the lazy dog"
API_KEY = "bench-key"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RUN_TIMEOUT = 300       # seconds one throughput run may take

# Every process we start and have not yet reaped; cleanup() ends them.
live = []


class BenchError(Exception):
    pass


def log(*args):
    print("bench:", *args, file=sys.stderr, flush=True)


def check(cond, msg):
    if not cond:
        raise BenchError(msg)


def pct(values, p):
    """The p-th percentile of values, interpolated between closest ranks
    (numpy's default), or nan for no values."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def free_port():
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    live.append(p)
    return p


def reaped(p, status):
    """Record that p was reaped by os.wait4 with status."""
    p.returncode = os.waitstatus_to_exitcode(status)
    if p in live:
        live.remove(p)


def exited(pid, timeout):
    """Whether our child pid exited within timeout seconds; it is left
    unreaped."""
    pidfd = os.pidfd_open(pid)
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def stop(p, sig=signal.SIGTERM, timeout=10):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in live:
        live.remove(p)


def cleanup():
    for p in list(live):
        stop(p, signal.SIGKILL)


def proc_stat(pid):
    """Fields of /proc/pid/stat after the command name, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def children(pid):
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = proc_stat(name)
            if fields is not None and int(fields[1]) == pid:
                kids.append(int(name))
    return kids


def cpu_seconds(pids):
    """user+sys seconds so far of the live processes among pids."""
    total = 0
    for pid in pids:
        fields = proc_stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def busy_seconds():
    """CPU seconds the whole machine has been busy since boot."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def rusage_cpu(ru):
    return ru.ru_utime + ru.ru_stime


def proc_status(pid, key):
    """A kB figure of /proc/pid/status, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no {key} in /proc/{pid}/status")


def load_average():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg says."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def read_first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=30)
    except OSError as e:
        return f"({e.strerror})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "?"


def machine(ew):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open(ew, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    rev = subprocess.run(["git", "-C", ROOT, "describe", "--always",
                          "--dirty"], capture_output=True, text=True)
    nginx = subprocess.run(["nginx", "-v"], capture_output=True,
                           text=True).stderr.strip()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "kernel": os.uname().release,
        "embedwatch": "{} (binary sha256 {}…, tree {})".format(
            read_first_line([ew, "--version"]),
            digest,
            rev.stdout.strip() or "?"),
        "nginx": nginx.replace("nginx version: nginx/", ""),
        "curl": read_first_line(["curl", "--version"]).split(" (")[0],
        "openssl": " ".join(read_first_line(["openssl", "version"])
                            .split()[1:2]),
        "python": sys.version.split()[0],
    }


class Lines:
    """Answer lines from a non-blocking descriptor, each stamped with
    the monotonic time of the read that completed it."""

    def __init__(self, fd):
        self.fd = fd
        os.set_blocking(fd, False)
        self.poll = select.poll()
        self.poll.register(fd, select.POLLIN)
        self.pending = b""

    def read(self, n, timeout):
        """n (time, line) pairs within timeout seconds."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            while len(out) < n and b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                out.append((self.stamp, line))
            if len(out) == n:
                return out
            left = deadline - time.monotonic()
            check(left > 0, f"only {len(out)} of {n} answers within "
                  f"{timeout} s")
            if not self.poll.poll(left * 1000):
                continue
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                continue
            self.stamp = time.monotonic()
            check(chunk != b"", f"embedwatch closed stdout after "
                  f"{len(out)} of {n} answers")
            self.pending += chunk


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def request_line(rid, text):
    return (json.dumps({"id": rid, "input": text}) + "\n").encode()


class Bench:
    def __init__(self, opts):
        self.opts = opts
        self.bin = os.path.abspath(opts.bin)
        self.ew = os.path.join(self.bin, "embedwatch")
        self.dir = tempfile.mkdtemp(prefix="ew-bench-")
        # nginx's workers drop root privileges (to nobody) and must
        # still read the fixed answer under this directory.
        os.chmod(self.dir, 0o755)
        self.rows = []          # (item, setup, result, target, met)
        self.tput = []          # throughput detail rows
        self.commands = []      # (item, shell command)
        self.notes = []
        self.nginx = None
        self.fake = None
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("EMBEDWATCH_", "OPENAI_"))}
        self.env["EMBEDWATCH_API_KEY"] = API_KEY

    def path(self, name):
        return os.path.join(self.dir, name)

    def command(self, item, argv, stdin=None, stdout=None):
        cmd = " ".join(shlex.quote(a) for a in argv)
        cmd = cmd.replace(self.dir, "$TMP").replace(ROOT + "/", "")
        if stdin:
            cmd += " <" + stdin
        if stdout:
            cmd += " >" + stdout
        self.commands.append((item, cmd))

    # -- fixtures ---------------------------------------------------

    def make_answer(self):
        """The fixed answer: one 1536-dim base64 embedding, OpenAI's
        shape; values like a real, normalized embedding."""
        rng = random.Random(DIMS)
        v = [rng.gauss(0, 1) for _ in range(DIMS)]
        norm = sum(x * x for x in v) ** 0.5
        raw = struct.pack(f"<{DIMS}f", *(x / norm for x in v))
        answer = {
            "object": "list",
            "data": [{"object": "embedding", "index": 0,
                      "embedding": base64.b64encode(raw).decode()}],
            "model": MODEL,
            "usage": {"prompt_tokens": len(TEXT.split()),
                      "total_tokens": len(TEXT.split())},
        }
        os.makedirs(self.path("www/v1"))
        os.chmod(self.path("www"), 0o755)
        os.chmod(self.path("www/v1"), 0o755)
        with open(self.path("www/v1/embeddings"), "w") as f:
            json.dump(answer, f, separators=(",", ":"))
        os.chmod(self.path("www/v1/embeddings"), 0o644)
        # What the worker sends, for the curl baselines.
        with open(self.path("request.json"), "w") as f:
            json.dump({"model": MODEL, "input": TEXT,
                       "encoding_format": "base64"}, f,
                      separators=(",", ":"))
        self.answer_bytes = os.path.getsize(self.path("www/v1/embeddings"))

    def make_tls(self):
        """A test CA, a server certificate for 127.0.0.1 it signed, and
        the bundle embedwatch gets: the system's CAs plus the test CA."""
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes"]
        steps = [
            ["openssl", "req", "-x509", "-new"] + ec +
            ["-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=embedwatch bench CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["openssl", "req", "-new"] + ec +
            ["-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1"],
            ["openssl", "x509", "-req", "-in", "server.csr",
             "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "1",
             "-days", "2", "-out", "server.crt",
             "-extfile", os.path.join(DATA, "server-cert.ext")],
        ]
        for argv in steps:
            out = subprocess.run(argv, cwd=self.dir, capture_output=True,
                                 text=True)
            check(out.returncode == 0, f"cannot make the test certificates: "
                  f"{' '.join(argv[:3])}: {out.stderr.strip()}")
        with open(self.path("bundle.pem"), "wb") as bundle:
            for name in (SYSTEM_CA, self.path("ca.crt")):
                with open(name, "rb") as f:
                    bundle.write(f.read())
        self.bundle = self.path("bundle.pem")

    def start_nginx(self):
        with open(os.path.join(DATA, "nginx.conf.in")) as f:
            template = f.read()
        os.makedirs(self.path("tmp"), exist_ok=True)
        for _ in range(5):
            self.http_port, self.https_port = free_port(), free_port()
            if self.http_port == self.https_port:
                continue
            conf = (template.replace("@PREFIX@", self.dir)
                    .replace("@HTTP_PORT@", str(self.http_port))
                    .replace("@HTTPS_PORT@", str(self.https_port)))
            with open(self.path("nginx.conf"), "w") as f:
                f.write(conf)
            # Its own session, so cleanup can end the workers too.
            self.nginx = spawn(
                ["nginx", "-p", self.dir + "/", "-c", self.path("nginx.conf"),
                 "-e", self.path("error.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT, start_new_session=True)
            if self.wait_listening(self.nginx,
                                   (self.http_port, self.https_port)):
                break
            stop(self.nginx)
            with open(self.path("error.log")) as f:
                errors = f.read()
            check("Address already in use" in errors,
                  f"nginx did not start:\n{errors}")
        else:
            raise BenchError("nginx found no free ports in 5 attempts")
        self.http_url = f"http://127.0.0.1:{self.http_port}/v1"
        self.https_url = f"https://127.0.0.1:{self.https_port}/v1"
        # The setup works end to end, before anything is timed.
        for url, extra in ((self.http_url, []),
                           (self.https_url, ["--cacert", self.bundle])):
            out = subprocess.run(
                self.curl_argv(extra) + ["-o", "-", url + "/embeddings"],
                capture_output=True, timeout=30)
            check(out.returncode == 0 and
                  json.loads(out.stdout)["data"][0]["index"] == 0,
                  f"nginx does not answer {url}: {out.stderr!r}")

    def stop_nginx(self):
        """Graceful stop; then SIGKILL whatever is left in its process
        group while the unreaped master still holds the group's id."""
        p, self.nginx = self.nginx, None
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGQUIT)
            if not exited(p.pid, 10):
                p.kill()
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        live.remove(p)

    def nginx_cpu(self):
        pids = [self.nginx.pid] + children(self.nginx.pid)
        return cpu_seconds(pids)

    def wait_listening(self, proc, ports, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                for port in ports:
                    socket.create_connection(("127.0.0.1", port),
                                             timeout=1).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def start_fake(self):
        port_file = self.path("fake.port")
        self.fake_log = open(self.path("fake.log"), "w")
        self.fake = spawn([sys.executable, FAKE, "--port-file", port_file],
                          stdin=subprocess.DEVNULL, stdout=self.fake_log,
                          stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            check(self.fake.poll() is None, "the fake API died at start")
            check(time.monotonic() < deadline, "the fake API did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            self.fake_port = int(f.read())
        self.fake_url = f"http://127.0.0.1:{self.fake_port}/v1"

    def fake_get(self, path):
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.fake_port}{path}", timeout=10) as r:
            return json.loads(r.read() or b"null")

    def curl_argv(self, extra=()):
        return ["curl", "-sS", "--fail", "-H", "Connection: close",
                "-H", "Content-Type: application/json",
                "-H", "Accept: application/json", "-H", "Expect:",
                "-H", f"Authorization: Bearer {API_KEY}",
                "--data-binary", "@" + self.path("request.json")] + \
            list(extra)

    # -- embedwatch ---------------------------------------------------

    def start_pipe(self, args):
        argv = [self.ew, "pipe"] + args
        self.stderr_file = open(self.path("embedwatch.stderr"), "w+")
        p = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                  stderr=self.stderr_file, env=self.env)
        return p, Lines(p.stdout.fileno()), argv

    def stderr_tail(self):
        self.stderr_file.seek(0)
        return self.stderr_file.read()[-2000:]

    def end_pipe(self, p, timeout=30):
        p.stdin.close()
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"embedwatch did not exit within {timeout} s:"
                             f"\n{self.stderr_tail()}")
        live.remove(p)
        p.stdout.close()
        check(rc == 0, f"embedwatch exited {rc}:\n{self.stderr_tail()}")

    # -- 1. kill precision ------------------------------------------

    def kill_precision(self, tag, label, extra):
        rounds, n = self.opts.kill_rounds, 100
        args = ["--base-url", self.fake_url, "--jobs", str(n),
                "--timeout", "1", "--retries", "0"] + extra
        p, lines, argv = self.start_pipe(args)
        self.command("1" + tag, argv)
        # Answered (or, with the stuck worker, killed) before timing.
        write_all(p.stdin.fileno(), request_line("warm", "warm up"))
        lines.read(1, 30)
        settle = 2.0 if "--warm" in extra else 0.3   # pool refilled
        time.sleep(settle)
        late_ms = []
        own_ms = []     # "killed at N ms": from the worker's own start
        codes = collections.Counter()
        killed = 0
        odd = []
        for r in range(rounds):
            data = b"".join(request_line(f"{r}-{i}",
                                         f"call {i} @fault:hang")
                            for i in range(n))
            sent = time.monotonic()
            write_all(p.stdin.fileno(), data)
            for t, line in lines.read(n, 30):
                a = json.loads(line)
                codes["ok" if a["ok"] else a["error"]["code"]] += 1
                if not a["ok"] and a["error"]["code"] != "timeout":
                    odd.append(a["error"]["message"])
                # The supervisor's SIGKILL, not libcurl's own timeout.
                msg = a.get("error", {}).get("message", "")
                killed += " killed at " in msg
                m = re.search(r" killed at (\d+) ms", msg)
                if m:
                    own_ms.append(int(m.group(1)) - 1000)
                late_ms.append((t - (sent + 1.0)) * 1000)
            time.sleep(settle)
        self.end_pipe(p)
        check(set(codes) == {"timeout"},
              f"kill precision ({label}): answers other than timeouts: "
              f"{dict(codes)}, e.g. {odd[:3]}")
        p50, p99 = pct(late_ms, 50), pct(late_ms, 99)
        self.rows.append((
            f"1{tag}. Kill precision, {label}",
            " ".join([f"{n} hung calls at once × {rounds} rounds, --jobs "
                      f"{n} --timeout 1 --retries 0"] +
                     [a.replace(ROOT + "/", "") for a in extra]),
            f"p50 {p50:+.2f} ms, p99 {p99:+.2f} ms (min {min(late_ms):+.2f},"
            f" max {max(late_ms):+.2f}; n={len(late_ms)}, {killed} "
            "SIGKILLed)" + (f"; from each worker's own start: p50 "
                            f"{pct(own_ms, 50):+.0f} ms, p99 "
                            f"{pct(own_ms, 99):+.0f} ms" if own_ms else ""),
            "p99 ≤ 10 ms", p99 <= 10))
        log(f"kill precision {label}: p50 {p50:+.2f} ms p99 {p99:+.2f} ms "
            f"min {min(late_ms):+.2f} max {max(late_ms):+.2f}, {killed} "
            "killed by the supervisor")

    # -- 2. added latency -------------------------------------------

    def latency(self, extra=(), label=""):
        n, warm = self.opts.latency_calls, 20
        p, lines, argv = self.start_pipe(["--base-url", self.http_url] +
                                         list(extra))
        self.command("2", argv)
        ew_ms = []
        for i in range(warm + n):
            line = request_line(i, TEXT)
            t0 = time.monotonic()
            write_all(p.stdin.fileno(), line)
            (t, answer), = lines.read(1, 30)
            check(json.loads(answer)["ok"] is True,
                  f"latency: answer not ok: {answer[:300]!r}")
            if i >= warm:
                ew_ms.append((t - t0) * 1000)
        self.end_pipe(p)

        # One curl process, one new connection per request: the cost of
        # a bare libcurl call without any process start-up.
        cfg = self.path("curl-seq.cfg")
        with open(cfg, "w") as f:
            for _ in range(warm + n):
                f.write(f'url = "{self.http_url}/embeddings"\n'
                        'output = "/dev/null"\n')
        argv = self.curl_argv() + [
            "-w", "%{time_total} %{num_connects} %{http_code}\\n",
            "-K", cfg]
        self.command("2", argv)
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=120)
        check(out.returncode == 0, f"curl failed: {out.stderr}")
        rows = [line.split() for line in out.stdout.splitlines()]
        check(len(rows) == warm + n and
              all(r[1] == "1" and r[2] == "200" for r in rows),
              f"curl: not {warm + n} fresh-connection 200s: "
              f"{out.stdout[:300]!r}")
        curl_ms = [float(r[0]) * 1000 for r in rows[warm:]]

        added = pct(ew_ms, 50) - pct(curl_ms, 50)
        added_p99 = pct(ew_ms, 99) - pct(curl_ms, 99)
        self.rows.append((
            f"2. Latency, embedwatch call{label}",
            f"{n} sequential calls, plain HTTP, request written → answer "
            "read", f"p50 {pct(ew_ms, 50):.3f} ms, p99 "
            f"{pct(ew_ms, 99):.3f} ms", "", None))
        self.rows.append((
            "2. Latency, direct libcurl call",
            f"one curl process, {n} sequential POSTs, new connection each",
            f"p50 {pct(curl_ms, 50):.3f} ms, p99 {pct(curl_ms, 99):.3f} ms",
            "", None))
        self.rows.append((
            f"2. Added latency per call{label}", "difference of the medians "
            "(p99 difference for reference)",
            f"p50 {added:+.3f} ms (p99 {added_p99:+.3f} ms)", "p50 ≤ 1 ms",
            added <= 1))
        log(f"latency: embedwatch p50 {pct(ew_ms, 50):.3f} p99 "
            f"{pct(ew_ms, 99):.3f}; curl p50 {pct(curl_ms, 50):.3f} p99 "
            f"{pct(curl_ms, 99):.3f}; added p50 {added:+.3f} ms")

    # -- 3, 4. throughput -------------------------------------------

    def requests_file(self, n):
        name = self.path(f"requests-{n}.jsonl")
        if not os.path.exists(name):
            with open(name, "wb") as f:
                for i in range(n):
                    f.write(request_line(i, TEXT))
        return name

    def urls_file(self, n, url):
        name = self.path(f"urls-{n}-{url.split(':')[0]}.txt")
        with open(name, "w") as f:
            f.write(f"{url}/embeddings\n" * n)
        return name

    def timed(self, argv, stdin, stdout, env=None):
        """Run argv to its end. Returns wall seconds, CPU seconds of it
        and its reaped children (wait4), its own share of that (read
        from /proc while it is a zombie), nginx's CPU meanwhile and the
        machine's busy CPU seconds meanwhile."""
        with open(stdin, "rb") as fin, open(stdout, "wb") as fout, \
                open(self.path("timed.stderr"), "w+") as ferr:
            cpu0, busy0 = self.nginx_cpu(), busy_seconds()
            t0 = time.monotonic()
            p = spawn(argv, stdin=fin, stdout=fout, stderr=ferr, env=env)
            check(exited(p.pid, RUN_TIMEOUT),
                  f"{argv[0]} still running after {RUN_TIMEOUT} s")
            os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
            wall = time.monotonic() - t0
            own = cpu_seconds([p.pid])
            _, status, ru = os.wait4(p.pid, 0)
            reaped(p, status)
            server = self.nginx_cpu() - cpu0
            busy = busy_seconds() - busy0
            ferr.seek(0)
            err = ferr.read()[-2000:]
        check(p.returncode == 0, f"{argv[0]} exited {p.returncode}:\n{err}")
        return wall, rusage_cpu(ru), own, server, busy

    def throughput_embedwatch(self, scheme, jobs, extra=()):
        n = self.opts.calls
        url = self.http_url if scheme == "http" else self.https_url
        args = ["--base-url", url, "--jobs", str(jobs)] + list(extra)
        if scheme == "https":
            args += ["--cacert", self.bundle]
        argv = [self.ew, "pipe"] + args
        out = self.path("answers.jsonl")
        self.command("3" if scheme == "http" else "4", argv,
                     f"$TMP/requests-{n}.jsonl", "$TMP/answers.jsonl")
        wall, cpu, own, server, busy = self.timed(
            argv, self.requests_file(n), out, self.env)
        ok, seen = 0, set()
        with open(out, "rb") as f:
            for line in f:
                a = json.loads(line)
                check(a["ok"] is True, f"{scheme} --jobs {jobs}: answer "
                      f"not ok: {line[:300]!r}")
                check(len(a["embeddings"]) == 1 and
                      len(a["embeddings"][0]) == DIMS,
                      f"{scheme} --jobs {jobs}: wrong embeddings")
                seen.add(a["id"])
                ok += 1
        os.unlink(out)
        check(ok == n and seen == set(range(n)),
              f"{scheme} --jobs {jobs}: {ok} ok answers for {n} requests")
        return self.tput_row("embedwatch pipe", " ".join(
            [f"--jobs {jobs}"] + list(extra)), scheme, ok, wall, cpu, own,
            server, busy)

    def throughput_curl(self, scheme, parallel, n):
        url = self.http_url if scheme == "http" else self.https_url
        extra = ["--cacert", self.bundle] if scheme == "https" else []
        argv = ["xargs", "-P", str(parallel), "-n", "1"] + \
            self.curl_argv(extra) + ["-o", "/dev/null", "-w",
                                     "%{http_code}\\n"]
        out = self.path("codes.txt")
        self.command("3" if scheme == "http" else "4", argv,
                     f"$TMP/{os.path.basename(self.urls_file(n, url))}",
                     "$TMP/codes.txt")
        wall, cpu, _, server, busy = self.timed(argv, self.urls_file(n, url),
                                                out)
        with open(out) as f:
            codes = collections.Counter(f.read().split())
        check(codes == {"200": n}, f"curl {scheme} -P {parallel}: {codes}")
        return self.tput_row("xargs + curl per call", f"-P {parallel}",
                             scheme, n, wall, cpu, None, server, busy)

    def tput_row(self, client, par, scheme, ok, wall, cpu, own, server,
                 busy):
        row = {"client": client, "par": par, "scheme": scheme, "ok": ok,
               "wall": wall, "rate": ok / wall, "cpu_ms": cpu / ok * 1000,
               "own_ms": None if own is None else own / ok * 1000,
               "server_ms": server / ok * 1000,
               "other": max(0.0, busy - cpu - server) / wall}
        self.tput.append(row)
        log(f"throughput {client} {par} {scheme}: {row['rate']:.0f} calls/s,"
            f" {row['cpu_ms']:.3f} ms CPU/call, nginx "
            f"{row['server_ms']:.3f} ms/call, other load "
            f"{row['other']:.2f} CPUs")
        return row

    def throughput(self):
        n = self.opts.calls
        for jobs in (4, 16):
            ew = self.throughput_embedwatch("http", jobs)
            base = self.throughput_curl("http", jobs, n)
            self.rows.append((
                f"3. Throughput, plain HTTP, --jobs {jobs}",
                f"{n} calls from a file; baseline xargs -P {jobs} + curl "
                "per call", f"{ew['rate']:.0f} calls/s "
                f"({ew['cpu_ms']:.2f} ms CPU/call); baseline "
                f"{base['rate']:.0f} calls/s ({base['cpu_ms']:.2f} ms "
                "CPU/call)", "≥ 1,000 calls/s" if jobs == 16 else "",
                ew["rate"] >= 1000 if jobs == 16 else None))
        ew = self.throughput_embedwatch("http", 16, ["--warm", "16"])
        self.rows.append((
            "3. Throughput, plain HTTP, --jobs 16 --warm 16",
            f"{n} calls from a file, 16 workers forked ahead",
            f"{ew['rate']:.0f} calls/s ({ew['cpu_ms']:.2f} ms CPU/call)",
            "≥ 1,000 calls/s", ew["rate"] >= 1000))

    def throughput_tls(self):
        n = self.opts.calls
        ew = self.throughput_embedwatch("https", 16)
        # curl reads the whole CA bundle in every process: fewer calls.
        base = self.throughput_curl("https", 16, self.opts.tls_curl_calls)
        plain = [r for r in self.tput if r["scheme"] == "http" and
                 r["client"] == "embedwatch pipe" and r["par"] == "--jobs 16"]
        vs = (f"; plain HTTP {plain[0]['cpu_ms']:.2f} ms CPU/call"
              if plain else "")
        self.rows.append((
            "4. Throughput, HTTPS, --jobs 16",
            f"{n} calls, --cacert system bundle + test CA; baseline "
            f"xargs -P 16 + curl per call, same bundle, {base['ok']} calls",
            f"{ew['rate']:.0f} calls/s, {ew['cpu_ms']:.2f} ms CPU/call"
            f"{vs}; baseline {base['rate']:.0f} calls/s, "
            f"{base['cpu_ms']:.2f} ms CPU/call", "", None))

    # -- 5. peak RSS --------------------------------------------------

    def peak_rss(self):
        n, jobs = self.opts.queued, 8
        self.fake_get("/_reset")
        p, lines, argv = self.start_pipe(
            ["--base-url", self.fake_url, "--jobs", str(jobs), "--queue",
             str(n), "--timeout", "120", "--deadline", "600",
             "--retries", "0"])
        self.command("5", argv)
        data = b"".join(request_line(i, f"q{i} @fault:hang")
                        for i in range(n))
        fd = p.stdin.fileno()
        write_all(fd, data)
        # Drained: nothing left in the pipe.
        deadline = time.monotonic() + 60
        while True:
            left = struct.unpack("i", fcntl.ioctl(
                fd, termios.FIONREAD, b"\0\0\0\0"))[0]
            if left == 0:
                break
            check(time.monotonic() < deadline and p.poll() is None,
                  f"embedwatch left {left} bytes of stdin unread")
            time.sleep(0.05)
        while self.fake_get("/_stats")["requests"] < jobs:
            check(time.monotonic() < deadline,
                  "the hung calls did not reach the fake")
            time.sleep(0.05)
        time.sleep(0.5)
        hwm = proc_status(p.pid, "VmHWM")
        rss = proc_status(p.pid, "VmRSS")
        workers = children(p.pid)
        # Besides the jobs running, idle warm workers wait (up to --jobs).
        check(jobs <= len(workers) <= 2 * jobs,
              f"{len(workers)} workers, not {jobs} (+ up to {jobs} warm)")
        stop(p, signal.SIGKILL)
        p.stdin.close()
        p.stdout.close()
        # The workers die with their parent (PR_SET_PDEATHSIG).
        deadline = time.monotonic() + 5
        while any(proc_stat(w) for w in workers):
            if time.monotonic() > deadline:
                self.notes.append(
                    "5: workers outlived their SIGKILLed supervisor")
                for w in workers:
                    if proc_stat(w):
                        os.kill(w, signal.SIGKILL)
                break
            time.sleep(0.05)
        mib = hwm / (1 << 20)
        self.rows.append((
            "5. Supervisor peak RSS",
            f"{n} requests read and queued, {jobs} hung calls, --jobs "
            f"{jobs} --queue {n}",
            f"VmHWM {mib:.1f} MiB (VmRSS {rss / (1 << 20):.1f} MiB)",
            "≤ 16 MiB", mib <= 16))
        log(f"peak RSS: VmHWM {mib:.2f} MiB VmRSS {rss / (1 << 20):.2f} MiB")

    # -- report -------------------------------------------------------

    def report(self, m, started, elapsed):
        lines = [
            "### embedwatch benchmark",
            "",
            f"{m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; "
            f"{m['embedwatch']}, nginx {m['nginx']} "
            f"(worker_processes auto, no keep-alive), {m['curl']}, "
            f"OpenSSL {m['openssl']}, Python {m['python']}; load average "
            f"{self.load[0]} at start, {self.load[1]} at end. Everything on "
            f"127.0.0.1; answer {self.answer_bytes} bytes (one "
            f"{DIMS}-dim base64 embedding); TLS: ECDSA P-256 test CA. "
            f"Run {started} UTC, {elapsed:.0f} s, command "
            f"`{self.invocation()}`.",
            "",
            "| Item | Setup | Measured | Target | Met |",
            "| --- | --- | --- | --- | --- |",
        ]
        for item, setup, result, target, met in self.rows:
            verdict = "" if met is None else ("yes" if met else "**no**")
            lines.append(f"| {item} | {setup} | {result} | {target} | "
                         f"{verdict} |")
        if self.tput:
            lines += [
                "",
                "Throughput detail (client CPU is user+sys of the client "
                "and its reaped children, from wait4; the supervisor's own "
                "share and nginx's CPU from /proc, in clock ticks; other "
                "load is the rest of the machine's busy time (/proc/stat) "
                "over the run, in CPUs):",
                "",
                "| Client | Parallel | Transport | OK answers | Wall s | "
                "Calls/s | Client CPU ms/call | of which supervisor | "
                "nginx CPU ms/call | Other load, CPUs |",
                "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: "
                "| ---: |",
            ]
            for r in self.tput:
                own = "" if r["own_ms"] is None else f"{r['own_ms']:.3f}"
                lines.append(
                    f"| {r['client']} | {r['par']} | {r['scheme'].upper()} "
                    f"| {r['ok']} | {r['wall']:.2f} | {r['rate']:.0f} | "
                    f"{r['cpu_ms']:.3f} | {own} | {r['server_ms']:.3f} | "
                    f"{r['other']:.2f} |")
        lines += [
            "",
            "Kill precision is answer arrival − (request written + "
            "--timeout), over all answers; negative means libcurl's own "
            "timeout answered before the hard deadline; the spread includes "
            "the time the supervisor takes to start 100 workers. Latency is "
            "request written → answer "
            "read by the bench over pipes (its own read/write included); "
            "curl's is its time_total. Percentiles interpolate between "
            "closest ranks.",
        ]
        for note in self.notes:
            lines += ["", "Note: " + note]
        lines += ["", "<details><summary>Commands</summary>", "", "```"]
        lines += [f"[{item}] {cmd}" for item, cmd in self.commands]
        lines += ["```", "", "</details>", ""]
        return "\n".join(lines)

    def invocation(self):
        args = " ".join(shlex.quote(a) for a in sys.argv[1:])
        cmd = ("scripts/bench " + args).strip()
        return ("make bench → " + cmd) if "MAKELEVEL" in os.environ else cmd

    def run(self):
        started = datetime.datetime.now(datetime.timezone.utc) \
            .strftime("%Y-%m-%d %H:%M")
        t0 = time.monotonic()
        m = machine(self.ew)
        load0 = load_average()
        items = set(self.opts.items.split(","))
        self.make_answer()
        self.make_tls()
        self.start_nginx()
        self.start_fake()
        log(f"nginx on {self.http_port} (http), {self.https_port} (https); "
            f"fake on {self.fake_port}; temp {self.dir}")
        if "1" in items:
            self.kill_precision("a", "built-in fork worker", [])
            self.kill_precision("b", "SIGKILL path (exec'd stuck worker)",
                                ["--worker", STUCK_WORKER])
            self.kill_precision("c", "built-in fork worker, --warm 100",
                                ["--warm", "100"])
            self.kill_precision("d", "SIGKILL path, --warm 100",
                                ["--worker", STUCK_WORKER, "--warm", "100"])
        if "2" in items:
            self.latency()
            self.latency(["--warm", "8"], ", --warm 8")
        if "3" in items:
            self.throughput()
        if "4" in items:
            self.throughput_tls()
        if "5" in items:
            self.peak_rss()
        self.load = (load0, load_average())
        table = self.report(m, started, time.monotonic() - t0)
        out = os.path.join(ROOT, self.opts.out)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(table)
        print(table)
        log(f"results written to {os.path.relpath(out, ROOT)}")

    def close(self):
        # nginx first and politely: its master reaps its own workers.
        self.stop_nginx()
        if self.fake is not None:
            stop(self.fake)
            self.fake_log.close()
        cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


def on_signal(signo, frame):
    raise SystemExit(128 + signo)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get(
        "EW_BIN", os.path.join(ROOT, "bin")), help="where embedwatch is")
    ap.add_argument("--out", default="build/bench/results.md",
                    help="results file, relative to the top of the tree")
    ap.add_argument("--items", default="1,2,3,4,5",
                    help="which items to run (comma-separated)")
    ap.add_argument("--calls", type=int, default=5000,
                    help="calls per throughput run")
    ap.add_argument("--tls-curl-calls", type=int, default=1000,
                    help="calls of the HTTPS curl baseline")
    ap.add_argument("--latency-calls", type=int, default=500)
    ap.add_argument("--kill-rounds", type=int, default=5,
                    help="rounds of 100 hung calls per kill-precision row")
    ap.add_argument("--queued", type=int, default=10000,
                    help="requests queued for the peak-RSS item")
    opts = ap.parse_args()
    for prog in ("nginx", "curl", "openssl", "xargs"):
        if shutil.which(prog) is None:
            sys.exit(f"bench: '{prog}' not found (scripts/install-deps "
                     "--bench installs it)")
    if not os.access(os.path.join(opts.bin, "embedwatch"), os.X_OK):
        sys.exit(f"bench: no '{opts.bin}/embedwatch' (run make first)")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    bench = Bench(opts)
    try:
        bench.run()
    except BenchError as e:
        log(f"failed: {e}")
        sys.exit(1)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
