"""Proves: one text that hangs every call among 64 costs only itself (its call is split down to it after the retries, the 63 others are embedded), while failures that are about the server are not split: 500 for everyone and connection refused cost each chunk its attempts and no more; when every call hangs, at most one call per halving is split (a few calls, not one per text)."""
import json
import os
import socket
import subprocess
import tempfile

import harness as h


def run(base_url, src, out, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = base_url
    # Fixed attempts: issue 10's breaker, hedges and retry budget would
    # change how many calls a hang costs (see the README's resilience
    # options); what is counted here is the split rule alone.
    args = (*args, "--breaker", "off", "--hedge", "off", "--retry-budget",
            "off")
    return subprocess.run([h.EMBEDWATCH, "batch", src, "-o", out, *args],
                          env=env, capture_output=True,
                          timeout=180 * h.SLACK)


def write(d, name, texts):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("\n".join(texts) + "\n")
    return path


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    # 5 calls of 64; text 20 of the first hangs every time.
    texts = [f"iso {i}" + (" @fault:hang" if i == 20 else "")
             for i in range(320)]
    src = write(d, "in.txt", texts)
    out = os.path.join(d, "out.jsonl")
    with h.FakeAPI() as api:
        p = run(api.base_url, src, out, "--batch-size", "64", "--jobs", "4",
                "--timeout", "1", "--retries", "1")
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        ids = [json.loads(x)["id"] for x in open(out)]
        h.check(ids == [i + 1 for i in range(320) if i != 20],
                "all but the hung text, in order", ids[:70])
        errs = [json.loads(x) for x in open(out + ".errors")]
        h.check([(e["line"], e["code"], e["attempts"]) for e in errs] ==
                [(21, "timeout", 2)], "only the hung text fails", errs)
        hung = api.stats()["faults"].get("hang", 0)
        # Halving 64 down to 1 is 7 calls holding the text, each tried
        # twice.
        h.check(hung == 14, f"{hung} hung calls, not 14")

        # Every call hangs: nothing says one text is the cause.
        src = write(d, "all-hang.txt", [f"h {i} @fault:hang"
                                        for i in range(64)])
        api.reset()
        out = os.path.join(d, "all-hang.jsonl")
        p = run(api.base_url, src, out, "--batch-size", "16", "--timeout",
                "1", "--retries", "1")
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        n = api.stats()["requests"]
        # At most one split per halving (the first timeout seen looks
        # like one text's fault): 4 x 2 attempts, plus 2 x 2 a level.
        h.check(8 <= n <= 8 + 4 * 4, f"{n} calls for 4 chunks of hung "
                "texts")
        errs = [json.loads(x) for x in open(out + ".errors")]
        h.check(len(errs) == 64 and all(e["code"] == "timeout"
                                        for e in errs), "all timed out")

        # A 500 for everyone.
        src = write(d, "all-500.txt", [f"f {i} @fault:500:1000"
                                       for i in range(64)])
        api.reset()
        p = run(api.base_url, src, os.path.join(d, "all-500.jsonl"),
                "--batch-size", "16", "--retries", "2")
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        n = api.stats()["requests"]
        h.check(n == 4 * 3, f"{n} calls for 4 chunks of 500s, not 12")

    # Nobody listening: network errors are not split either.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    src = write(d, "refused.txt", [f"r {i}" for i in range(64)])
    out = os.path.join(d, "refused.jsonl")
    p = run(f"http://127.0.0.1:{port}/v1", src, out, "--batch-size", "16",
            "--retries", "1")
    h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
    h.check(b"4 calls, 0 splits" in p.stderr, "no splits", p.stderr)


h.main(scenario)
