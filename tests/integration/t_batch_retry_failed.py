"""Proves: --retry-failed embeds again only the inputs the errors file lists, merges the new results into OUT in input order (JSON lines: a new file renamed into place; .npy: the NaN rows filled in place, header and OUT.ids untouched), rewrites the errors file with what still fails, and calls nothing else."""
import json
import os
import struct
import subprocess
import tempfile

import harness as h

N = 300
FLAKY = {40, 41, 200}   # a 500 once per call holding them
BAD = {250}             # a 400 every time


def run(api, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    return subprocess.run([h.EMBEDWATCH, "batch", *args], env=env,
                          capture_output=True, timeout=120 * h.SLACK)


def text(i):
    if i in FLAKY:
        return f"retry {i} @fault:500:1"
    if i in BAD:
        return f"retry {i} @fault:400"
    return f"retry {i}"


def chunk_of(i):
    return set(range(i - i % 16, i - i % 16 + 16))


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    texts = [text(i) for i in range(N)]
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("\n".join(texts) + "\n")
    failed = set().union(*(chunk_of(i) for i in FLAKY)) | BAD
    with h.FakeAPI() as api:
        for fmt in ("jsonl", "npy"):
            api.reset()  # the 500 countdowns start again
            out = os.path.join(d, f"out.{fmt}")
            p = run(api, src, "-o", out, "--batch-size", "16",
                    "--retries", "0")
            h.check(p.returncode == 3, f"{fmt}: exit {p.returncode}",
                    p.stderr)
            errs = [json.loads(x) for x in open(out + ".errors")]
            h.check([e["line"] for e in errs] == sorted(i + 1 for i in
                                                        failed),
                    "whole chunks failed with 500", errs)
            ids_before = open(out + ".ids").read() if fmt == "npy" else None
            before = api.texts()["requested"]
            p = run(api, src, "-o", out, "--retry-failed", "--batch-size",
                    "16", "--retries", "1")
            h.check(p.returncode == 3, f"{fmt} retry: exit {p.returncode}",
                    p.stderr)
            after = api.texts()["requested"]
            called = {t for t, n in after.items() if n > before.get(t, 0)}
            h.check(called == {texts[i] for i in failed},
                    "only the listed inputs called",
                    sorted(called - {texts[i] for i in failed})[:5])
            errs = [json.loads(x) for x in open(out + ".errors")]
            h.check([(e["line"], e["status"]) for e in errs] ==
                    [(i + 1, 400) for i in sorted(BAD)],
                    "errors file: what still fails", errs)
            h.check(f"{len(BAD)} failed inputs are listed".encode() in
                    p.stderr and f"{N - len(failed)} kept as they were"
                    .encode() in p.stderr, "summary", p.stderr)
            h.check(not os.path.exists(out + ".tmp") and
                    not os.path.exists(out + ".errors.tmp"), "no temp files")
            if fmt == "jsonl":
                recs = [json.loads(x) for x in open(out)]
                h.check([r["line"] for r in recs] ==
                        [i + 1 for i in range(N) if i not in BAD],
                        "merged in input order")
                for r in recs:
                    h.check(h.as_float32(r["embedding"]) ==
                            h.fake_api.embedding_for(texts[r["line"] - 1],
                                                     8), "vector", r)
            else:
                data = open(out, "rb").read()
                h.check(f"'shape': ({N}, 8)" in data[10:128].decode(),
                        "header", data[:128])
                h.check(len(data) == 128 + N * 32, "size")
                h.check(open(out + ".ids").read() == ids_before, "ids")
                for i in range(N):
                    row = list(struct.unpack_from("<8f", data, 128 + i * 32))
                    if i in BAD:
                        h.check(all(v != v for v in row), "NaN", row)
                    else:
                        h.check(row == h.fake_api.embedding_for(texts[i], 8),
                                f"row {i}", row)
            # Nothing left but the 400: a second retry changes nothing.
            snap = open(out, "rb").read()
            p = run(api, src, "-o", out, "--retry-failed")
            h.check(p.returncode == 3 and open(out, "rb").read() == snap,
                    f"{fmt}: second retry", p.stderr)


h.main(scenario)
