"""Proves: batch writes every input exactly once and in input order although calls complete out of order (slow calls mixed in, data shuffled), with the right float32 vectors, to a file or to stdout."""
import json
import os
import random
import subprocess
import tempfile

import harness as h

N = 1500


def run(api, *args, stdin=None):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    return subprocess.run([h.EMBEDWATCH, "batch", *args], env=env,
                          input=stdin, capture_output=True,
                          timeout=180 * h.SLACK)


def expect_records(data, texts):
    recs = [json.loads(line) for line in data.splitlines()]
    h.check([r["id"] for r in recs] == list(range(1, len(texts) + 1)),
            "ids are not 1..N in order", [r["id"] for r in recs][:20])
    for r in recs:
        want = h.fake_api.embedding_for(texts[r["id"] - 1], 8)
        h.check(h.as_float32(r["embedding"]) == want,
                f"wrong vector for line {r['id']}", r)
        h.check(list(r) == ["id", "line", "embedding"], "members", r)


def scenario():
    rng = random.Random(7)
    texts = [f"text {i} {rng.random()}" for i in range(N)]
    rng.shuffle(texts)
    # Every few chunks one is slow, so later chunks finish first (no
    # hedges: they would overtake the slow ones and make more calls).
    for i in range(0, N, 97):
        texts[i] += f" @fault:slow:{rng.randint(100, 900)}"
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("\n".join(texts) + "\n")
    out = os.path.join(d, "out.jsonl")
    with h.FakeAPI() as api:
        p = run(api, src, "-o", out, "--batch-size", "16", "--jobs", "8",
                "--no-progress", "--hedge", "off")
        h.check(p.returncode == 0, f"exit {p.returncode}", p.stderr)
        with open(out) as f:
            expect_records(f.read(), texts)
        h.check(os.path.getsize(out + ".errors") == 0, "errors listed")
        h.check(b"1500 inputs written (1500 embedded, 0 failed)" in
                p.stderr, "summary line", p.stderr)
        h.check(api.stats()["requests"] == (N + 15) // 16,
                "one call per chunk of 16", api.stats())
        # The same from stdin to stdout, with the last line unterminated.
        data = "\n".join(texts).encode()
        p = run(api, "-", "--batch-size", "7", "--jobs", "5", stdin=data)
        h.check(p.returncode == 0, f"exit {p.returncode}", p.stderr)
        expect_records(p.stdout.decode(), texts)


h.main(scenario)
