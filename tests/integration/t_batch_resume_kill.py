"""Proves: a batch SIGKILLed at random moments, again and again, and resumed each time with --resume ends with every input exactly once and in order across OUT and its errors file (failures neither lost nor duplicated), for JSON lines and for .npy."""
import json
import os
import random
import struct
import subprocess
import tempfile
import time

import harness as h

N = 3200
BAD = {17, 900, 901, 3199}


def start(api, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    return subprocess.Popen([h.EMBEDWATCH, "batch", *args], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def kill_loop(api, rng, args, kills):
    """Run with --resume, SIGKILLed after a random while, until a run
    ends by itself; returns its exit status and the number of kills."""
    for n in range(1000):
        p = start(api, *args, "--resume")
        if n < kills:
            time.sleep(rng.uniform(0.05, 0.5) * h.SLACK)
            if p.poll() is None:
                p.kill()
                p.wait()
                continue
        try:
            p.wait(120 * h.SLACK)
        except subprocess.TimeoutExpired:
            p.kill()
            h.check(False, "a resumed run did not finish")
        err = p.stderr.read()
        h.check(p.returncode in (0, 3), f"exit {p.returncode}", err)
        return p.returncode, n
    h.check(False, "never finished")


def check_errors(path):
    errs = [json.loads(x) for x in open(path)]
    h.check([e["line"] for e in errs] == sorted(i + 1 for i in BAD),
            "each failure listed exactly once, in order", errs)
    return errs


def scenario():
    rng = random.Random(int(os.environ.get("EW_SEED", "0")) or None)
    texts = [f"resume {i}" + (" @fault:400" if i in BAD else "")
             for i in range(N)]
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("\n".join(texts) + "\n")
    # The fake answers each call after 40 ms: a run takes about 2 s.
    with h.FakeAPI("--delay-ms", "40") as api:
        out = os.path.join(d, "out.jsonl")
        rc, kills = kill_loop(api, rng, [src, "-o", out, "--batch-size",
                                         "16", "--jobs", "4"], 10)
        h.check(rc == 3, "exit 3: some failed")
        recs = [json.loads(x) for x in open(out)]
        h.check([r["id"] for r in recs] ==
                [i + 1 for i in range(N) if i not in BAD],
                "every success exactly once, in order")
        for r in recs:
            h.check(h.as_float32(r["embedding"]) ==
                    h.fake_api.embedding_for(texts[r["id"] - 1], 8),
                    "vector", r)
        check_errors(out + ".errors")
        h.log(f"jsonl: {kills} kills")

        out = os.path.join(d, "out.npy")
        rc, kills = kill_loop(api, rng, [src, "-o", out, "--batch-size",
                                         "16", "--jobs", "4"], 10)
        h.check(rc == 3, "exit 3: some failed")
        data = open(out, "rb").read()
        h.check(data[:10] == b"\x93NUMPY\x01\x00v\x00", "header", data[:10])
        hdr = data[10:128].decode()
        h.check(f"'shape': ({N}, 8)" in hdr, "shape", hdr)
        h.check(len(data) == 128 + N * 8 * 4, "size", len(data))
        ids = open(out + ".ids").read().split("\n")
        h.check(ids == [str(i + 1) for i in range(N)] + [""], "ids")
        for i in range(N):
            row = list(struct.unpack_from("<8f", data, 128 + i * 32))
            if i in BAD:
                h.check(all(v != v for v in row), f"row {i} not NaN", row)
            else:
                h.check(row == h.fake_api.embedding_for(texts[i], 8),
                        f"row {i}", row)
        check_errors(out + ".errors")
        h.log(f"npy: {kills} kills")


h.main(scenario)
