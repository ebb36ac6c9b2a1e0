"""Proves: results that completed out of order behind a hung call are kept in OUT.journal, so that after SIGKILL (JSON lines) or SIGINT (.npy) the resume makes no call for a text already answered, ends with every input exactly once and in order, and deletes the journal."""
import json
import os
import signal
import struct
import subprocess
import tempfile
import time

import harness as h

N = 2000
HANG = 2  # line 3: its call holds the head of the ring


def start(api, *args):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    return subprocess.Popen([h.EMBEDWATCH, "batch", *args], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def settle(api):
    """Wait until the fake has answered a lot and nothing more comes:
    the ring is full behind the hung call."""
    last, since = -1, time.monotonic()
    deadline = time.monotonic() + 60 * h.SLACK
    while time.monotonic() < deadline:
        n = api.stats()["ok"]
        if n != last:
            last, since = n, time.monotonic()
        elif n > 10 and time.monotonic() - since > 1.0 * h.SLACK:
            return n
        time.sleep(0.1)
    h.check(False, "the run never settled")


def resume_and_check(api, texts, out, answered, extra):
    before = api.texts()["requested"]
    p = start(api, texts, "-o", out, "--resume", "--batch-size", "16",
              "--jobs", "4", "--timeout", "1", "--retries", "0", *extra)
    err = p.communicate(timeout=120 * h.SLACK)[1]
    h.check(p.returncode == 3, f"resume: exit {p.returncode}", err)
    after = api.texts()["requested"]
    again = [t for t, n in after.items()
             if n > before.get(t, 0) and t in answered]
    h.check(again == [], f"{len(again)} answered texts called again",
            again[:5], err)
    h.check(not os.path.exists(out + ".journal"), "journal deleted")
    errs = [json.loads(x) for x in open(out + ".errors")]
    h.check([(e["line"], e["code"]) for e in errs] == [(HANG + 1,
                                                         "timeout")],
            "only the hung text failed", errs)
    return err


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    lines = [f"journal {i}" + (" @fault:hang" if i == HANG else "")
             for i in range(N)]
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("\n".join(lines) + "\n")
    with h.FakeAPI() as api:
        # JSON lines, SIGKILL.
        out = os.path.join(d, "out.jsonl")
        p = start(api, src, "-o", out, "--batch-size", "16", "--jobs", "4",
                  "--timeout", "60")
        ok = settle(api)
        p.kill()
        p.wait()
        answered = set(api.texts()["answered"])
        h.check(os.path.getsize(out) == 0, "nothing written in order")
        journal = open(out + ".journal").read().splitlines()
        h.check(len(journal) == len(answered) and len(answered) >= 16 * ok
                // 2, f"{len(journal)} journal records, {len(answered)} "
                "answered")
        err = resume_and_check(api, src, out, answered, [])
        recs = [json.loads(x) for x in open(out)]
        h.check([r["line"] for r in recs] ==
                [i + 1 for i in range(N) if i != HANG], "exactly once, in "
                "order")
        for r in recs:
            h.check(h.as_float32(r["embedding"]) == h.fake_api.embedding_for(
                lines[r["line"] - 1], 8), "vector", r)
        h.log(f"jsonl: {len(journal)} results reused")

        # .npy, SIGINT with the hung call still in flight.
        api.reset()
        out = os.path.join(d, "out.npy")
        p = start(api, src, "-o", out, "--batch-size", "16", "--jobs", "4",
                  "--timeout", "60", "--drain", "1")
        settle(api)
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=60 * h.SLACK)[1]
        h.check(p.returncode == 130, f"SIGINT: exit {p.returncode}", err)
        h.check(os.path.exists(out + ".journal"), "journal kept")
        answered = set(api.texts()["answered"])
        resume_and_check(api, src, out, answered, [])
        data = open(out, "rb").read()
        h.check(len(data) == 128 + N * 8 * 4, "size", len(data))
        for i in range(N):
            row = list(struct.unpack_from("<8f", data, 128 + i * 32))
            if i == HANG:
                h.check(all(v != v for v in row), "NaN row", row)
            else:
                h.check(row == h.fake_api.embedding_for(lines[i], 8),
                        f"row {i}", row)


h.main(scenario)
