"""Proves: a bad API key stops a batch: a few calls (those already in flight), then exit 77 with a message naming HTTP 401, no input listed as failed, and an output that --resume completes once the key is right."""
import json
import os
import subprocess
import tempfile

import harness as h

N = 2000


def run(api, key, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    env["EMBEDWATCH_API_KEY"] = key
    return subprocess.run([h.EMBEDWATCH, "batch", *args], env=env,
                          capture_output=True, timeout=120 * h.SLACK)


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.txt")
    texts = [f"text {i}" for i in range(N)]
    with open(src, "w") as f:
        f.write("\n".join(texts) + "\n")
    out = os.path.join(d, "out.jsonl")
    with h.FakeAPI("--require-key", "sk-right") as api:
        p = run(api, "sk-wrong", src, "-o", out, "--no-progress")
        err = p.stderr.decode()
        h.check(p.returncode == 77, f"exit {p.returncode}, not 77", err)
        h.check("HTTP 401" in err and "refuses every call" in err,
                "names the cause", err)
        h.check("--resume" in err, "says how to go on", err)
        calls = api.stats()["requests"]
        h.check(2 <= calls <= 10, f"{calls} calls for {N} texts", err)
        errors = open(out + ".errors").read()
        h.check(errors == "", "no input listed as failed", errors[:500])

        p = run(api, "sk-right", src, "-o", out, "--resume",
                "--no-progress")
        h.check(p.returncode == 0, f"resume exit {p.returncode}",
                p.stderr.decode())
        recs = [json.loads(line) for line in open(out)]
        h.check([r["id"] for r in recs] == list(range(1, N + 1)),
                "every input once, in order", len(recs))


h.main(scenario)
