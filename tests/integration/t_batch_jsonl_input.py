"""Proves: JSON-lines input (chosen by the .jsonl extension or --input-format) keeps string and number ids exactly as written, skips blank lines, reports malformed lines as invalid_input by line number (id null when unreadable) without stopping, and resumes by input line after a kill."""
import json
import os
import subprocess
import tempfile
import time

import harness as h


def run(api, *args, wait=True):
    env = h.clean_env()
    env["EMBEDWATCH_BASE_URL"] = api.base_url
    argv = [h.EMBEDWATCH, "batch", *args]
    if not wait:
        return subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
    return subprocess.run(argv, env=env, capture_output=True,
                          timeout=120 * h.SLACK)


def scenario():
    d = tempfile.mkdtemp(prefix="ew-batch-")
    src = os.path.join(d, "in.jsonl")
    lines = [
        '{"id": "doc-1", "text": "first", "lang": "en"}',
        '{"id": 2, "text": "second"}',
        '',
        '{"id": "caf\\u00e9", "text": "third \\"quoted\\""}',
        'not json at all',
        '{"id": 1e3, "text": "number id as written"}',
        '{"id": "no-text"}',
        '{"id": 0.1, "text": ""}',
        '{"text": "no id"}',
        '{"id": -7, "text": "last"}',
    ]
    with open(src, "w") as f:
        f.write("\n".join(lines) + "\n")
    out = os.path.join(d, "out.jsonl")
    with h.FakeAPI() as api:
        p = run(api, src, "-o", out)
        h.check(p.returncode == 3, f"exit {p.returncode}", p.stderr)
        raw = open(out).read().splitlines()
        h.check([x[:x.index(',"embedding"')] for x in raw] ==
                ['{"id":"doc-1","line":1', '{"id":2,"line":2',
                 '{"id":"caf\\u00e9","line":4', '{"id":1e3,"line":6',
                 '{"id":-7,"line":10'], "ids echoed as written", raw)
        texts = ["first", "second", 'third "quoted"',
                 "number id as written", "last"]
        for line, text in zip(raw, texts):
            h.check(h.as_float32(json.loads(line)["embedding"]) ==
                    h.fake_api.embedding_for(text, 8), "vector", line)
        errs = [json.loads(x) for x in open(out + ".errors")]
        h.check([(e["line"], e["id"], e["code"], e["attempts"])
                 for e in errs] ==
                [(5, None, "invalid_input", 0),
                 (7, "no-text", "invalid_input", 0),
                 (8, 0.1, "invalid_input", 0), (9, None, "invalid_input", 0)],
                "input errors by line", errs)
        h.check(errs[0]["message"].startswith("line is not JSON"),
                "message", errs[0])

        # The same as text, by --input-format: each line is one text.
        txt = os.path.join(d, "as-text.jsonl")
        p = run(api, src, "-o", txt, "--input-format", "text")
        h.check(p.returncode == 0, f"exit {p.returncode}", p.stderr)
        h.check([json.loads(x)["id"] for x in open(txt)] ==
                [1, 2, 4, 5, 6, 7, 8, 9, 10], "line numbers as ids")

        # Resume by input line: string ids, killed mid-way, with slow calls.
        big = os.path.join(d, "big.ndjson")
        with open(big, "w") as f:
            for i in range(1500):
                f.write(json.dumps({"id": f"k{i:05d}",
                                    "text": f"t {i} @fault:slow:60"}) + "\n")
        res = os.path.join(d, "res.jsonl")
        q = run(api, big, "-o", res, "--batch-size", "10", "--jobs", "4",
                wait=False)
        time.sleep(1.0 * h.SLACK)
        q.kill()
        q.wait()
        done = len(open(res).read().split("\n")) - 1
        p = run(api, big, "-o", res, "--batch-size", "10", "--resume")
        h.check(p.returncode == 0, f"exit {p.returncode}", p.stderr)
        ids = [json.loads(x)["id"] for x in open(res)]
        h.check(ids == [f"k{i:05d}" for i in range(1500)],
                "every id once, in order")
        h.log(f"killed after {done} of 1500")


h.main(scenario)
