"""Proves: in a run of thousands of lines with hung calls, 429s and 500s mixed in, every input is written exactly once and in order: a call that keeps hanging is split down to the hung text, which alone fails with timeout after its retries, rate-limited and flaky ones are retried and succeed, and no worker is left behind."""
import json
import os
import subprocess
import tempfile
import time

import harness as h

N = 4000
B = 16


def scenario():
    texts = []
    for i in range(N):
        if i % 500 == 123:
            texts.append(f"hang {i} @fault:hang")
        elif i % 250 == 42:
            texts.append(f"limited {i} @fault:429:1")
        elif i % 300 == 77:
            texts.append(f"flaky {i} @fault:500:1")
        else:
            texts.append(f"text {i}")
    hung = {i for i in range(N) if texts[i].endswith("@fault:hang")}
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("\n".join(texts) + "\n")
    out = os.path.join(d, "out.jsonl")
    env = h.clean_env()
    with h.FakeAPI() as api:
        env["EMBEDWATCH_BASE_URL"] = api.base_url
        start = time.monotonic()
        p = subprocess.Popen([h.EMBEDWATCH, "batch", src, "-o", out,
                              "--batch-size", str(B), "--jobs", "16",
                              "--timeout", "1", "--retries", "1",
                              "--progress"], env=env,
                             stderr=subprocess.PIPE)
        err = p.communicate(timeout=300 * h.SLACK)[1].decode()
        elapsed = time.monotonic() - start
        h.check(p.returncode == 3, f"exit {p.returncode}", err[-2000:])
        ids = [json.loads(x)["id"] for x in open(out)]
        h.check(ids == [i + 1 for i in range(N) if i not in hung],
                "every input that did not hang, in order")
        errs = [json.loads(x) for x in open(out + ".errors")]
        h.check([e["line"] for e in errs] == sorted(i + 1 for i in hung),
                "the hung chunks' inputs, in order")
        for e in errs:
            h.check(e["code"] == "timeout" and e["attempts"] == 2,
                    "timeout after 2 attempts", e)
        h.check(len(hung) == N // 500, "only the hung texts fail")
        h.check(f"{len(hung)} failed inputs are listed in" in err,
                "summary", err[-2000:])
        h.check("workers killed" in err and "\r" in err,
                "progress and summary on stderr", err[-500:])
        h.check(h.children(p.pid) == [], "no workers left")
        h.log(f"{N} lines in {elapsed:.1f} s")


h.main(scenario)
