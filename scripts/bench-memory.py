#!/usr/bin/env python3
"""embedwatch memory per answer: the supervisor's peak RSS for one big answer.

`embedwatch pipe` against the fake API (tests/fake/), one request at a
time in a fresh process: a tiny one (the baseline) and answers of about
1, 6 and 22 MB (N inputs x D dimensions as float text). Reported: the
answer's size, the supervisor's VmHWM and VmRSS once it is written, and
(VmHWM - baseline) / answer size, the multiple the issue bounds. --bin
DIR compares another build. Markdown to stdout and build/bench/memory.md.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

SIZES = [(1, 8), (16, 4096), (64, 8192), (256, 8192)]


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def measure(bin_dir, api, n, dims):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EMBEDWATCH_", "OPENAI_"))}
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    p = subprocess.Popen([os.path.join(bin_dir, "embedwatch"), "pipe",
                          "--timeout", "120"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=env)
    req = {"id": 1, "input": [f"text {i}" for i in range(n)],
           "dimensions": dims}
    p.stdin.write((json.dumps(req) + "\n").encode())
    p.stdin.flush()
    answer = p.stdout.readline()
    hwm, rss = status_kb(p.pid, "VmHWM"), status_kb(p.pid, "VmRSS")
    p.stdin.close()
    p.wait()
    if b'"ok":true' not in answer[:200]:
        raise SystemExit(f"bench-memory: not ok: {answer[:300]!r}")
    return len(answer), hwm, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"))
    args = ap.parse_args()
    rows = []
    with harness.FakeAPI() as api:
        base = None
        for n, dims in SIZES:
            size, hwm, rss = measure(args.bin, api, n, dims)
            if base is None:
                base = hwm
                rows.append(f"| baseline ({n} x {dims}) | {size:,} B | "
                            f"{hwm / 1024:.1f} | {rss / 1024:.1f} | – |")
                continue
            ratio = (hwm - base) * 1024 / size
            rows.append(f"| {n} x {dims} | {size / 1e6:.1f} MB | "
                        f"{hwm / 1024:.1f} | {rss / 1024:.1f} | "
                        f"{ratio:.2f} |")
    table = ("| answer (inputs x dims) | size | peak RSS MiB | RSS after "
             "MiB | (peak - baseline) / size |\n|---|---:|---:|---:|---:|\n"
             + "\n".join(rows) + "\n")
    print(table)
    os.makedirs(os.path.join(ROOT, "build", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench", "memory.md"), "w") as f:
        f.write(table)


if __name__ == "__main__":
    main()
