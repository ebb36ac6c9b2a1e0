"""Proves: the same round trip works from Python's standard library (urllib) and from curl, float and base64 both decoding to the fake's float32 vectors; members embedwatch does not set (user, an SDK's extra_body) reach the API as they are; GET /v1/models names the configured model, /healthz says ready; and the front refuses with OpenAI's error shape and x-should-retry: false: token-id input (400, param input), a bad encoding_format, a non-JSON body, an unknown path (404), GET on /v1/embeddings (405); an upstream 429 arrives as 429 with Retry-After, an upstream 500 that persists as 500, keep-alive carries several requests on one connection."""
import base64
import json
import shutil
import struct
import subprocess
import urllib.error
import urllib.request

import harness as h
import http_harness as hh
import fake_api  # noqa: E402


def urllib_embed(srv, payload):
    req = urllib.request.Request(
        srv.base_url + "/embeddings", data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": "Bearer anything"})
    with urllib.request.urlopen(req, timeout=30 * h.SLACK) as r:
        return r.status, json.load(r)


def b64_floats(s):
    raw = base64.b64decode(s)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def expect_error(status, hdrs, body, want_status, param=None):
    h.check(status == want_status, f"status {want_status}", status, body)
    h.check(hdrs.get("x-should-retry") == "false", "x-should-retry: false",
            hdrs)
    e = body.get("error")
    h.check(isinstance(e, dict) and set(e) == {"message", "type", "param",
                                               "code"},
            "OpenAI's error shape", body)
    h.check(e["param"] == param, f"param {param!r}", e)
    return e


def scenario():
    with h.FakeAPI() as api, hh.HttpServer(
            api, "--jobs", "4", "--retries", "1", "--model",
            "my-model") as srv:
        st, body = urllib_embed(srv, {"input": ["alpha", "beta"],
                                      "model": "my-model"})
        h.check(st == 200 and [d["index"] for d in body["data"]] == [0, 1],
                "urllib: 200, input order", body)
        for d, t in zip(body["data"], ["alpha", "beta"]):
            h.check(h.as_float32(d["embedding"]) ==
                    fake_api.embedding_for(t, 8), f"urllib float {t}", d)
        st, body = urllib_embed(srv, {"input": "gamma",
                                      "encoding_format": "base64"})
        h.check(b64_floats(body["data"][0]["embedding"]) ==
                fake_api.embedding_for("gamma", 8), "urllib base64", body)
        h.check(body["model"] == "my-model", "the configured model", body)

        curl = shutil.which("curl")
        h.check(curl is not None, "curl is installed")
        r = subprocess.run(
            [curl, "-sS", "--fail-with-body", srv.base_url + "/embeddings",
             "-H", "Content-Type: application/json", "-d",
             json.dumps({"input": "delta", "dimensions": 3})],
            capture_output=True, timeout=60 * h.SLACK)
        h.check(r.returncode == 0, "curl succeeded", r.stdout, r.stderr)
        body = json.loads(r.stdout)
        h.check(h.as_float32(body["data"][0]["embedding"]) ==
                fake_api.embedding_for("delta", 3), "curl float", body)

        # Members embedwatch does not set itself go upstream as they are.
        st, _, body = srv.embed({"input": "more", "user": "u1",
                                 "input_type": "query", "truncate": None})
        last = api.stats()["last_body"]
        h.check(st == 200 and last.get("user") == "u1" and
                last.get("input_type") == "query" and "truncate" not in last,
                "extra members passed upstream, nulls dropped", last)

        st, _, raw = srv.request("GET", "/v1/models")
        models = json.loads(raw)
        h.check(st == 200 and models["object"] == "list" and
                models["data"][0]["id"] == "my-model", "models", models)
        st, _, raw = srv.request("GET", "/healthz")
        h.check(st == 200 and json.loads(raw) == {"status": "ready"},
                "healthz ready", st, raw)

        st, hd, body = srv.embed({"input": [[1, 2, 3]]})
        e = expect_error(st, hd, body, 400, "input")
        h.check("token ids" in e["message"], "says why", e)
        st, hd, body = srv.embed({"input": [5, 6]})
        expect_error(st, hd, body, 400, "input")
        st, hd, body = srv.embed({"input": "x", "encoding_format": "int8"})
        expect_error(st, hd, body, 400, "encoding_format")
        st, hd, raw = srv.request("POST", "/v1/embeddings", b"{not json",
                                  {"Content-Type": "application/json"})
        expect_error(st, hd, json.loads(raw), 400)
        st, hd, raw = srv.request("GET", "/v2/nothing")
        expect_error(st, hd, json.loads(raw), 404)
        st, hd, raw = srv.request("GET", "/v1/embeddings")
        expect_error(st, hd, json.loads(raw), 405)

        st, hd, body = srv.embed({"input": "limited @fault:429:5"})
        expect_error(st, hd, body, 429)
        h.check(hd.get("retry-after") == "1", "Retry-After", hd)
        st, hd, body = srv.embed({"input": "broken @fault:500:5"})
        e = expect_error(st, hd, body, 500)
        h.check(e["type"] == "server_error", "a server_error", e)

        h.check(api.stats()["faults"].get("429") == 2 and
                api.stats()["faults"].get("500") == 2,
                "each retried once by embedwatch, no more", api.stats())

        with srv.conn() as c:
            for i in range(5):
                st, _, raw = c.request(
                    "POST", "/v1/embeddings",
                    json.dumps({"input": f"ka {i}"}).encode(),
                    {"Content-Type": "application/json"})
                h.check(st == 200, "keep-alive request", i, raw)
        m = srv.metrics()
        h.check(hh.sample(m, "embedwatch_http_connections") >= 1,
                "connections counted", m["samples"])


h.main(scenario)
