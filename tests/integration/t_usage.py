"""Proves: help (--help, -h, `help [CMD]`, CMD --help) and --version work, each command's help lists its own options only, and bad usage or configuration fails at start with one clear line naming the option (a usage error adds one hint line, in one format for every error) and the documented exit status."""
import re
import subprocess

import harness as h

HINT = re.compile(r"^Try 'embedwatch help( (pipe|batch|serve))?' for more "
                  r"information\.$")


def run(*args, env=None, binary=None):
    p = subprocess.run([binary or h.EMBEDWATCH, *args], capture_output=True,
                       text=True, input="", timeout=30, env=env)
    return p.returncode, p.stdout, p.stderr


def scenario():
    rc, full, err = run("--help")
    h.check(rc == 0 and "--timeout" in full and "--socket" in full and
            "--resume" in full, "help", rc, full)
    for args in (["-h"], ["help"]):
        rc, out, err = run(*args)
        h.check(rc == 0 and out == full, f"{args} is --help", out)
    for cmd, has, lacks in (("pipe", "--timeout", ["--socket", "--resume"]),
                            ("batch", "--resume", ["--socket"]),
                            ("serve", "--socket-mode", ["--resume"])):
        rc, out, err = run("help", cmd)
        h.check(rc == 0 and out.startswith(f"usage: embedwatch {cmd} "),
                f"help {cmd}", out)
        h.check(has in out and "--timeout" in out, f"help {cmd} has {has}")
        for opt in lacks:
            h.check(opt not in out, f"help {cmd} lacks {opt}", out)
        for args in ([cmd, "--help"], [cmd, "-h"], [cmd, "--jobs", "2",
                                                    "--help"]):
            rc, same, err = run(*args)
            h.check(rc == 0 and same == out, f"{args} is help {cmd}", same)

    rc, out, err = run("pipe", "--version")
    h.check(rc == 0 and re.fullmatch(r"embedwatch \d+\.\d+\.\d+\n", out),
            "version", out)
    rc, wout, err = run("--version", binary=h.WORKER)
    h.check(rc == 0 and wout == "embedwatch-worker" + out[len("embedwatch"):],
            "worker and supervisor give one version", out, wout)

    cases = [
        (["frobnicate"], 64, "unknown command 'frobnicate'"),
        ([], 64, "no command given"),
        (["help", "frob"], 64, "unknown command 'frob'"),
        (["pipe", "--timeout"], 64, "option '--timeout' needs a value"),
        (["batch", "-o"], 64, "option '--output' needs a value"),
        (["pipe", "--timeout", "soon"], 64, "--timeout"),
        (["pipe", "--timeout", "0"], 64, "--timeout"),
        (["pipe", "--jobs", "0"], 64, "--jobs"),
        (["pipe", "--retries", "-1"], 64, "--retries"),
        (["pipe", "--bogus"], 64, "unknown option '--bogus'"),
        (["pipe", "--bogus=/tmp/value"], 64, "unknown option '--bogus'"),
        (["pipe", "--socket", "/tmp/x"], 64,
         "option '--socket' is not for 'embedwatch pipe'"),
        (["pipe", "--log", "x"], 64, "option '--log' is ambiguous"),
        (["pipe", "extra"], 64, "extra"),
        (["pipe", "--warm", "9"], 64, "--warm"),
        (["pipe", "--proxy", "a b"], 64, "--proxy"),
        (["pipe", "--base-url", "ftp://x/v1"], 78, "ftp://x/v1"),
        (["pipe", "--cacert", "/nonexistent.pem"], 78, "/nonexistent.pem"),
        (["pipe", "--api-key-file", "/nonexistent"], 78, "/nonexistent"),
        (["pipe", "--encoding", "hex"], 64, "--encoding"),
        (["pipe", "--log-level", "loud"], 64, "--log-level"),
    ]
    for args, want, mention in cases:
        rc, out, err = run(*args)
        lines = err.rstrip("\n").split("\n")
        h.check(rc == want, f"{args}: exit {rc}, want {want}", err)
        h.check(mention in lines[0], f"{args}: message names {mention!r}",
                err)
        h.check(lines[0].startswith("embedwatch: "), f"{args}: format", err)
        h.check("/tmp/value" not in err, f"{args}: names the value", err)
        h.check(out == "", f"{args}: nothing on stdout", out)
        if want == 64:
            h.check(len(lines) == 2 and HINT.match(lines[1]),
                    f"{args}: one usage-error format", err)
        else:
            h.check(len(lines) == 1, f"{args}: one line", err)

    for args, mention in ((["--timeout"], "option '--timeout' needs a value"),
                          (["--bogus"], "unknown option '--bogus'"),
                          (["--timeout", "x"], "--timeout wants")):
        rc, out, err = run(*args, binary=h.WORKER)
        h.check(rc == 64 and err.startswith(f"embedwatch-worker: {mention}")
                and err.endswith("Try 'embedwatch-worker --help' for more "
                                 "information.\n"), f"worker {args}", err)


h.main(scenario)
