"""Proves: --resume cuts off a torn last line (in OUT, its errors file or OUT.ids) or a torn .npy row, keeps errors listed ahead of the rows only once, redoes exactly what is missing, and refuses (78, file untouched) an OUT it did not write or one that does not match the input."""
import json
import os
import shutil
import struct
import subprocess
import tempfile

import harness as h

N = 300
BAD = {10, 150}


def run(api, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    # No hedges: the errors files are compared byte for byte, and they
    # record each input's attempts, which a hedge would add to.
    return subprocess.run([h.EMBEDWATCH, "batch", "--hedge", "off", *args],
                          env=env,
                          capture_output=True, timeout=120 * h.SLACK)


def cut(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


def scenario():
    texts = [f"torn {i}" + (" @fault:400" if i in BAD else "")
             for i in range(N)]
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("\n".join(texts) + "\n")
    ref = os.path.join(d, "ref.jsonl")
    with h.FakeAPI() as api:
        p = run(api, src, "-o", ref, "--batch-size", "8")
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        full = open(ref, "rb").read()
        full_err = open(ref + ".errors", "rb").read()
        recs = [x + b"\n" for x in full.split(b"\n")[:-1]]
        errs = [x + b"\n" for x in full_err.split(b"\n")[:-1]]
        out = os.path.join(d, "out.jsonl")
        # What a kill leaves: the first k inputs written, each to OUT or
        # to the errors file, and maybe half of input k+1's line torn.
        for k in (0, 5, 10, 11, 12, 149, 150, 151, 299, 300):
            for torn in (False, True):
                n_ok = sum(1 for i in range(k) if i not in BAD)
                n_err = k - n_ok
                o, e = b"".join(recs[:n_ok]), b"".join(errs[:n_err])
                if torn and k < N and k in BAD:
                    e += errs[n_err][:len(errs[n_err]) // 2]
                elif torn and k < N:
                    o += recs[n_ok][:len(recs[n_ok]) // 2]
                with open(out, "wb") as f:
                    f.write(o)
                with open(out + ".errors", "wb") as f:
                    f.write(e)
                p = run(api, src, "-o", out, "--batch-size", "8",
                        "--resume")
                h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
                h.check(open(out, "rb").read() == full,
                        f"OUT differs after {k} inputs, torn {torn}",
                        p.stderr)
                h.check(open(out + ".errors", "rb").read() == full_err,
                        f"errors differ after {k} inputs, torn {torn}")
                if k < N:
                    h.check(f"{k} skipped as done before".encode() in
                            p.stderr, f"resumed after {k}", p.stderr)
                else:
                    h.check(f"already finished: the {N} input lines were "
                            f"done by an earlier run, {len(BAD)} of them "
                            "failed".encode() in p.stderr, "finished",
                            p.stderr)

        # .npy: a torn row, OUT.ids one line ahead with a torn one after
        # it, the errors file listing a failure beyond the rows.
        npy = os.path.join(d, "out.npy")
        p = run(api, src, "-o", npy, "--batch-size", "8")
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        good = open(npy, "rb").read()
        good_ids = open(npy + ".ids", "rb").read()
        cut(npy, 128 + 152 * 32 + 13)
        cut(npy + ".ids", len(b"".join(f"{i + 1}\n".encode()
                                       for i in range(153))) + 2)
        p = run(api, src, "-o", npy, "--batch-size", "8", "--resume")
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        h.check(open(npy, "rb").read() == good, ".npy differs")
        h.check(open(npy + ".ids", "rb").read() == good_ids, "ids differ")
        errs = [json.loads(x) for x in open(npy + ".errors")]
        h.check([e["line"] for e in errs] == [11, 151], "npy errors", errs)
        h.check(b"152 skipped as done before" in p.stderr, "resumed at 152",
                p.stderr)
        h.check(struct.unpack("<8f", good[128 + 10 * 32:128 + 11 * 32]) !=
                struct.unpack("<8f", good[128 + 10 * 32:128 + 11 * 32]),
                "a failed row is NaN")

        # Not ours: refused, and left as it was.
        alien = os.path.join(d, "notes.txt")
        with open(alien, "w") as f:
            f.write("my notes\nno newline at the end")
        p = run(api, src, "-o", alien, "--resume")
        h.check(p.returncode == 78, f"exit {p.returncode}", p.stderr)
        h.check(b"was not written by embedwatch" in p.stderr, "message",
                p.stderr)
        h.check(open(alien).read() == "my notes\nno newline at the end",
                "an alien OUT was modified")
        # Another input: the last record's id is a line it has, but the
        # npy ids do not match its ids.
        other = os.path.join(d, "other.jsonl")
        with open(other, "w") as f:
            f.write("".join(json.dumps({"id": f"x{i}", "text": t}) + "\n"
                            for i, t in enumerate(texts)))
        p = run(api, other, "-o", npy, "--resume")
        h.check(p.returncode == 78, f"exit {p.returncode}", p.stderr)
        h.check(b"is it the same input?" in p.stderr, "message", p.stderr)
        short = os.path.join(d, "short.txt")
        with open(short, "w") as f:
            f.write("\n".join(texts[:20]) + "\n")
        p = run(api, short, "-o", out, "--resume")
        h.check(p.returncode == 78, f"exit {p.returncode}", p.stderr)
        h.check(b"fewer than" in p.stderr, "message", p.stderr)
        h.check(open(out, "rb").read() == full, "OUT changed")


h.main(scenario)
