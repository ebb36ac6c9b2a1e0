"""Proves: batch ends with a one-line message and its own exit status for each bad start: 66 for a missing or unreadable input, 73 for an output it cannot create, 64 for .npy or --resume without -o and for OUT being the input, 0 for an empty input (an empty OUT and a valid [0, 0] .npy)."""
import os
import subprocess
import tempfile

import harness as h


def run(*args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = "http://127.0.0.1:9/v1"
    return subprocess.run([h.EMBEDWATCH, "batch", *args], env=env,
                          capture_output=True, timeout=60 * h.SLACK)


def expect(p, status, message):
    err = p.stderr.decode()
    h.check(p.returncode == status, f"exit {p.returncode}, not {status}",
            err)
    h.check(message in err, f"message {message!r}", err)
    lines = err.strip().splitlines()
    # A usage error found while parsing adds the one hint line.
    if status == 64 and len(lines) == 2:
        h.check(lines[1] == "Try 'embedwatch help batch' for more "
                "information.", "the usage hint", err)
    else:
        h.check(len(lines) == 1, "one line", err)


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("a\n")
    missing = os.path.join(d, "missing.txt")
    expect(run(missing, "-o", os.path.join(d, "o.jsonl")), 66,
           f"cannot open input '{missing}': No such file or directory")
    h.check(not os.path.exists(os.path.join(d, "o.jsonl")),
            "no output for a missing input")
    expect(run(d), 66, f"cannot read input '{d}': Is a directory")
    if os.geteuid() != 0:
        locked = os.path.join(d, "locked.txt")
        with open(locked, "w") as f:
            f.write("x\n")
        os.chmod(locked, 0)
        expect(run(locked), 66, "Permission denied")
    nodir = os.path.join(d, "no", "such", "dir", "out.jsonl")
    expect(run(src, "-o", nodir), 73,
           f"cannot open output '{nodir}': No such file or directory")
    ro = os.path.join(d, "ro")
    os.mkdir(ro)
    errs_dir = os.path.join(ro, "out.jsonl.errors")
    os.mkdir(errs_dir)
    expect(run(src, "-o", os.path.join(ro, "out.jsonl")), 73,
           f"cannot open output '{errs_dir}': Is a directory")
    expect(run(src, "--format", "npy"), 64, "needs an output file")
    expect(run(src, "--resume"), 64, "--resume needs the output file")
    expect(run(src, "-o", src), 64, f"output '{src}' is the input")
    h.check(open(src).read() == "a\n", "the input was not touched")
    expect(run(src, "--bogus"), 64, "unknown option '--bogus'")

    empty = os.path.join(d, "empty.txt")
    open(empty, "w").close()
    p = run(empty, "-o", os.path.join(d, "e.jsonl"))
    h.check(p.returncode == 0, f"exit {p.returncode}", p.stderr)
    h.check(os.path.getsize(os.path.join(d, "e.jsonl")) == 0, "empty OUT")
    p = run(empty, "-o", os.path.join(d, "e.npy"))
    h.check(p.returncode == 0, f"exit {p.returncode}", p.stderr)
    data = open(os.path.join(d, "e.npy"), "rb").read()
    h.check(len(data) == 128 and b"'shape': (0, 0)" in data, "header", data)


h.main(scenario)
