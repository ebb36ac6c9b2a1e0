#!/usr/bin/env python3
"""Run embedwatch's tests and end with one line: `N passed, N failed`.

Suites are given as NAME:BINDIR:UNITDIR. Once, before the suites, it runs
the static checks (tests/check_layers.py on the tree, then on its own
fixtures; tests/check_man.py, mandoc's lint of man/). For each suite it runs every unit test binary in UNITDIR
(counting cmocka's test cases) and every integration scenario
tests/integration/t_*.py against the binaries in BINDIR. --tests picks
tests by name (test_buf, t_fault_hang, layers; a comma list of globs); a
name that picks nothing counts as a failure. Output of a failed test is
kept in tests/log/NAME/ (tests/log/check/ for the static checks); passing
tests leave nothing.
"""
import argparse
import fnmatch
import glob
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_DIR = os.path.join(ROOT, "tests", "log")
SCENARIO_TIMEOUT = 600

# Static checks: name -> command, run from ROOT; each counts as one test.
CHECKS = {
    "layers": [sys.executable, "tests/check_layers.py"],
    "layers-selftest": [sys.executable, "tests/check_layers.py",
                        "--self-test"],
    # Every libFuzzer harness in tests/fuzz/ for 10 s (skipped, saying
    # so, when `make fuzz-build` found no clang with libFuzzer).
    "fuzz": [sys.executable, "tests/fuzz/run.py", "--seconds", "10"],
    "man": [sys.executable, "tests/check_man.py"],
}

passed = 0
failed = 0
# The --tests patterns, and those that picked something.
patterns = []
matched = set()


def picked(name):
    """Whether --tests selects the test called name (all if not given)."""
    if not patterns:
        return True
    hits = [p for p in patterns if fnmatch.fnmatchcase(name, p)]
    matched.update(hits)
    return bool(hits)


def test_name(arg):
    """A --tests item as a test name: tests/integration/t_x.py is t_x."""
    name = os.path.basename(arg.strip())
    return name[:-3] if name.endswith(".py") else name


def record(ok, label, detail, output, log_name):
    global passed, failed
    status = "PASS" if ok else "FAIL"
    print(f"{status} {label}{detail}", flush=True)
    path = os.path.join(LOG_DIR, log_name)
    if ok:
        if os.path.exists(path):
            os.unlink(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", errors="replace") as f:
        f.write(output)
    print(f"     log: {os.path.relpath(path, ROOT)}", flush=True)
    tail = output.strip().splitlines()[-15:]
    for line in tail:
        print(f"     | {line}", flush=True)


def run_checks():
    global passed, failed
    for name, cmd in CHECKS.items():
        if not picked(name):
            continue
        start = time.monotonic()
        p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           errors="replace", timeout=SCENARIO_TIMEOUT)
        ok = p.returncode == 0
        passed += ok
        failed += not ok
        record(ok, f"check/{name}", f" ({time.monotonic() - start:.1f} s)",
               p.stdout, os.path.join("check", f"{name}.log"))


def run_unit(suite, unit_dir, env):
    global passed, failed
    for exe in sorted(glob.glob(os.path.join(unit_dir, "test_*"))):
        if not os.access(exe, os.X_OK) or exe.endswith(".d"):
            continue
        name = os.path.basename(exe)
        if not picked(name):
            continue
        try:
            p = subprocess.run([exe], cwd=ROOT, env=env, capture_output=True,
                               text=True, errors="replace", timeout=300)
            out, rc = p.stdout + p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = f"timed out after 300 s\n{e.stdout or ''}", -1
        n_pass = sum(int(m) for m in
                     re.findall(r"\[  PASSED  \] (\d+) test", out))
        n_fail = sum(int(m) for m in
                     re.findall(r"\[  FAILED  \] (\d+) test", out))
        if rc != 0 and n_fail == 0:
            n_fail = 1          # crashed or refused to run
        passed += n_pass
        failed += n_fail
        record(n_fail == 0, f"{suite}/unit/{name}",
               f" ({n_pass} passed, {n_fail} failed)", out,
               os.path.join(suite, f"unit-{name}.log"))
        # record() counted nothing: cases were counted above.


def run_integration(suite, bin_dir, env):
    global passed, failed
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "integration",
                                          "t_*.py")))
    for path in files:
        name = os.path.basename(path)[:-3]
        if not picked(name):
            continue
        start = time.monotonic()
        try:
            p = subprocess.run([sys.executable, path], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               errors="replace", timeout=SCENARIO_TIMEOUT)
            out, ok = p.stdout, p.returncode == 0
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"")
            if isinstance(out, bytes):
                out = out.decode(errors="replace")
            out += f"\ntimed out after {SCENARIO_TIMEOUT} s\n"
            ok = False
        # A scenario that runs a suite of its own reports its counts in
        # a line "...: N passed, N failed"; others count as one test.
        inner = re.findall(r"^[^\n]*: (\d+) passed, (\d+) failed",
                           out, re.M)
        if inner:
            n_pass, n_fail = (int(x) for x in inner[-1])
            if not ok and n_fail == 0:
                n_fail = 1
        else:
            n_pass, n_fail = (1, 0) if ok else (0, 1)
        passed += n_pass
        failed += n_fail
        detail = f" ({n_pass} passed, {n_fail} failed)" if inner else ""
        record(ok, f"{suite}/integration/{name}",
               f"{detail} ({time.monotonic() - start:.1f} s)", out,
               os.path.join(suite, f"{name}.log"))


def main():
    global failed
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", action="append", required=True,
                    help="NAME:BINDIR:UNITDIR")
    ap.add_argument("--only", choices=["check", "unit", "integration"],
                    help="run only the static checks, the unit tests or "
                    "the integration scenarios")
    ap.add_argument("--tests", metavar="NAMES", default="",
                    help="comma list of test names or globs: test_buf, "
                    "t_fault_*, layers")
    args = ap.parse_args()
    patterns.extend(test_name(t) for t in args.tests.split(",")
                    if t.strip())
    if args.only in (None, "check"):
        run_checks()
    for spec in args.suite:
        name, bin_dir, unit_dir = spec.split(":")
        env = dict(os.environ)
        env["EW_BIN"] = os.path.join(ROOT, bin_dir)
        env["EW_SUITE"] = name
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        if args.only in (None, "unit"):
            run_unit(name, os.path.join(ROOT, unit_dir), env)
        if args.only in (None, "integration"):
            run_integration(name, os.path.join(ROOT, bin_dir), env)
    for p in patterns:
        if p not in matched:
            kind = f"{args.only} " if args.only else ""
            print(f"FAIL no {kind}test matches '{p}'", flush=True)
            failed += 1
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or passed == 0 else 0)


if __name__ == "__main__":
    main()
