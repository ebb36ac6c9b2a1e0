"""Proves: batch rides out an outage instead of failing the corpus: while the endpoint refuses connections its circuit opens and the lines wait (no input listed as failed, no call while it is open beyond the probes), and when it comes back every input is written, with exit 0; an outage longer than --max-outage stops the run with exit 75, nothing listed as failed, no worker left, and --resume finishes it."""
import json
import os
import socket
import subprocess
import tempfile
import time

import harness as h

N = 60


def free_port():
    """A loopback port nobody listens on (for now)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def batch(port, src, out, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    return subprocess.Popen(
        [h.EMBEDWATCH, "batch", src, "-o", out, "--batch-size", "4",
         "--jobs", "4", "--retries", "3", "--timeout", "5", *args],
        env=env, stderr=subprocess.PIPE)


def records(path):
    return [json.loads(x) for x in open(path)] if os.path.exists(path) \
        else []


def comes_back(d, src):
    """Down for the first seconds of the run, then up."""
    port = free_port()
    out = os.path.join(d, "back.jsonl")
    p = batch(port, src, out)
    time.sleep(2.5 * h.SLACK)
    h.check(p.poll() is None, "still waiting while the endpoint is down",
            p.stderr.read().decode() if p.poll() is not None else "")
    with h.FakeAPI("--port", str(port)) as api:
        err = p.communicate(timeout=60 * h.SLACK)[1].decode()
        h.check(p.returncode == 0, f"exit {p.returncode}", err[-3000:])
        got = records(out)
        h.check([r["id"] for r in got] == list(range(1, N + 1)),
                "every input written, in order", err[-2000:])
        h.check(all(r.get("embedding") for r in got), "all embedded")
        h.check(records(out + ".errors") == [], "no input failed")
        h.check("circuit is open: lines wait" in err, "says it waits", err)
        h.check("answers again" in err, "says it goes on", err)
        calls = len(api.calls())
        h.check(calls <= N // 4 + 3, f"{calls} calls for {N // 4} chunks: "
                "no chunk was sent again once answered")
        h.check(h.children(p.pid) == [], "no workers left")


def stays_down(d, src):
    """Down for longer than --max-outage: stop, resumable."""
    port = free_port()
    out = os.path.join(d, "down.jsonl")
    start = time.monotonic()
    p = batch(port, src, out, "--max-outage", "2")
    err = p.communicate(timeout=60 * h.SLACK)[1].decode()
    took = time.monotonic() - start
    h.check(p.returncode == 75, f"exit {p.returncode}, not 75", err[-3000:])
    h.check(2 <= took <= 20 * h.SLACK, f"stopped after {took:.1f} s", err)
    h.check("stopping: the endpoint's circuit has been open for" in err,
            "names the outage", err[-2000:])
    h.check("--resume" in err, "says how to go on", err[-2000:])
    h.check(records(out) == [], "nothing written")
    h.check(records(out + ".errors") == [], "nothing listed as failed")
    with h.FakeAPI("--port", str(port)):
        p = batch(port, src, out, "--resume")
        err = p.communicate(timeout=60 * h.SLACK)[1].decode()
        h.check(p.returncode == 0, f"resume: exit {p.returncode}", err)
    h.check([r["id"] for r in records(out)] == list(range(1, N + 1)),
            "the resume wrote every input")


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("".join(f"text {i}\n" for i in range(N)))
    comes_back(d, src)
    stays_down(d, src)


h.main(scenario)
