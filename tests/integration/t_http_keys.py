"""Proves: without --client-keys the HTTP front binds loopback and accepts any bearer (or none), and refuses a non-loopback --listen with a clear message (exit 64); with --client-keys (mode 0600; a group- or world-readable file is refused, exit 78) a request without a key or with a wrong one gets 401 in OpenAI's shape, a listed key is served (also on 0.0.0.0), /healthz stays open; the upstream key goes to the API and never to a client, and the client's key never goes upstream."""
import json
import os
import subprocess
import tempfile

import harness as h
import http_harness as hh
import serve_harness as sh

UPSTREAM_KEY = "sk-upstream-secret-4242"


def run_refused(api, args, env=None):
    r = subprocess.run([h.EMBEDWATCH, "serve"] + args, capture_output=True,
                       env=sh.serve_env(api, env), timeout=30 * h.SLACK)
    return r.returncode, r.stderr.decode()


def scenario():
    d = tempfile.mkdtemp(prefix="ew-keys-")
    keys = os.path.join(d, "keys")
    with open(keys, "w") as f:
        f.write("# clients\nkey-one\n\n  key-two  \n")
    os.chmod(keys, 0o644)
    env = {"EMBEDWATCH_API_KEY": UPSTREAM_KEY}
    with h.FakeAPI("--require-key", UPSTREAM_KEY) as api:
        rc, err = run_refused(api, ["--listen", "0.0.0.0:0"], env)
        h.check(rc == 64 and "without --client-keys" in err,
                "non-loopback without keys refused", rc, err)
        rc, err = run_refused(api, ["--listen", "127.0.0.1:0",
                                    "--client-keys", keys], env)
        h.check(rc == 78 and "readable by group or others" in err,
                "a readable keys file refused", rc, err)
        rc, err = run_refused(api, ["--listen", "nohost"], env)
        h.check(rc == 64 and "HOST:PORT" in err, "a bad --listen", rc, err)
        os.chmod(keys, 0o600)

        with hh.HttpServer(api, env=env) as srv:
            for hdrs in ({}, {"Authorization": "Bearer whatever"}):
                st, _, body = srv.embed({"input": "open"}, hdrs)
                h.check(st == 200, "any bearer without --client-keys",
                        hdrs, body)
            h.check(api.stats()["last_headers"].get("authorization") ==
                    "Bearer " + UPSTREAM_KEY, "the upstream key upstream",
                    api.stats()["last_headers"])

        with hh.HttpServer(api, "--client-keys", keys,
                           listen="0.0.0.0:0", env=env) as srv:
            for hdrs in ({}, {"Authorization": "Bearer key-three"},
                         {"Authorization": "Bearer key-on"},
                         {"Authorization": "Basic a2V5LW9uZQ=="}):
                st, hd, body = srv.embed({"input": "closed"}, hdrs)
                h.check(st == 401, "401 without a listed key", hdrs, st)
                h.check(body["error"]["code"] == "invalid_api_key" and
                        hd.get("x-should-retry") == "false",
                        "OpenAI's 401", body, hd)
            for key in ("key-one", "key-two"):
                st, _, raw = srv.request(
                    "POST", "/v1/embeddings",
                    json.dumps({"input": "let in"}).encode(),
                    {"Authorization": "Bearer " + key})
                h.check(st == 200, f"{key} is served", st, raw)
                h.check(UPSTREAM_KEY.encode() not in raw,
                        "no upstream key in the answer")
                h.check(api.stats()["last_headers"].get("authorization") ==
                        "Bearer " + UPSTREAM_KEY, "the client key stays "
                        "inside", api.stats()["last_headers"])
            st, _, _ = srv.request("GET", "/v1/models")
            h.check(st == 401, "models needs a key too", st)
            st, _, _ = srv.request("GET", "/healthz")
            h.check(st == 200, "healthz needs none", st)
            h.check(UPSTREAM_KEY not in srv.stderr() and
                    "key-one" not in srv.stderr(), "no key in the log")
    os.unlink(keys)
    os.rmdir(d)


h.main(scenario)
