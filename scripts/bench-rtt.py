#!/usr/bin/env python3
"""The call path at a simulated round trip (make bench): embedwatch beside
the real openai-node SDK (keep-alive) and a one-process keep-alive libcurl
loop (the floor, bench/floor.c), all over HTTPS to the fake API
(tests/fake/fake_api.py with a self-signed certificate), through a small
TCP proxy that delays each direction by RTT/2 (this VM has no netem).

Rows: sequential calls at each RTT (p50, p99), then LANES calls at a time
for --burst calls (calls/s), then CPU per HTTPS call with no delay, and
the proxy's own cost (delay 0 against no proxy, floor client). Every
figure of a run is taken beside its baselines in the same run; the
machine is shared, so compare ratios, not absolute numbers.

    python3 scripts/bench-rtt.py --floor build/bench/floor [--calls 100]

Also the proxy itself: bench-rtt.py --proxy PORT_FILE TARGET_PORT DELAY_MS.
"""
import argparse
import asyncio
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


# --- the delaying proxy ------------------------------------------------------

async def proxy(port_file, target_port, delay_ms):
    loop = asyncio.get_running_loop()
    delay = delay_ms / 1000

    async def pipe(reader, writer):
        """Forward reader to writer, each chunk delay seconds after it
        came; EOF too."""
        queue = asyncio.Queue()

        async def sender():
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()
        task = asyncio.ensure_future(sender())
        try:
            while True:
                data = await reader.read(1 << 16)
                queue.put_nowait((loop.time() + delay, data or None))
                if not data:
                    break
        except ConnectionError:
            queue.put_nowait((loop.time() + delay, None))
        try:
            await task
        except ConnectionError:
            pass

    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, sw), pipe(sr, cw),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    await asyncio.Event().wait()


# --- the run -----------------------------------------------------------------

class Bench:
    def __init__(self, opts):
        self.opts = opts
        self.dir = tempfile.mkdtemp(prefix="ew-bench-rtt-")
        self.procs = []
        self.rows = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self, argv, port_file, env=None):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
        self.procs.append(p)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench-rtt: cannot start {argv[:2]}")
            time.sleep(0.02)
        return int(open(port_file).read())

    def setup(self):
        self.cert = self.path("cert.pem")
        key = self.path("key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
             "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", key, "-out", self.cert], check=True,
            capture_output=True)
        self.fake_port = self.start(
            [sys.executable, os.path.join(ROOT, "tests/fake/fake_api.py"),
             "--port-file", self.path("fake.port"), "--tls-cert", self.cert,
             "--tls-key", key], self.path("fake.port"))
        self.proxies = {}

    def url(self, rtt_ms):
        """The base URL through a proxy of rtt_ms (None: no proxy)."""
        if rtt_ms is None:
            return f"https://127.0.0.1:{self.fake_port}/v1"
        if rtt_ms not in self.proxies:
            pf = self.path(f"proxy{rtt_ms}.port")
            self.proxies[rtt_ms] = self.start(
                [sys.executable, os.path.abspath(__file__), "--proxy", pf,
                 str(self.fake_port), str(rtt_ms / 2)], pf)
        return f"https://127.0.0.1:{self.proxies[rtt_ms]}/v1"

    def lanes_of(self, argv, env=None):
        """Run a client that prints "lane us" per call; returns (ms
        latencies, wall seconds, CPU seconds of it and its children)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        out = subprocess.run(argv, capture_output=True, text=True, env=env,
                             timeout=600)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise SystemExit(f"bench-rtt: {argv[0]} failed: {out.stderr}")
        ms = [int(line.split()[1]) / 1000
              for line in out.stdout.splitlines() if line.strip()]
        cpu = (after.ru_utime + after.ru_stime -
               before.ru_utime - before.ru_stime)
        return ms, wall, cpu

    def floor(self, url, calls, lanes):
        return self.lanes_of([self.opts.floor, url + "/embeddings",
                              str(calls), str(lanes), self.cert])

    def node(self, url, calls, lanes):
        env = dict(os.environ, NODE_PATH=os.path.join(
            ROOT, "scripts/node/node_modules"),
            NODE_EXTRA_CA_CERTS=self.cert)
        return self.lanes_of(["node", os.path.join(
            ROOT, "scripts/node/bench-calls.js"), url, str(calls),
            str(lanes)], env)

    def embedwatch(self, url, calls, lanes, extra=()):
        """calls through `embedwatch pipe`, lanes outstanding; latency from
        writing the request line to reading its answer."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("EMBEDWATCH_", "OPENAI_"))}
        env.update(EMBEDWATCH_BASE_URL=url, EMBEDWATCH_API_KEY="bench")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.Popen(
            [os.path.join(self.opts.bin, "embedwatch"), "pipe", "--cacert",
             self.cert, *extra], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        time.sleep(1.0)     # startup: the pool connects, as a service's
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        sent, ms, pending, nxt = {}, [], b"", 0

        def send():
            nonlocal nxt
            sent[nxt] = time.monotonic()
            p.stdin.write(json.dumps({"id": nxt, "input":
                                      f"ew {nxt}"}).encode() + b"\n")
            p.stdin.flush()
            nxt += 1
        t0 = time.monotonic()
        for _ in range(lanes):
            send()
        while len(ms) < calls:
            sel.select(60)
            chunk = os.read(p.stdout.fileno(), 1 << 20)
            if not chunk:
                raise SystemExit("bench-rtt: embedwatch closed its output")
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                now = time.monotonic()
                a = json.loads(line)
                if not a.get("ok"):
                    raise SystemExit(f"bench-rtt: embedwatch: {a}")
                ms.append((now - sent.pop(a["id"])) * 1000)
                if nxt < calls:
                    send()
        wall = time.monotonic() - t0
        p.stdin.close()
        p.wait(60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime -
               before.ru_utime - before.ru_stime)
        return ms, wall, cpu

    def row(self, *cells):
        self.rows.append(cells)
        print(" | ".join(str(c) for c in cells), flush=True)

    def run(self):
        o = self.opts
        self.setup()
        self.row("item", "client", "figure")
        # The proxy's own cost: delay 0 against no proxy, same client.
        direct, _, _ = self.floor(self.url(None), o.calls, 1)
        zero, _, _ = self.floor(self.url(0), o.calls, 1)
        self.row("proxy cost (floor client, p50)",
                 f"direct {pct(direct, 50):.2f} ms",
                 f"through a 0 ms proxy {pct(zero, 50):.2f} ms")
        for rtt in o.rtts:
            url = self.url(rtt)
            for name, fn in (("floor", self.floor), ("openai-node",
                             self.node), ("embedwatch", self.embedwatch)):
                ms, _, _ = fn(url, o.calls, 1)
                self.row(f"sequential, {rtt} ms RTT", name,
                         f"p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} "
                         f"ms")
        rtt = o.rtts[0]
        url = self.url(rtt)
        for name, fn in (("floor", self.floor), ("openai-node", self.node),
                         ("embedwatch", self.embedwatch)):
            ms, wall, _ = fn(url, o.burst, o.lanes)
            self.row(f"{o.lanes} at a time, {o.burst} calls, {rtt} ms RTT",
                     name, f"{o.burst / wall:.0f} calls/s, p50 "
                     f"{pct(ms, 50):.1f} ms")
        ms, wall, cpu = self.embedwatch(self.url(None), o.cpu_calls, 8)
        self.row(f"CPU per HTTPS call, {o.cpu_calls} calls, 8 at a time, "
                 "no delay", "embedwatch (supervisor + workers)",
                 f"{cpu / o.cpu_calls * 1000:.2f} ms")
        ms, wall, cpu = self.floor(self.url(None), o.cpu_calls, 8)
        self.row("... the same", "floor", f"{cpu / o.cpu_calls * 1000:.2f} "
                 "ms")

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--proxy":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        asyncio.run(proxy(sys.argv[2], int(sys.argv[3]),
                          float(sys.argv[4])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--floor", default=os.path.join(ROOT,
                                                    "build/bench/floor"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--rtts", type=lambda s: [int(x) for x in s.split(",")],
                    default=[20, 80])
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--lanes", type=int, default=8)
    ap.add_argument("--cpu-calls", type=int, default=1000)
    b = Bench(ap.parse_args())
    try:
        b.run()
    finally:
        b.close()


if __name__ == "__main__":
    main()
