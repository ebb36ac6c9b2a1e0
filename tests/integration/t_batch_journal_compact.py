"""Proves: OUT.journal stays bounded on a long run: once it passes 64 MiB it is rewritten with only the records still needed, and a batch SIGKILLed after that and resumed still makes no call for a text already answered and ends with every input exactly once, in order, with the right vectors."""
import json
import os
import subprocess
import tempfile
import time

import harness as h

N = 3200
DIMS = 3072         # ~45 KiB a record: 64 MiB is ~1,500 of them
HANG = 2400         # then the head hangs: what is behind it waits


def start(api, log, *args):
    """A batch run, its stderr (debug lines: many) into the file log."""
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    return subprocess.Popen(
        [h.EMBEDWATCH, "batch", *args, "--batch-size", "8", "--jobs", "8",
         "--log-level", "debug"], env=env, stdout=subprocess.DEVNULL,
        stderr=open(log, "w"))


def settle(api, p):
    """Wait until the fake has answered a lot and nothing more comes:
    the run is held behind the hung call."""
    last, since = -1, time.monotonic()
    deadline = time.monotonic() + 300 * h.SLACK
    while time.monotonic() < deadline:
        h.check(p.poll() is None, "the first run ended by itself")
        n = api.stats()["ok"]
        if n != last:
            last, since = n, time.monotonic()
        elif n > 10 and time.monotonic() - since > 2.0 * h.SLACK:
            return n
        time.sleep(0.2)
    h.check(False, "the run never settled")


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    lines = [f"compact {i}" + (" @fault:hang" if i == HANG else "")
             for i in range(N)]
    src = os.path.join(d, "in.txt")
    with open(src, "w") as f:
        f.write("\n".join(lines) + "\n")
    out = os.path.join(d, "out.jsonl")
    # Server times spread over 5-80 ms: calls finish out of order all
    # along, so most results pass through the journal.
    with h.FakeAPI("--dims", str(DIMS), "--lognormal", "20:0.8") as api:
        log = os.path.join(d, "first.log")
        p = start(api, log, src, "-o", out, "--timeout", "120")
        settle(api, p)
        size = os.path.getsize(out + ".journal")
        p.kill()
        p.wait()
        err = open(log).read()
        h.check("rewritten" in err, "the journal was rewritten",
                err[-2000:])
        h.check(size < 64 << 20, f"journal of {size >> 20} MiB: bounded")
        answered = set(api.texts()["answered"])
        written = sum(1 for _ in open(out))
        h.check(written >= HANG // 2, f"{written} lines written before the "
                "kill")
        before = api.texts()["requested"]
        log = os.path.join(d, "resume.log")
        p = start(api, log, src, "-o", out, "--resume", "--timeout", "1",
                  "--retries", "0")
        p.wait(300 * h.SLACK)
        err = open(log).read()
        h.check(p.returncode == 3, f"resume: exit {p.returncode}",
                err[-2000:])
        after = api.texts()["requested"]
        again = [t for t, n in after.items()
                 if n > before.get(t, 0) and t in answered]
        h.check(again == [], f"{len(again)} answered texts called again",
                again[:5])
        recs = [json.loads(x) for x in open(out)]
        h.check([r["line"] for r in recs] ==
                [i + 1 for i in range(N) if i != HANG],
                "exactly once, in order")
        for r in recs[::97] + recs[-3:]:
            h.check(h.as_float32(r["embedding"]) == h.fake_api.embedding_for(
                lines[r["line"] - 1], DIMS), "vector", r["line"])
        errs = [json.loads(x) for x in open(out + ".errors")]
        h.check([(e["line"], e["code"]) for e in errs] ==
                [(HANG + 1, "timeout")], "only the hung text failed", errs)
        h.check(not os.path.exists(out + ".journal"), "journal deleted")
        h.log(f"{written} written before the kill, journal {size >> 20} "
              "MiB then")


h.main(scenario)
