"""Proves: bin/embedwatch-worker works by hand: one JSON job on stdin, one JSON result on stdout, the exit status says the class, the key comes from the environment."""
import json
import os
import subprocess

import harness as h


def run(api, job, *args, key=None):
    env = {"PATH": os.environ["PATH"], "EMBEDWATCH_BASE_URL": api.base_url}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    if key:
        env["EMBEDWATCH_API_KEY"] = key
    p = subprocess.run([h.WORKER, *args], input=json.dumps(job).encode(),
                       capture_output=True, env=env, timeout=60)
    lines = p.stdout.decode().splitlines()
    h.check(len(lines) == 1, "exactly one line on stdout", p.stdout,
            p.stderr)
    return json.loads(lines[0]), p.returncode


def scenario():
    with h.FakeAPI() as api:
        r, rc = run(api, {"input": ["hello"]})
        h.check(rc == 0, f"exit {rc}", r)
        h.expect_ok(r, ["hello"])
        r, rc = run(api, {"input": "hi", "dimensions": 4},
                    "--encoding", "float")
        h.expect_ok(r, ["hi"], dims=4)
        r, rc = run(api, {"input": ["x @fault:401"]})
        h.check(rc == 2 and r["error"]["code"] == "http" and
                r["error"]["status"] == 401, "http error, exit 2", r, rc)
        r, rc = run(api, {"input": ["x @fault:badjson"]})
        h.check(rc == 5 and r["error"]["code"] == "bad_response",
                "bad_response, exit 5", r, rc)
        r, rc = run(api, {"input": ["x @fault:hang"]}, "--timeout", "1")
        h.check(rc == 4 and r["error"]["code"] == "timeout",
                "timeout, exit 4", r, rc)
        r, rc = run(api, {"input": []})
        h.check(rc == 6 and r["error"]["code"] == "invalid_request",
                "invalid job, exit 6", r, rc)
        r, rc = run(api, {"nope": 1})
        h.check(rc == 6, "job without input, exit 6", r, rc)
    # Connection refused on a port nothing listens on.
    r, rc = run(type("A", (), {"base_url": "http://127.0.0.1:9/v1"}),
                {"input": "x"})
    h.check(rc == 3 and r["error"]["code"] == "network", "network, exit 3",
            r, rc)


h.main(scenario)
