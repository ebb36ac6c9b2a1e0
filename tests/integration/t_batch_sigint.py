"""Proves: SIGINT stops a batch from taking input, lets calls in flight finish within --drain, writes everything done in order and nothing else (no input written as failed because of the stop), exits 130 with the exact command to resume, and that command finishes the job."""
import json
import os
import shlex
import signal
import subprocess
import tempfile
import time

import harness as h

N = 3000


def scenario():
    texts = [f"sig {i} @fault:slow:100" for i in range(N)]
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in put.txt")
    with open(src, "w") as f:
        f.write("\n".join(texts) + "\n")
    out = os.path.join(d, "out.jsonl")
    env = h.clean_env()
    with h.FakeAPI() as api:
        env["EMBEDWATCH_BASE_URL"] = api.base_url
        argv = [h.EMBEDWATCH, "batch", src, "-o", out, "--batch-size", "8",
                "--jobs", "4", "--drain", "5", "--header", "X-Secret: s3"]
        p = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
        h.wait_until(lambda: os.path.exists(out) and
                     os.path.getsize(out) > 0, 30 * h.SLACK, "some output")
        p.send_signal(signal.SIGINT)
        start = time.monotonic()
        err = p.communicate(timeout=30 * h.SLACK)[1].decode()
        h.check(p.returncode == 130, f"exit {p.returncode}", err)
        h.check(time.monotonic() - start < 5 * h.SLACK, "drained quickly")
        ids = [json.loads(x)["id"] for x in open(out)]
        h.check(0 < len(ids) < N, f"{len(ids)} written")
        h.check(ids == list(range(1, len(ids) + 1)), "a prefix, in order")
        h.check(os.path.getsize(out + ".errors") == 0,
                "nothing written as failed", open(out + ".errors").read())
        h.check("s3" not in err, "header value not shown", err)
        cmd = err[err.index("to go on, run: ") + 15:].splitlines()[0]
        words = shlex.split(cmd)
        h.check(words[:2] == [h.EMBEDWATCH, "batch"] and src in words and
                words[-1] == "--resume", "resume command", cmd)
        words[words.index("X-Secret:...")] = "X-Secret: s3"
        q = subprocess.run(words, env=env, capture_output=True,
                           timeout=300 * h.SLACK)
        h.check(q.returncode == 0, f"resume exit {q.returncode}", q.stderr)
        ids = [json.loads(x)["id"] for x in open(out)]
        h.check(ids == list(range(1, N + 1)), "all, once, in order")
        h.check(h.children(p.pid) == [], "no workers left")


h.main(scenario)
