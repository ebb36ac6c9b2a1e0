#!/usr/bin/env python3
"""embedwatch serve benchmark: a soak and socket-vs-pipe throughput.

  1. Soak: `embedwatch serve --jobs 32 --timeout 0.5 --retries 0` against
     the fake API (tests/fake/), N requests (default 100,000) from 8
     concurrent clients (one thread and one Unix-socket connection each,
     pipelining with a bounded window), 2% of them `@fault:hang`. Every
     request must be answered exactly once: ok, or `timeout` for the hung
     ones. Reported: the supervisor's VmRSS, open descriptors and child
     processes after a warm-up (once its workers are reaped) and at the
     end (after every answer and the reap), and requests/s.
  2. Throughput against bench.py's nginx (one fixed 1536-dim embedding),
     5,000 requests at --jobs 16: `serve` with 4 concurrent socket clients
     and `pipe` fed from a file (as bench.py item 3), in the same run.
  3. The HTTP front (`serve --listen`) against the same nginx at --jobs 16:
     calls/s from 8 keep-alive connections (POST /v1/embeddings, base64 as
     the SDKs ask) beside pipe's calls/s in the same run; the latency an
     HTTP call adds over a pipe call (p50 of sequential calls, one
     keep-alive connection); and the supervisor's VmRSS with 1,000 idle
     keep-alive connections open.

Reuses scripts/bench.py (nginx, the fake, process bookkeeping). Python 3
standard library only. The markdown table goes to stdout and to
build/bench/serve.md. Everything started here is stopped before exit,
also on SIGINT and SIGTERM, and the temp directory is removed.
"""
import argparse
import collections
import datetime
import http.client
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import BenchError, check, log  # noqa: E402

ROOT = bench.ROOT
SERVICE_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
HANG_EVERY = 50         # 2%: request i hangs when i % 50 == 7
FAKE_DIMS = 8           # the fake's default
CLIENT_TIMEOUT = 120    # seconds a client waits for its next answer


def is_hang(i):
    return i % HANG_EVERY == 7


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def tree_cpu(pid):
    """user+sys seconds of pid and its reaped children (utime, stime,
    cutime, cstime of /proc/pid/stat)."""
    f = bench.proc_stat(pid)
    return sum(int(x) for x in f[11:15]) / bench.CLK_TCK


class Client:
    """One connection to the server. Each round (begin) runs in a thread
    of its own: it sends `lines` (bytes, one request each) keeping at
    most `window` requests unanswered, and collects every answer line
    until it has one per request. The raw answer lines are kept; the
    checks come after the timing."""

    def __init__(self, path, window):
        self.window = window
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.sock.settimeout(CLIENT_TIMEOUT)
        self.thread = None

    def begin(self, lines, go):
        self.lines, self.answers = lines, []
        self.error, self.done_at = None, None
        self.thread = threading.Thread(target=self.run, args=(go,),
                                       daemon=True)
        self.thread.start()

    def run(self, go):
        try:
            go.wait()
            self.exchange()
        except Exception as e:      # reported by the main thread
            self.error = f"{type(e).__name__}: {e}"

    def exchange(self):
        n, sent, pending = len(self.lines), 0, b""
        out = self.answers
        while len(out) < n:
            room = self.window - (sent - len(out))
            if room > 0 and sent < n:
                batch = self.lines[sent:sent + room]
                self.sock.sendall(b"".join(batch))
                sent += len(batch)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise BenchError(f"server closed after {len(out)} of {n} "
                                 "answers")
            pending += chunk
            if b"\n" in pending:
                *got, pending = pending.split(b"\n")
                out.extend(got)
        check(pending == b"", "a partial line after the last answer")
        check(len(out) == n, f"{len(out)} answers for {n} requests")
        self.done_at = time.monotonic()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ServeBench(bench.Bench):
    def __init__(self, opts):
        super().__init__(opts)
        self.serve = None
        self.serve_log = None
        self.clients = []

    # -- serve ----------------------------------------------------------

    def launch(self, argv, tag, ready, what):
        """Start serve with argv; returns ready()'s first value other
        than None, polled until then (20 s at most)."""
        env = {k: v for k, v in self.env.items() if k not in SERVICE_VARS}
        self.serve_log = open(self.path(f"serve-{tag}.log"), "w+")
        self.serve = bench.spawn(argv, stdin=subprocess.DEVNULL,
                                 stdout=self.serve_log,
                                 stderr=subprocess.STDOUT, env=env,
                                 start_new_session=True)
        self.command(tag, argv)
        deadline = time.monotonic() + 20
        while True:
            check(self.serve.poll() is None, f"serve exited "
                  f"{self.serve.returncode} at start:\n{self.serve_tail()}")
            check(time.monotonic() < deadline, f"serve not {what} within "
                  f"20 s:\n{self.serve_tail()}")
            got = ready()
            if got is not None:
                return got
            time.sleep(0.02)

    def start_serve(self, args, tag):
        sock = self.path("s")

        def ready():
            if not os.path.exists(sock):
                return None
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(sock)
                return sock
            except OSError:
                return None
            finally:
                s.close()
        return self.launch([self.ew, "serve", "--socket", sock] + args, tag,
                           ready, "listening")

    def serve_tail(self):
        self.serve_log.seek(0)
        return self.serve_log.read()[-2000:]

    def stop_serve(self, timeout=30, socket_file=True):
        """SIGTERM; it must exit 0 and remove its socket (if it had
        one)."""
        p, self.serve = self.serve, None
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
        if p in bench.live:
            bench.live.remove(p)
        tail = self.serve_tail()
        self.serve_log.close()
        check(rc == 0, f"serve exited {rc} after SIGTERM:\n{tail}")
        check(not socket_file or not os.path.exists(self.path("s")),
              "serve left its socket")

    def connect(self, sock, k, window):
        clients = [Client(sock, window) for _ in range(k)]
        self.clients += clients
        return clients

    def run_clients(self, clients, lines_per_client, timeout):
        """Run one round: each client sends its lines, all starting
        together; returns (start, end) monotonic times, end being the
        last answer's arrival."""
        go = threading.Event()
        for c, lines in zip(clients, lines_per_client):
            c.begin(lines, go)
        t0 = time.monotonic()
        go.set()
        deadline = t0 + timeout
        for c in clients:
            while c.thread.is_alive():
                check(time.monotonic() < deadline, f"clients not done "
                      f"within {timeout} s:\n{self.serve_tail()}")
                c.thread.join(0.2)
            check(c.error is None, f"client: {c.error}\n{self.serve_tail()}")
        return t0, max(c.done_at for c in clients)

    def close_clients(self, clients):
        for c in clients:
            c.close()
            if c in self.clients:
                self.clients.remove(c)

    def settled(self, pid, timeout=30):
        """Wait until pid has no children and its descriptor count stays
        the same for 0.3 s; returns (VmRSS bytes, fds, children)."""
        deadline = time.monotonic() + timeout
        while bench.children(pid):
            check(time.monotonic() < deadline, "workers not reaped within "
                  f"{timeout} s")
            time.sleep(0.05)
        before = None
        while True:
            now = sorted(os.listdir(f"/proc/{pid}/fd"))
            if now == before:
                break
            check(time.monotonic() < deadline, "descriptors never settle")
            before = now
            time.sleep(0.3)
        return (bench.proc_status(pid, "VmRSS"), len(now),
                len(bench.children(pid)))

    # -- 1. soak --------------------------------------------------------

    def soak(self):
        o = self.opts
        n, k, window = o.requests, o.clients, o.window
        self.fake_get("/_reset")
        sock = self.start_serve(
            ["--base-url", self.fake_url, "--jobs", "32", "--timeout", "0.5",
             "--retries", "0"], "1")
        pid = self.serve.pid

        def texts(base, count):
            return [[(base + j, f"soak c{c} r{base + j}" +
                      (" @fault:hang" if is_hang(base + j) else ""))
                     for j in range(count)] for c in range(k)]

        per = n // k
        n = per * k
        warm_per = max(1, o.warmup // k)
        warm = texts(0, warm_per)
        main = texts(warm_per, per)
        clients = self.connect(sock, k, window)
        self.run_clients(clients, [[bench.request_line(i, t) for i, t in w]
                                   for w in warm], 120)
        self.check_soak(warm, clients)
        lines = [[bench.request_line(i, t) for i, t in w] for w in main]
        start = self.settled(pid)
        log(f"soak: start RSS {start[0] >> 10} kB, {start[1]} fds, "
            f"{start[2]} children; {n} requests from {k} clients")
        busy0, cpu0 = bench.busy_seconds(), tree_cpu(pid)
        t0, t1 = self.run_clients(clients, lines, o.soak_timeout)
        wall = t1 - t0
        counts = self.check_soak(main, clients)
        end = self.settled(pid)
        cpu = tree_cpu(pid) - cpu0
        busy = bench.busy_seconds() - busy0
        log(f"soak: {n} in {wall:.1f} s ({n / wall:.0f}/s); end RSS "
            f"{end[0] >> 10} kB, {end[1]} fds, {end[2]} children; {counts}")
        self.close_clients(clients)
        # And once the clients are gone.
        gone = self.settled(pid)
        stats = self.stats(sock)
        self.stop_serve()
        hangs = sum(is_hang(i) for w in main for i, _ in w)
        late = counts["late"]
        check(counts["ok"] + counts["timeout"] == n, f"soak: {counts}")
        check(late <= n // 100, f"soak: {late} good calls timed out")
        mib = 1 << 20
        self.rows.append((
            "1. Soak: answers",
            f"{n:,} requests ({k} clients × {per:,}, own Unix-socket "
            f"connection each, ≤ {window} outstanding per client), {hangs:,}"
            f" ({hangs / n:.0%}) `@fault:hang`; `--jobs 32 --timeout 0.5 "
            "--retries 0`, fake API",
            f"every request answered exactly once: {counts['ok']:,} ok, "
            f"{counts['timeout']:,} timeout ({counts['timeout'] - late:,} "
            f"hung, {late} good calls late); {n / wall:,.0f} requests/s "
            f"({wall:.1f} s)",
            "exactly once", True))
        self.rows.append((
            "1. Soak: supervisor resources",
            f"after {warm_per * k} warm-up requests → after the last answer "
            f"(both once the workers were reaped, {k} clients connected); "
            "then with the clients gone",
            f"VmRSS {start[0] / mib:.2f} → {end[0] / mib:.2f} MiB; fds "
            f"{start[1]} → {end[1]}; child processes {start[2]} → {end[2]}; "
            f"clients gone: {gone[0] / mib:.2f} MiB, {gone[1]} fds, "
            f"{gone[2]} children",
            "no growth", end[1] == start[1] and end[2] == start[2] == 0 and
            end[0] - start[0] < 4 * mib))
        self.rows.append((
            "1. Soak: CPU",
            "supervisor + its reaped workers (/proc stat), and the machine's "
            "busy CPU (/proc/stat) over the run",
            f"{cpu / n * 1000:.2f} ms CPU/request; machine busy "
            f"{busy / wall:.2f} of {len(os.sched_getaffinity(0))} CPUs; "
            f"serve stats: {stats.get('workers_started', '?'):,} workers "
            f"started, {stats.get('workers_killed', '?'):,} killed",
            "", None))

    def check_soak(self, sent, clients):
        """One answer per request on each connection: ok for normal ones
        (FAKE_DIMS floats), timeout for hung ones."""
        counts = collections.Counter()
        for w, c in zip(sent, clients):
            want = dict(w)
            seen = set()
            for line in c.answers:
                a = json.loads(line)
                i = a.get("id")
                check(i in want, f"answer for an id never sent: {line[:200]}")
                check(i not in seen, f"two answers for id {i}")
                seen.add(i)
                if a.get("ok") is True:
                    check(not is_hang(i), f"hung request {i} answered ok")
                    check(len(a["embeddings"]) == 1 and
                          len(a["embeddings"][0]) == FAKE_DIMS,
                          f"wrong embeddings: {line[:200]}")
                    counts["ok"] += 1
                else:
                    code = a.get("error", {}).get("code")
                    check(code == "timeout", f"unexpected answer: "
                          f"{line[:300]}")
                    counts["timeout"] += 1
                    counts["late"] += not is_hang(i)
            check(len(seen) == len(want), f"{len(want) - len(seen)} "
                  "requests unanswered")
        return counts

    def stats(self, sock):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(sock)
            s.sendall(b'{"op":"stats","id":"stats"}\n')
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                check(chunk, "no stats answer")
                buf += chunk
        finally:
            s.close()
        return json.loads(buf.split(b"\n")[0])["stats"]

    # -- 2. socket vs pipe ------------------------------------------------

    def throughput_serve(self):
        o = self.opts
        n, k, jobs = o.calls, o.tput_clients, 16
        per = n // k
        n = per * k
        sock = self.start_serve(["--base-url", self.http_url,
                                 "--jobs", str(jobs)], "2")
        pid = self.serve.pid
        # A short warm-up on its own connection (not timed).
        warm = self.connect(sock, 1, o.window)
        self.run_clients(warm, [[bench.request_line(i, bench.TEXT)
                                 for i in range(32)]], 60)
        self.close_clients(warm)
        self.settled(pid)
        line = [bench.request_line(c * per + i, bench.TEXT)
                for c in range(k) for i in range(per)]
        clients = self.connect(sock, k, o.window)
        cpu0, ngx0, busy0 = (tree_cpu(pid), self.nginx_cpu(),
                             bench.busy_seconds())
        t0, t1 = self.run_clients(
            clients, [line[c * per:(c + 1) * per] for c in range(k)],
            bench.RUN_TIMEOUT)
        wall = t1 - t0
        busy = bench.busy_seconds() - busy0
        ngx = self.nginx_cpu() - ngx0
        self.settled(pid)
        cpu = tree_cpu(pid) - cpu0
        ok, seen = 0, set()
        for c in clients:
            for a in map(json.loads, c.answers):
                check(a["ok"] is True and len(a["embeddings"]) == 1 and
                      len(a["embeddings"][0]) == bench.DIMS,
                      f"serve: bad answer {str(a)[:300]}")
                seen.add(a["id"])
                ok += 1
            c.answers = None
        check(ok == n and seen == set(range(n)),
              f"serve: {ok} ok answers for {n} requests")
        self.close_clients(clients)
        self.stop_serve()
        return bench.Bench.tput_row(
            self, f"embedwatch serve, {k} socket clients (≤ {o.window} "
            "outstanding each)", f"--jobs {jobs}", "http", ok, wall, cpu,
            None, ngx, busy)

    def socket_vs_pipe(self):
        n = self.opts.calls
        srv = self.throughput_serve()
        pipe = self.throughput_embedwatch("http", 16)
        for r in (srv, pipe):
            self.rows.append((
                "2. Throughput, " + r["client"].split(",")[0].replace(
                    "embedwatch ", "`") + "`",
                (f"{r['ok']:,} requests from {self.opts.tput_clients} "
                 f"concurrent socket clients (threads of this script, ≤ "
                 f"{self.opts.window} outstanding each)"
                 if "serve" in r["client"] else
                 f"{r['ok']:,} requests from a file on stdin, answers to "
                 "a file") + "; `--jobs 16`, nginx fixed answer (one "
                 f"{bench.DIMS}-dim embedding), plain HTTP",
                f"{r['rate']:,.0f} requests/s ({r['wall']:.2f} s); "
                f"embedwatch {r['cpu_ms']:.2f} ms CPU/request, nginx "
                f"{r['server_ms']:.2f}; other load {r['other']:.2f} CPUs",
                "", None))

    # -- 3. the HTTP front ---------------------------------------------

    def start_http(self, args, tag):
        """serve --listen 127.0.0.1:0 (no Unix socket); returns the port
        it logged."""
        def ready():
            m = re.search(r"serving HTTP on [^ ]+:(\d+) ", self.serve_tail())
            return int(m.group(1)) if m else None
        return self.launch([self.ew, "serve", "--listen", "127.0.0.1:0"] +
                           args, tag, ready, "serving HTTP")

    @staticmethod
    def http_calls(port, n, times=None, encoding="base64"):
        """n sequential POST /v1/embeddings over one keep-alive
        connection; checks each answer; appends each call's ms to times."""
        body = json.dumps({"model": "m", "input": bench.TEXT,
                           "encoding_format": encoding}).encode()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for _ in range(n):
                t0 = time.monotonic()
                c.request("POST", "/v1/embeddings", body,
                          {"Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read()
                if times is not None:
                    times.append((time.monotonic() - t0) * 1000)
                check(r.status == 200, f"HTTP {r.status}: {data[:300]!r}")
                emb = json.loads(data)["data"][0]["embedding"]
                check(len(emb) == (bench.DIMS * 4 + 2) // 3 * 4
                      if encoding == "base64" else len(emb) == bench.DIMS,
                      "wrong embedding")
        finally:
            c.close()

    def http_throughput(self, k, n):
        """n POSTs from one curl process with k parallel keep-alive
        connections (curl -Z: C, so the client costs the shared CPUs
        little more than pipe's file does)."""
        port = self.start_http(["--base-url", self.http_url, "--jobs",
                                "16"], "3")
        pid = self.serve.pid
        self.http_calls(port, 32)
        self.settled(pid)
        body = self.path("http-request.json")
        with open(body, "w") as f:
            json.dump({"model": "m", "input": bench.TEXT,
                       "encoding_format": "base64"}, f)
        cfg = self.path("http-urls.cfg")
        with open(cfg, "w") as f:
            f.write(f'url = "http://127.0.0.1:{port}/v1/embeddings"\n'
                    'output = "/dev/null"\n' * n)
        argv = ["curl", "-sS", "-Z", "--parallel-max", str(k),
                "-H", "Content-Type: application/json", "-H", "Expect:",
                "--data-binary", "@" + body,
                "-w", "%{http_code} %{num_connects}\\n", "-K", cfg]
        self.command("3", argv)
        cpu0, ngx0, busy0 = (tree_cpu(pid), self.nginx_cpu(),
                             bench.busy_seconds())
        t0 = time.monotonic()
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=bench.RUN_TIMEOUT)
        wall = time.monotonic() - t0
        busy = bench.busy_seconds() - busy0
        ngx = self.nginx_cpu() - ngx0
        rows = [line.split() for line in out.stdout.splitlines()]
        codes = collections.Counter(r[0] for r in rows)
        connects = sum(int(r[1]) for r in rows)
        check(out.returncode == 0 and codes == {"200": n},
              f"curl -Z: {codes} {out.stderr[-500:]}")
        check(connects <= 2 * k, f"curl -Z opened {connects} connections "
              f"for {n} calls: not keep-alive")
        self.settled(pid)
        cpu = tree_cpu(pid) - cpu0
        self.stop_serve(socket_file=False)
        return bench.Bench.tput_row(
            self, f"embedwatch serve --listen, {k} keep-alive connections",
            "--jobs 16", "http", n, wall, cpu, None, ngx, busy)

    def http_latency(self, n):
        warm = 20
        p, lines, argv = self.start_pipe(["--base-url", self.http_url,
                                          "--jobs", "16"])
        self.command("3", argv)
        pipe_ms = []
        for i in range(warm + n):
            t0 = time.monotonic()
            bench.write_all(p.stdin.fileno(), bench.request_line(i,
                                                                 bench.TEXT))
            (t, answer), = lines.read(1, 30)
            check(json.loads(answer)["ok"] is True, "pipe: answer not ok")
            if i >= warm:
                pipe_ms.append((t - t0) * 1000)
        self.end_pipe(p)
        port = self.start_http(["--base-url", self.http_url, "--jobs",
                                "16"], "3")
        self.http_calls(port, warm)
        http_ms = []
        self.http_calls(port, n, http_ms)
        self.stop_serve(socket_file=False)
        return pipe_ms, http_ms

    def http_idle_rss(self, n):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = n + 256
        check(hard == resource.RLIM_INFINITY or hard >= want,
              f"the descriptor limit {hard} is below {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
        port = self.start_http(["--base-url", self.http_url, "--jobs", "16",
                                "--max-clients", str(n + 16),
                                "--client-timeout", "600"], "3")
        pid = self.serve.pid
        self.http_calls(port, 32)
        base = self.settled(pid)
        body = json.dumps({"input": bench.TEXT}).encode()
        conns = []
        try:
            for _ in range(n):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                c.request("POST", "/v1/embeddings", body)
                r = c.getresponse()
                r.read()
                check(r.status == 200, f"HTTP {r.status}")
                conns.append(c)
            idle = self.settled(pid)
            socks = self.proc_conns(pid)
        finally:
            for c in conns:
                c.close()
        self.stop_serve(socket_file=False)
        return base, idle, socks

    @staticmethod
    def proc_conns(pid):
        return sum(1 for fd in os.listdir(f"/proc/{pid}/fd")
                   if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(
                       "socket:"))

    def http_front(self):
        o = self.opts
        n, k = o.calls, 8
        # Alternated, so both see the same load from the rest of the
        # machine; the ratio is of the sums.
        rounds = [(self.throughput_embedwatch("http", 16),
                   self.http_throughput(k, n)) for _ in range(o.rounds)]
        pipe_wall = sum(p["wall"] for p, _ in rounds)
        http_wall = sum(q["wall"] for _, q in rounds)
        ok = sum(q["ok"] for _, q in rounds)
        ratio = pipe_wall / http_wall
        each = ", ".join(f"{q['rate']:,.0f} vs {p['rate']:,.0f}"
                         for p, q in rounds)
        self.rows.append((
            "3. HTTP throughput vs pipe",
            f"{o.rounds} rounds, alternated, of {n:,} POST /v1/embeddings "
            f"(base64) from one `curl -Z --parallel-max {k}` (keep-alive) "
            f"vs {n:,} pipe requests from a file; `--jobs 16`, nginx fixed "
            f"answer ({bench.DIMS} dims)",
            f"HTTP {ok / http_wall:,.0f} calls/s "
            f"({sum(q['cpu_ms'] for _, q in rounds) / o.rounds:.2f} ms "
            f"CPU/call), pipe {ok / pipe_wall:,.0f} calls/s "
            f"({sum(p['cpu_ms'] for p, _ in rounds) / o.rounds:.2f} ms "
            f"CPU/call): {ratio:.0%} (rounds: {each})",
            "≥ 90% of pipe", ratio >= 0.9))
        pipe_ms, http_ms = self.http_latency(o.latency_calls)
        added = bench.pct(http_ms, 50) - bench.pct(pipe_ms, 50)
        self.rows.append((
            "3. HTTP added latency",
            f"{len(http_ms)} sequential calls over one keep-alive connection"
            f" vs {len(pipe_ms)} sequential pipe calls, request written → "
            "answer read",
            f"HTTP p50 {bench.pct(http_ms, 50):.3f} ms (p99 "
            f"{bench.pct(http_ms, 99):.3f}), pipe p50 "
            f"{bench.pct(pipe_ms, 50):.3f} ms (p99 "
            f"{bench.pct(pipe_ms, 99):.3f}): added p50 {added:+.3f} ms",
            "p50 ≤ +0.3 ms", added <= 0.3))
        base, idle, socks = self.http_idle_rss(o.idle_conns)
        mib = 1 << 20
        self.rows.append((
            "3. HTTP idle keep-alive connections",
            f"{o.idle_conns:,} connections, one call each, then left open "
            "(workers reaped)",
            f"VmRSS {base[0] / mib:.2f} MiB before → {idle[0] / mib:.2f} MiB"
            f" with them ({socks:,} sockets, {idle[1]:,} fds)",
            "≤ 32 MiB", idle[0] <= 32 * mib))

    # -- report -----------------------------------------------------------

    def report(self, m, started, elapsed):
        lines = [
            "### embedwatch serve benchmark",
            "",
            f"{m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; "
            f"{m['embedwatch']}, nginx {m['nginx']}, Python {m['python']}; "
            f"load average {self.load[0]} at start, {self.load[1]} at end. "
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
        lines += [
            "",
            "Requests/s: first request written → last answer read, by the "
            "clients of this script (Python threads on the same CPUs as "
            "the server, the upstream and nginx). Serve CPU is the "
            "supervisor's and its reaped workers' user+sys from /proc; "
            "pipe's is from wait4. Other load is the machine's busy CPU "
            "(/proc/stat) minus embedwatch's and nginx's, in CPUs; for "
            "serve it includes this script's client threads. Descriptors are /proc/PID/fd entries "
            "(listening socket, client connections, signalfd, log, …); "
            "child processes are those whose parent is the server.",
        ]
        for note in self.notes:
            lines += ["", "Note: " + note]
        lines += ["", "<details><summary>Commands</summary>", "", "```"]
        lines += [f"[{item}] {cmd}" for item, cmd in self.commands]
        lines += ["```", "", "</details>", ""]
        return "\n".join(lines)

    def invocation(self):
        args = " ".join(shlex.quote(a) for a in sys.argv[1:])
        return ("python3 scripts/bench-serve.py " + args).strip()

    def run(self):
        started = datetime.datetime.now(datetime.timezone.utc) \
            .strftime("%Y-%m-%d %H:%M")
        t0 = time.monotonic()
        m = bench.machine(self.ew)
        load0 = bench.load_average()
        items = set(self.opts.items.split(","))
        self.make_answer()
        self.make_tls()         # start_nginx checks its HTTPS side too
        self.start_nginx()
        self.start_fake()
        log(f"nginx on {self.http_port}, fake on {self.fake_port}; temp "
            f"{self.dir}")
        if "1" in items:
            self.soak()
        if "2" in items:
            self.socket_vs_pipe()
        if "3" in items:
            self.http_front()
        self.load = (load0, bench.load_average())
        table = self.report(m, started, time.monotonic() - t0)
        out = os.path.join(ROOT, self.opts.out)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(table)
        print(table)
        log(f"results written to {os.path.relpath(out, ROOT)}")

    def close(self):
        for c in self.clients:
            c.close()
        if self.serve is not None:
            p, self.serve = self.serve, None
            bench.stop(p, signal.SIGTERM, 5)
            self.serve_log.close()
        super().close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get(
        "EW_BIN", os.path.join(ROOT, "bin")), help="where embedwatch is")
    ap.add_argument("--out", default="build/bench/serve.md",
                    help="results file, relative to the top of the tree")
    ap.add_argument("--items", default="1,2,3",
                    help="which items to run (comma-separated)")
    ap.add_argument("--requests", type=int, default=100000,
                    help="soak requests (split evenly between the clients)")
    ap.add_argument("--clients", type=int, default=8,
                    help="soak clients")
    ap.add_argument("--warmup", type=int, default=400,
                    help="soak warm-up requests before the start figures")
    ap.add_argument("--window", type=int, default=64,
                    help="outstanding requests per client")
    ap.add_argument("--soak-timeout", type=float, default=600,
                    help="seconds the soak may take before it fails")
    ap.add_argument("--calls", type=int, default=5000,
                    help="requests per throughput run")
    ap.add_argument("--tput-clients", type=int, default=4,
                    help="socket clients of the serve throughput run")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternated HTTP and pipe throughput rounds")
    ap.add_argument("--latency-calls", type=int, default=500,
                    help="sequential calls of the HTTP latency run")
    ap.add_argument("--idle-conns", type=int, default=1000,
                    help="idle keep-alive connections of the RSS run")
    opts = ap.parse_args()
    for prog in ("nginx", "curl", "openssl"):
        if shutil.which(prog) is None:
            sys.exit(f"bench-serve: '{prog}' not found (scripts/install-deps "
                     "--bench installs it)")
    if not os.access(os.path.join(opts.bin, "embedwatch"), os.X_OK):
        sys.exit(f"bench-serve: no '{opts.bin}/embedwatch' (run make first)")
    signal.signal(signal.SIGTERM, bench.on_signal)
    signal.signal(signal.SIGINT, bench.on_signal)
    b = ServeBench(opts)
    try:
        b.run()
    except BenchError as e:
        log(f"failed: {e}")
        sys.exit(1)
    finally:
        b.close()


if __name__ == "__main__":
    main()
