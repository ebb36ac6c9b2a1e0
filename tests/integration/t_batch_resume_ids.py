"""Proves: resuming goes by input positions, never by ids: JSON-lines input whose ids repeat (id = line % 50), SIGKILLed at random moments and resumed again and again, ends with every line exactly once and in order (JSON lines and .npy), and a resume after a complete run adds nothing and says the run is finished."""
import json
import os
import random
import subprocess
import tempfile
import time

import harness as h

N = 3000


def start(api, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    return subprocess.Popen([h.EMBEDWATCH, "batch", *args], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def kill_loop(api, rng, args, kills):
    for n in range(1000):
        p = start(api, *args, "--resume")
        if n < kills:
            time.sleep(rng.uniform(0.05, 0.4) * h.SLACK)
            if p.poll() is None:
                p.kill()
                p.wait()
                continue
        err = p.communicate(timeout=120 * h.SLACK)[1]
        h.check(p.returncode == 0, f"exit {p.returncode}", err)
        return n
    h.check(False, "never finished")


def scenario():
    rng = random.Random(int(os.environ.get("EW_SEED", "0")) or None)
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.jsonl")
    texts = [f"repeat {i}" for i in range(N)]
    with open(src, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": (i + 1) % 50, "text": t}) + "\n")
    with h.FakeAPI("--delay-ms", "30") as api:
        out = os.path.join(d, "out.jsonl")
        args = [src, "-o", out, "--batch-size", "16", "--jobs", "4"]
        kills = kill_loop(api, rng, args, 8)
        recs = [json.loads(x) for x in open(out)]
        h.check([r["line"] for r in recs] == list(range(1, N + 1)),
                "every line exactly once, in order",
                len(recs), [r["line"] for r in recs][:20])
        h.check([r["id"] for r in recs] == [(i + 1) % 50 for i in range(N)],
                "ids as given")
        for r in recs[::97]:
            h.check(h.as_float32(r["embedding"]) == h.fake_api.embedding_for(
                texts[r["line"] - 1], 8), "vector", r)
        size = os.path.getsize(out)
        p = start(api, *args, "--resume")
        err = p.communicate(timeout=60 * h.SLACK)[1]
        h.check(p.returncode == 0, f"finished run: exit {p.returncode}", err)
        h.check(os.path.getsize(out) == size, "a finished run gains nothing")
        h.check(b"already finished" in err, "says it is finished", err)
        h.log(f"jsonl: {kills} kills")

        out = os.path.join(d, "out.npy")
        args = [src, "-o", out, "--batch-size", "16", "--jobs", "4"]
        kills = kill_loop(api, rng, args, 8)
        ids = open(out + ".ids").read().split("\n")
        h.check(ids == [str((i + 1) % 50) for i in range(N)] + [""],
                "one row per line, in order", len(ids))
        h.check(os.path.getsize(out) == 128 + N * 8 * 4, "rows",
                os.path.getsize(out))
        h.log(f"npy: {kills} kills")


h.main(scenario)
