"""Proves: --format npy (or OUT.npy) writes a float32 [N, D] .npy that reads back by the spec (version 1.0, '<f4', C order, header padded to 64, shape rewritten to N), one row per input line in order with exact values, NaN rows for failed and invalid lines (even before D is known), JSON ids one a line in OUT.ids, --dimensions honoured, and [N, 0] when nothing succeeded."""
import ast
import json
import math
import os
import struct
import subprocess
import tempfile

import harness as h


def run(api, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    return subprocess.run([h.EMBEDWATCH, "batch", *args], env=env,
                          capture_output=True, timeout=120 * h.SLACK)


def read_npy(path):
    data = open(path, "rb").read()
    h.check(data[:6] == b"\x93NUMPY", "magic", data[:16])
    h.check(data[6:8] == b"\x01\x00", "version 1.0", data[6:8])
    hlen = struct.unpack("<H", data[8:10])[0]
    h.check((10 + hlen) % 64 == 0, "header padded to 64", hlen)
    text = data[10:10 + hlen].decode("latin-1")
    h.check(text.endswith("\n"), "header ends in a newline", text)
    hdr = ast.literal_eval(text)
    h.check(hdr["descr"] == "<f4" and hdr["fortran_order"] is False,
            "dtype and order", hdr)
    n, dim = hdr["shape"]
    body = data[10 + hlen:]
    h.check(len(body) == n * dim * 4, "data size matches the shape",
            len(body), n, dim)
    rows = [list(struct.unpack_from(f"<{dim}f", body, i * dim * 4))
            for i in range(n)]
    return rows, dim


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.jsonl")
    recs = [{"id": "bad", "text": "x @fault:400"}, None,
            {"id": 3, "text": "first good"}]
    recs += [{"id": f"r{i}", "text": f"row {i}"} for i in range(200)]
    recs += [{"id": "nan", "text": "y @fault:nan"}, {"id": "end", "text": "z"}]
    with open(src, "w") as f:
        for r in recs:
            f.write((json.dumps(r) if r else "{broken") + "\n")
    with h.FakeAPI() as api:
        out = os.path.join(d, "vecs.npy")
        p = run(api, src, "-o", out, "--batch-size", "32")
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        rows, dim = read_npy(out)
        h.check(dim == 8 and len(rows) == len(recs), "shape", dim, len(rows))
        for r, row in zip(recs, rows):
            if r is None or "@fault" in r["text"]:
                h.check(all(math.isnan(v) for v in row), "NaN row", r, row)
            else:
                h.check(row == h.fake_api.embedding_for(r["text"], 8),
                        "values", r, row)
        ids = open(out + ".ids").read().splitlines()
        h.check(ids == [json.dumps(r["id"]) if r else "null" for r in recs],
                "ids, JSON one a line", ids[:5])
        errs = [json.loads(x) for x in open(out + ".errors")]
        h.check([e["line"] for e in errs] == [1, 2, len(recs) - 1],
                "errors", errs)

        # --format npy with another name, and --dimensions.
        out = os.path.join(d, "vecs.bin")
        p = run(api, src, "-o", out, "--format", "npy", "--dimensions", "16")
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        rows, dim = read_npy(out)
        h.check(dim == 16 and len(rows) == len(recs), "shape", dim)
        h.check(rows[2] == h.fake_api.embedding_for("first good", 16),
                "16 dimensions")

        # Nothing succeeds: still a valid file, [N, 0].
        bad = os.path.join(d, "bad.txt")
        with open(bad, "w") as f:
            # (not a 401: that stops a batch, see t_batch_bad_key)
            f.write("a @fault:400\nb @fault:400\n")
        out = os.path.join(d, "none.npy")
        p = run(api, bad, "-o", out)
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        rows, dim = read_npy(out)
        h.check(len(rows) == 2 and dim == 0, "[2, 0]", len(rows), dim)


h.main(scenario)
