"""Proves: --help and --version work, and bad usage or configuration fails at start with one clear line and the documented exit status."""
import subprocess

import harness as h


def run(*args, env=None):
    p = subprocess.run([h.EMBEDWATCH, *args], capture_output=True,
                       text=True, input="", timeout=30, env=env)
    return p.returncode, p.stdout, p.stderr


def scenario():
    rc, out, err = run("--help")
    h.check(rc == 0 and "--timeout" in out, "help", rc, out)
    rc, out, err = run("pipe", "--version")
    h.check(rc == 0 and out.startswith("embedwatch "), "version", out)
    cases = [
        (["frobnicate"], 64, "unknown command"),
        ([], 64, "usage"),
        (["pipe", "--timeout", "soon"], 64, "--timeout"),
        (["pipe", "--timeout", "0"], 64, "--timeout"),
        (["pipe", "--jobs", "0"], 64, "--jobs"),
        (["pipe", "--retries", "-1"], 64, "--retries"),
        (["pipe", "--bogus"], 64, "--bogus"),
        (["pipe", "extra"], 64, "extra"),
        (["pipe", "--base-url", "ftp://x/v1"], 78, "ftp://x/v1"),
        (["pipe", "--cacert", "/nonexistent.pem"], 78, "/nonexistent.pem"),
        (["pipe", "--api-key-file", "/nonexistent"], 78, "/nonexistent"),
        (["pipe", "--encoding", "hex"], 64, "--encoding"),
        (["pipe", "--log-level", "loud"], 64, "--log-level"),
    ]
    for args, want, mention in cases:
        rc, out, err = run(*args)
        h.check(rc == want, f"{args}: exit {rc}, want {want}", err)
        h.check(mention in err, f"{args}: message names {mention!r}", err)
        h.check(out == "", f"{args}: nothing on stdout", out)
        h.check(len(err.strip().splitlines()) <= 2, f"{args}: short", err)


h.main(scenario)
