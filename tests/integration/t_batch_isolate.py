"""Proves: a text that makes its whole call fail (400, 422, a NaN or a short answer) is split out down to itself and listed in the errors file with exit 3, while the other 63 inputs of its call and every other input are embedded."""
import json
import os
import subprocess
import tempfile

import harness as h

N = 640
BAD = {5: "@fault:400", 100: "@fault:422", 300: "@fault:nan",
       301: "@fault:few", 639: "@fault:400"}


def scenario():
    texts = [f"line {i}" + (f" {BAD[i]}" if i in BAD else "")
             for i in range(N)]
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("\n".join(texts) + "\n")
    out = os.path.join(d, "out.jsonl")
    env = h.clean_env()
    with h.FakeAPI() as api:
        env["EMBEDWATCH_BASE_URL"] = api.base_url
        p = subprocess.run([h.EMBEDWATCH, "batch", src, "-o", out,
                            "--batch-size", "64"], env=env,
                           capture_output=True, timeout=120 * h.SLACK)
        h.check(p.returncode == 3, f"exit {p.returncode}, not 3", p.stderr)
        recs = [json.loads(x) for x in open(out)]
        ids = [r["id"] for r in recs]
        want = [i + 1 for i in range(N) if i not in BAD]
        h.check(ids == want, "every other input, in order",
                sorted(set(want) - set(ids)))
        for r in recs:
            h.check(h.as_float32(r["embedding"]) == h.fake_api.embedding_for(
                texts[r["id"] - 1], 8), "vector", r)
        errs = [json.loads(x) for x in open(out + ".errors")]
        h.check([e["id"] for e in errs] == sorted(i + 1 for i in BAD),
                "each culprit listed once, in order", errs)
        by_id = {e["id"]: e for e in errs}
        h.check(by_id[6]["code"] == "http" and by_id[6]["status"] == 400,
                "400 code and status", by_id[6])
        h.check(by_id[101]["status"] == 422, "422", by_id[101])
        h.check(by_id[301]["code"] == "bad_response", "nan", by_id[301])
        h.check(by_id[302]["code"] == "bad_response", "few", by_id[302])
        for e in errs:
            h.check(e["line"] == e["id"] and e["attempts"] == 1 and
                    e["message"], "line, attempts, message", e)
        # Four chunks held a culprit (300 and 301 share one); each is
        # split in halves down to one text: a few calls each, not 64.
        calls = api.stats()["requests"]
        h.check(calls < N // 64 + 4 * 2 * 7, f"{calls} calls")
        h.check(b"5 failed inputs are listed in" in p.stderr, "summary",
                p.stderr)


h.main(scenario)
