#!/usr/bin/env python3
"""Run every libFuzzer harness in build/fuzz/fuzz/ for a bounded time.

Each harness tests/fuzz/fuzz_NAME.c runs --seconds over its seed corpus
tests/fuzz/corpus/NAME/ (read only) plus a scratch corpus in
build/fuzz/corpus/NAME/ (what it finds, kept between runs). A crash, a
leak or a sanitizer report fails the run; its input is saved in
tests/log/fuzz/. Without the harnesses (no clang that links libFuzzer,
see `make fuzz-build`) it says the fuzzing was skipped and succeeds.
--jobs N runs that many harnesses at once; --nice N lowers their priority.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN_DIR = os.path.join(ROOT, "build", "fuzz", "fuzz")
SEEDS = os.path.join(ROOT, "tests", "fuzz", "corpus")
SCRATCH = os.path.join(ROOT, "build", "fuzz", "corpus")
ARTIFACTS = os.path.join(ROOT, "tests", "log", "fuzz")


def command(exe, seconds, nice):
    name = os.path.basename(exe)[len("fuzz_"):]
    scratch = os.path.join(SCRATCH, name)
    os.makedirs(scratch, exist_ok=True)
    os.makedirs(ARTIFACTS, exist_ok=True)
    cmd = [exe, f"-max_total_time={seconds}", "-timeout=10",
           "-rss_limit_mb=2048", "-max_len=65536", "-print_final_stats=1",
           f"-artifact_prefix={ARTIFACTS}/{name}-", scratch]
    seeds = os.path.join(SEEDS, name)
    if os.path.isdir(seeds):
        cmd.append(seeds)
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    return name, cmd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--nice", type=int, default=0)
    ap.add_argument("names", nargs="*", help="harnesses to run (all)")
    args = ap.parse_args()
    exes = sorted(e for e in glob.glob(os.path.join(BIN_DIR, "fuzz_*"))
                  if os.access(e, os.X_OK) and not e.endswith((".d", ".o")))
    if args.names:
        exes = [e for e in exes if os.path.basename(e)[5:] in args.names]
    if not exes:
        print("fuzz: skipped: no harnesses in build/fuzz/fuzz/ (needs "
              "clang and libclang-rt-14-dev; see `make fuzz-build`)")
        return 0
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    failed = 0
    pending = [command(e, args.seconds, args.nice) for e in exes]
    running = []
    while pending or running:
        while pending and len(running) < args.jobs:
            name, cmd = pending.pop(0)
            p = subprocess.Popen(cmd, cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True,
                                 errors="replace")
            running.append((name, p))
        name, p = running.pop(0)
        out = p.communicate()[0]
        runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
        runs = runs.group(1) if runs else "?"
        if p.returncode == 0:
            print(f"fuzz {name}: ok, {runs} executions in "
                  f"{args.seconds} s")
        else:
            failed += 1
            print(f"fuzz {name}: FAILED (exit {p.returncode}) after "
                  f"{runs} executions")
            print("\n".join(out.strip().splitlines()[-40:]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
