"""Proves: 4 shards (--shard K/N, or K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID) run as local processes at once, each writing OUT with K-of-N in its name and global line numbers as ids, merged with --merge (or, for JSON lines, cat in shard order) give byte for byte what one run over the whole input gives, for text and JSON-lines input and JSON-lines and .npy output; a shard SIGKILLed and resumed alone still merges to the same; an unfinished shard is refused."""
import json
import os
import signal
import subprocess
import tempfile
import time

import harness as h

N = 1001


def env_for(api, extra=None):
    env = h.clean_env(drop=("SLURM_", "JOB_COMPLETION_INDEX"))
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    env.update(extra or {})
    return env


def batch(api, *args, extra=None, wait=True):
    p = subprocess.Popen([h.EMBEDWATCH, "batch", *args], env=env_for(
        api, extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait:
        return p
    err = p.communicate(timeout=120 * h.SLACK)[1]
    return p.returncode, err


def read(path):
    with open(path, "rb") as f:
        return f.read()


def shard_name(out, k, n):
    stem, ext = os.path.splitext(out)
    return f"{stem}.{k}-of-{n}{ext}"


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    texts = []
    for i in range(N):
        if i % 97 == 5:
            texts.append("")                       # blank: skipped
        elif i % 250 == 7:
            texts.append(f"shard {i} @fault:400")  # fails alone
        else:
            texts.append(f"shard {i} " + "x" * (i % 37))
    txt = os.path.join(d, "in.txt")
    with open(txt, "wb") as f:
        f.write(b"\xef\xbb\xbf" + "\n".join(texts).encode())  # no last \n
    jsl = os.path.join(d, "in.jsonl")
    with open(jsl, "w") as f:
        for i, t in enumerate(texts):
            f.write((json.dumps({"id": f"d{i % 10}", "text": t}) if t
                     else "") + "\n")
    with h.FakeAPI("--delay-ms", "5") as api:
        for src in (txt, jsl):
            for fmt in ("jsonl", "npy"):
                tag = f"{os.path.basename(src)} -> {fmt}"
                ref = os.path.join(d, f"ref-{os.path.basename(src)}.{fmt}")
                rc, err = batch(api, src, "-o", ref, "--batch-size", "8")
                h.check(rc == 3, f"{tag}: single run exit {rc}", err)
                out = os.path.join(d, f"sh-{os.path.basename(src)}.{fmt}")
                procs = []
                for k in range(1, 5):
                    # Shard 1 by --shard, 2 by the Kubernetes index, 3 by
                    # SLURM (0-based ids), 4 by SLURM with --array=1-4.
                    if k == 1:
                        args, extra = ["--shard", "1/4"], None
                    elif k == 2:
                        args, extra = ["--shards", "4"], {
                            "JOB_COMPLETION_INDEX": "1"}
                    elif k == 3:
                        args, extra = ["--shard", "auto"], {
                            "SLURM_ARRAY_TASK_ID": "2",
                            "SLURM_ARRAY_TASK_COUNT": "4"}
                    else:
                        args, extra = ["--shard", "auto"], {
                            "SLURM_ARRAY_TASK_ID": "4",
                            "SLURM_ARRAY_TASK_MIN": "1",
                            "SLURM_ARRAY_TASK_COUNT": "4"}
                    procs.append(batch(api, src, "-o", out, "--batch-size",
                                       "8", *args, extra=extra, wait=False))
                for k, p in enumerate(procs, 1):
                    err = p.communicate(timeout=120 * h.SLACK)[1]
                    h.check(p.returncode in (0, 3),
                            f"{tag}: shard {k} exit {p.returncode}", err)
                    h.check(os.path.exists(shard_name(out, k, 4)),
                            f"shard {k} file", err)
                rc, err = batch(api, "--merge", "--shards", "4", "-o", out)
                h.check(rc == 0, f"{tag}: merge exit {rc}", err)
                h.check(read(out) == read(ref), f"{tag}: merged OUT differs")
                h.check(read(out + ".errors") == read(ref + ".errors"),
                        f"{tag}: merged errors differ")
                if fmt == "npy":
                    h.check(read(out + ".ids") == read(ref + ".ids"),
                            f"{tag}: merged ids differ")
                else:
                    cat = b"".join(read(shard_name(out, k, 4))
                                   for k in range(1, 5))
                    h.check(cat == read(ref), f"{tag}: cat order")
                rc, err = batch(api, "--merge", "--shards", "4", "-o", out)
                h.check(rc == 73, f"{tag}: merge again exit {rc}", err)

        # Shard 3 SIGKILLed mid-way, resumed alone; the merge waits for it.
        ref = os.path.join(d, "ref-in.txt.npy")
        out = os.path.join(d, "killed.npy")
        for k in (1, 2, 4):
            rc, err = batch(api, txt, "-o", out, "--shard", f"{k}/4",
                            "--batch-size", "8")
            h.check(rc in (0, 3), f"shard {k}: exit {rc}", err)
        p = batch(api, txt, "-o", out, "--shard", "3/4", "--batch-size",
                  "2", "--jobs", "2", wait=False)
        time.sleep(0.3 * h.SLACK)
        p.send_signal(signal.SIGKILL)
        p.wait()
        part = shard_name(out, 3, 4)
        if os.path.exists(part + ".journal"):
            rc, err = batch(api, "--merge", "--shards", "4", "-o", out)
            h.check(rc == 78 and b"has not finished" in err,
                    f"unfinished shard: exit {rc}", err)
        rc, err = batch(api, txt, "-o", out, "--shard", "3/4", "--resume",
                        "--batch-size", "8")
        h.check(rc in (0, 3), f"resumed shard: exit {rc}", err)
        rc, err = batch(api, "--merge", "--shards", "4", "-o", out)
        h.check(rc == 0, f"merge exit {rc}", err)
        h.check(read(out) == read(ref) and
                read(out + ".ids") == read(ref + ".ids") and
                read(out + ".errors") == read(ref + ".errors"),
                "a resumed shard merges to the same")


h.main(scenario)
