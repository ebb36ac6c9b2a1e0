"""Proves: batch refuses (exit 73, files untouched) to overwrite an OUT, OUT.ids or errors file a run left, unless --force or --resume; drops a leading UTF-8 byte-order mark; skips blank lines by default (ids stay line numbers, the summary counts them) and lists them as invalid_input with --empty error; and totals the prompt tokens of usage in its summary."""
import json
import os
import subprocess
import tempfile

import harness as h


def run(api, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    return subprocess.run([h.EMBEDWATCH, "batch", *args], env=env,
                          capture_output=True, timeout=60 * h.SLACK)


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.txt")
    # A BOM, a paragraph break, a line of spaces, a CRLF blank line.
    with open(src, "wb") as f:
        f.write(b"\xef\xbb\xbffirst words\n\nsecond one here\n   \n\r\n"
                b"third\n")
    out = os.path.join(d, "out.jsonl")
    with h.FakeAPI() as api:
        p = run(api, src, "-o", out)
        h.check(p.returncode == 0, f"exit {p.returncode}", p.stderr)
        recs = [json.loads(x) for x in open(out)]
        h.check([(r["id"], r["line"]) for r in recs] ==
                [(1, 1), (3, 3), (6, 6)], "ids stay line numbers", recs)
        h.check(h.as_float32(recs[0]["embedding"]) ==
                h.fake_api.embedding_for("first words", 8),
                "the BOM is not part of text 1")
        h.check(b"3 blank lines skipped" in p.stderr, "blank lines counted",
                p.stderr)
        # The fake counts whitespace-separated words as prompt tokens.
        h.check(b"6 prompt tokens" in p.stderr, "tokens", p.stderr)
        h.check(not os.path.exists(out + ".errors") or
                os.path.getsize(out + ".errors") == 0, "no errors")

        # Again into the same OUT: refused, OUT untouched.
        before = open(out, "rb").read()
        p = run(api, src, "-o", out)
        h.check(p.returncode == 73, f"exit {p.returncode}, not 73", p.stderr)
        h.check(b"exists; add --resume" in p.stderr and b"--force" in
                p.stderr, "says why and what to do", p.stderr)
        h.check(open(out, "rb").read() == before, "OUT untouched")
        p = run(api, src, "-o", out, "--force", "--empty", "error")
        h.check(p.returncode == 3, f"--force: exit {p.returncode}", p.stderr)
        errs = [json.loads(x) for x in open(out + ".errors")]
        h.check([(e["line"], e["id"], e["code"], e["message"])
                 for e in errs] ==
                [(n, n, "invalid_input", "empty line") for n in (2, 4, 5)],
                "--empty error lists blank lines", errs)
        h.check(len(open(out).readlines()) == 3, "OUT overwritten")

        # Only the errors file left: still refused.
        os.unlink(out)
        p = run(api, src, "-o", out)
        h.check(p.returncode == 73, f"errors file: exit {p.returncode}",
                p.stderr)
        h.check(b".errors' exists" in p.stderr, "names it", p.stderr)

        # .npy: OUT.ids counts as work too; blank lines have no row.
        npy = os.path.join(d, "out.npy")
        p = run(api, src, "-o", npy)
        h.check(p.returncode == 0, f"npy: exit {p.returncode}", p.stderr)
        h.check(open(npy + ".ids").read() == "1\n3\n6\n", "ids",
                open(npy + ".ids").read())
        os.unlink(npy)
        p = run(api, src, "-o", npy)
        h.check(p.returncode == 73, f"npy ids: exit {p.returncode}",
                p.stderr)
        # Nothing on disk is not refused; an empty file is not work.
        open(os.path.join(d, "empty.jsonl"), "w").close()
        p = run(api, src, "-o", os.path.join(d, "empty.jsonl"))
        h.check(p.returncode == 0, f"empty OUT: exit {p.returncode}",
                p.stderr)


h.main(scenario)
