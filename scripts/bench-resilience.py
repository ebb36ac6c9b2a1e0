#!/usr/bin/env python3
"""embedwatch resilience benchmarks (make bench): hedging, the circuit
breaker, the rate-limit budget, against the fake API (tests/fake/).

  1. tail: 1,000 requests, 8 at a time, server time log-normal (p50 41 ms,
     sigma 0.48: p95 ~90 ms, p99 ~125 ms), every attempt hanging with
     probability 2%, --timeout 1 --retries 2: embedwatch pipe with its
     defaults (--hedge auto) and with --hedge off, beside openai-node
     (scripts/node; timeout 1 s, maxRetries 2) in the same run, and the
     fault-free server through embedwatch --hedge off as the baseline;
  2. hedging on a healthy server: calls per request and p50, defaults
     against --hedge off;
  3. dead endpoint, refused and hanging: how fast circuit_open answers
     come once the circuit is open, how many probes reach the endpoint a
     second, how soon calls flow again once it is back;
  4. rate limits: the fake enforcing 3,000 requests and 1,000,000 tokens
     a minute (both buckets empty at the start, so the whole run is
     paced), a 50,000-text batch: the rate reached against the allowed
     one, and the share of calls answered 429.

Every figure comes from the run that prints it. Markdown goes to stdout
and build/bench/resilience.md. Python 3 standard library only; node and
scripts/node/node_modules for the openai-node rows (skipped, and said so,
when missing). Usage: scripts/bench-resilience.py [--bin DIR] [--quick]
"""
import argparse
import json
import math
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = os.path.join(ROOT, "tests", "fake", "fake_api.py")
NODE_MODULES = os.path.join(ROOT, "scripts", "node", "node_modules")
LOGNORMAL = "41:0.48"

NODE_DRIVER = r"""
const OpenAI = require('openai');
const [baseURL, n, conc] = [process.argv[2], +process.argv[3], +process.argv[4]];
const client = new OpenAI({ baseURL, apiKey: 'bench', timeout: 1000, maxRetries: 2 });
const out = [];
let next = 0;
async function worker() {
  while (next < n) {
    const i = next++;
    const t0 = process.hrtime.bigint();
    let ok = true;
    try {
      await client.embeddings.create({ model: 'text-embedding-3-small',
        input: `text ${i}`, encoding_format: 'float' });
    } catch (e) { ok = false; }
    out.push({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok });
  }
}
Promise.all(Array.from({ length: conc }, worker)).then(() =>
  process.stdout.write(JSON.stringify(out)));
"""


def log(*args):
    print("bench-resilience:", *args, file=sys.stderr, flush=True)


def pct(values, p):
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class Fake:
    def __init__(self, *args, port=0):
        self.dir = tempfile.mkdtemp(prefix="ew-bench-fake-")
        pf = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, "--port-file", pf, "--port", str(port),
             *args], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.exists(pf):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fake API did not start")
            time.sleep(0.01)
        self.port = int(open(pf).read())
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                    timeout=10) as r:
            return json.loads(r.read())

    def close(self):
        self.proc.terminate()
        self.proc.wait()


def env_for(url):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EMBEDWATCH_", "OPENAI_"))}
    env["EMBEDWATCH_BASE_URL"] = url
    env["EMBEDWATCH_API_KEY"] = "bench"
    return env


class Pipe:
    """embedwatch pipe, with answers read as they come."""

    def __init__(self, binary, url, *args):
        self.proc = subprocess.Popen(
            [binary, "pipe", *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env_for(url))
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.pending = b""

    def send(self, obj):
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def answers(self, timeout):
        """Answers that arrive within timeout s (at least one wait)."""
        out = []
        if b"\n" not in self.pending and self.sel.select(timeout):
            self.pending += self.proc.stdout.read(1 << 20) or b""
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            a = json.loads(line)
            a["_t"] = time.monotonic()
            out.append(a)
        return out

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(60)


def closed_loop(binary, url, n, conc, *args):
    """n requests, conc outstanding: [(ms, answer)] and the wall time."""
    p = Pipe(binary, url, *args)
    sent, lat, t0 = {}, [], time.monotonic()
    nxt = 0
    while len(lat) < n:
        while nxt < n and len(sent) < conc:
            sent[nxt] = time.monotonic()
            p.send({"id": nxt, "input": f"text {nxt}"})
            nxt += 1
        for a in p.answers(30):
            lat.append(((a["_t"] - sent.pop(a["id"])) * 1000, a))
    wall = time.monotonic() - t0
    p.close()
    return lat, wall


def summary(name, lat_ms, calls, n, errors):
    return (f"| {name} | {pct(lat_ms, 50):.0f} ms | {pct(lat_ms, 99):.0f} ms "
            f"| {max(lat_ms):.0f} ms | {calls / n:.3f} | {errors} |")


def embedwatch_runs(binary, fake, n, runs, res, rows):
    """Each (name, args) of runs through embedwatch pipe against fake."""
    for name, args in runs:
        fake.get("/_reset")
        lat, _ = closed_loop(binary, fake.url, n, 8, "--timeout", "1",
                             "--retries", "2", *args)
        ms = [m for m, _ in lat]
        res[name] = (ms, fake.get("/_stats")["requests"])
        rows.append(summary(name, ms, res[name][1], n,
                            sum(not a["ok"] for _, a in lat)))


def tail(binary, n, rows):
    """Items 1 and 2; returns the lines of their tables."""
    res = {}
    fake = Fake("--lognormal", LOGNORMAL)
    try:
        embedwatch_runs(binary, fake, n, (
            ("fault-free server, embedwatch --hedge off", ["--hedge", "off"]),
            ("fault-free server, embedwatch defaults", [])), res, rows)
    finally:
        fake.close()
    fake = Fake("--lognormal", LOGNORMAL, "--hang-prob", "0.02")
    try:
        embedwatch_runs(binary, fake, n, (
            ("2% hangs, embedwatch defaults (--hedge auto)", []),
            ("2% hangs, embedwatch --hedge off", ["--hedge", "off"])),
            res, rows)
        if os.path.isdir(os.path.join(NODE_MODULES, "openai")):
            fake.get("/_reset")
            with tempfile.NamedTemporaryFile("w", suffix=".js",
                                             delete=False) as f:
                f.write(NODE_DRIVER)
            env = dict(os.environ, NODE_PATH=NODE_MODULES)
            out = subprocess.run(["node", f.name, fake.url, str(n), "8"],
                                 capture_output=True, env=env, check=True,
                                 timeout=600).stdout
            os.unlink(f.name)
            got = json.loads(out)
            ms = [g["ms"] for g in got]
            calls = fake.get("/_stats")["requests"]
            name = "2% hangs, openai-node 6.49 (timeout 1 s, maxRetries 2)"
            res[name] = (ms, calls)
            rows.append(summary(name, ms, calls, n,
                                sum(not g["ok"] for g in got)))
        else:
            rows.append("| openai-node | not installed "
                        "(scripts/install-node-deps) | | | | |")
    finally:
        fake.close()
    return res


def dead(binary, rows, hang):
    """Item 3, for a refused or a hanging endpoint."""
    args = ["--timeout", "1", "--retries", "0"]
    if hang:
        fake = Fake("--hang-prob", "1")
        port = fake.port
    else:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        fake = None
    p = Pipe(binary, f"http://127.0.0.1:{port}/v1", *args)
    sent, got, i = {}, [], 0
    down_s = 4.0
    t0 = time.monotonic()
    back_at = None
    while True:
        now = time.monotonic()
        if back_at is None and now - t0 >= down_s:
            calls_down = fake.get("/_stats")["requests"] if fake else None
            if fake:
                fake.get("/_set?hang_prob=0")
            else:
                fake = Fake(port=port)
            back_at = time.monotonic()
        if back_at is not None and now - back_at > 3:
            break
        sent[i] = time.monotonic()
        p.send({"id": i, "input": f"t {i}"})
        i += 1
        for a in p.answers(0.005):
            a["_sent"] = sent.pop(a["id"])
            got.append(a)
    for a in p.answers(3):
        a["_sent"] = sent.pop(a["id"])
        got.append(a)
    p.close()
    fake.close()
    opened = [a for a in got if not a["ok"] and
              a["error"]["code"] == "circuit_open"]
    first_open = min(a["_t"] for a in opened)
    after = [a for a in got if a["_sent"] >= first_open and
             a["_t"] < back_at]
    fast = [a for a in after if not a["ok"] and
            a["error"]["code"] == "circuit_open" and
            (a["_t"] - a["_sent"]) * 1000 <= 5]
    probes = [a for a in after if a["ok"] or
              a["error"]["code"] != "circuit_open"]
    oks = [a["_t"] for a in got if a["ok"] and a["_t"] >= back_at]
    recovery = (min(oks) - back_at) if oks else float("nan")
    span = back_at - first_open
    kind = "every call hangs (--timeout 1)" if hang else "refused"
    probe_rate = len(probes) / span if span > 0 else float("nan")
    reached = ""
    if hang and calls_down is not None:
        reached = f"; {calls_down} calls reached it in {down_s:.0f} s"
    rows.append(f"| {kind} | opened after {(first_open - t0) * 1000:.0f} ms "
                f"| {100 * len(fast) / max(1, len(after)):.2f}% of "
                f"{len(after)} | {probe_rate:.2f}/s{reached} "
                f"| {recovery * 1000:.0f} ms |")


def rate_limits(binary, texts, rows):
    """Item 4."""
    rpm, tpm = 3000, 1000000
    d = tempfile.mkdtemp(prefix="ew-bench-rl-")
    src = os.path.join(d, "in.txt")
    words = "of the benchmark corpus with ten words in"
    with open(src, "w") as f:
        for i in range(texts):
            f.write(f"sentence {i} {words}\n")
    fake = Fake("--rl-rpm", str(rpm), "--rl-tpm", str(tpm),
                "--rl-start-requests", "0", "--rl-start-tokens", "0")
    try:
        t0 = time.monotonic()
        p = subprocess.run([binary, "batch", src, "-o",
                            os.path.join(d, "out.jsonl"), "--no-progress"],
                           env=env_for(fake.url), capture_output=True,
                           timeout=1200)
        wall = time.monotonic() - t0
        st = fake.get("/_stats")
    finally:
        fake.close()
    calls, limited = st["requests"], st["rate_limited"]
    ok_calls = calls - limited
    tokens_per_call = 10 * 64
    allowed = min(rpm / 60, tpm / 60 / tokens_per_call)
    rows.append(f"| {texts:,} texts, batch of 64, exit {p.returncode} "
                f"| {wall:.1f} s | {ok_calls / wall:.2f} calls/s of "
                f"{allowed:.2f} allowed ({100 * ok_calls / wall / allowed:.1f}%)"
                f" | {limited} of {calls} ({100 * limited / max(1, calls):.2f}%) |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--quick", action="store_true",
                    help="fewer requests and texts (a smoke run)")
    ap.add_argument("--items", default="1,3,4")
    opts = ap.parse_args()
    binary = os.path.join(opts.bin, "embedwatch")
    items = set(opts.items.split(","))
    n = 200 if opts.quick else 1000
    out = ["# embedwatch resilience benchmarks", "",
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
           f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", ""]
    if "1" in items:
        log("tail latency")
        rows = []
        res = tail(binary, n, rows)
        out += [f"Tail: {n} requests, 8 at a time, server log-normal "
                f"({LOGNORMAL}), --timeout 1 --retries 2", "",
                "| client | p50 | p99 | max | calls/request | errors |",
                "|---|---|---|---|---|---|"] + rows + [""]
        base = res["fault-free server, embedwatch --hedge off"][0]
        hedged = res["2% hangs, embedwatch defaults (--hedge auto)"]
        ff = res["fault-free server, embedwatch defaults"]
        out += [f"- p99 with 2% hangs, defaults / fault-free p99: "
                f"{pct(hedged[0], 99) / pct(base, 99):.2f}x (target <= 1.25x);"
                f" calls/request {hedged[1] / n:.3f} (target <= 1.10)",
                f"- fault-free, defaults against --hedge off: calls/request "
                f"{ff[1] / n:.3f} (target <= 1.05), p50 {pct(ff[0], 50):.1f} "
                f"against {pct(base, 50):.1f} ms", ""]
    if "3" in items:
        log("dead endpoint")
        rows = []
        dead(binary, rows, hang=False)
        dead(binary, rows, hang=True)
        out += ["Dead endpoint: a request sent whenever an answer comes or "
                "5 ms pass, the endpoint down 4 s then back (defaults, "
                "--timeout 1 --retries 0)", "",
                "| endpoint | circuit | answered circuit_open <= 5 ms, once "
                "open | probes | first ok after it is back |",
                "|---|---|---|---|---|"] + rows + [""]
    if "4" in items:
        log("rate limits")
        rows = []
        rate_limits(binary, 5000 if opts.quick else 50000, rows)
        out += ["Rate limits: fake at 3,000 requests/min and 1,000,000 "
                "tokens/min, both buckets empty at the start", "",
                "| run | time | rate | 429s |", "|---|---|---|---|"] + rows
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.join(ROOT, "build", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench", "resilience.md"),
              "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
