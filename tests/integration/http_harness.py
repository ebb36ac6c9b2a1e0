"""Helpers for the HTTP front scenarios (tests/integration/t_http_*.py).

HttpServer runs `embedwatch serve --listen 127.0.0.1:0` (any free port,
read back from its log line "serving HTTP on 127.0.0.1:PORT") through
serve_harness.Server, so it cleans up the same way. request() is one
call over a fresh connection with http.client; Conn keeps one
connection open for keep-alive. node() runs a script with the real
openai-node SDK from scripts/node (installed by scripts/install-node-deps,
which the Makefile's test targets run first).
"""
import http.client
import json
import os
import re
import subprocess
import time

import harness as h
import serve_harness as sh

NODE_MODULES = os.path.join(h.ROOT, "scripts", "node", "node_modules")
PORT_RE = re.compile(r"serving HTTP on (\S+):(\d+) ")


class HttpServer(sh.Server):
    """serve with --listen 127.0.0.1:0 (and the Unix socket only if
    socket=True); start() waits until the HTTP port is logged."""

    def __init__(self, api, *args, socket=False, listen="127.0.0.1:0",
                 **kw):
        args = list(args)
        if listen is not None:
            args = ["--listen", listen] + args
        super().__init__(api, *args, socket=socket, **kw)
        self.port = None

    def start(self):
        super().start()
        deadline = time.monotonic() + 20 * h.SLACK
        while self.port is None:
            m = PORT_RE.search(self.stderr())
            if m:
                self.port = int(m.group(2))
                break
            h.check(self.proc.poll() is None,
                    f"serve exited {self.proc.returncode} at start",
                    self.stderr())
            h.check(time.monotonic() < deadline, "no HTTP port logged",
                    self.stderr())
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self

    def conn(self, timeout=None):
        return Conn(self.port, timeout)

    def request(self, method, path, body=None, headers=None, timeout=None):
        with self.conn(timeout) as c:
            return c.request(method, path, body, headers)

    def embed(self, payload, headers=None, timeout=None):
        """POST /v1/embeddings with payload (a dict); returns (status,
        headers dict, parsed JSON body)."""
        status, hdrs, body = self.request(
            "POST", "/v1/embeddings", json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
            timeout)
        return status, hdrs, json.loads(body)

    def metrics(self):
        status, _, body = self.request("GET", "/metrics")
        h.check(status == 200, "GET /metrics is 200", status, body)
        return parse_prometheus(body.decode())


class Conn:
    """One keep-alive connection."""

    def __init__(self, port, timeout=None):
        self.c = http.client.HTTPConnection("127.0.0.1", port,
                                            timeout=timeout or 60 * h.SLACK)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.c.close()

    def request(self, method, path, body=None, headers=None):
        self.c.request(method, path, body=body, headers=headers or {})
        r = self.c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data


SAMPLE_RE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_prometheus(text):
    """The Prometheus text format (0.0.4), strictly: returns {"types":
    {family: type}, "samples": {(name, frozenset(labels.items())): value}}.
    Fails on anything malformed: a sample line that does not parse, a
    label list with junk, a TYPE given twice, a sample of a family whose
    TYPE came after it, a histogram whose buckets are not cumulative or
    lack +Inf equal to _count."""
    types, samples, seen = {}, {}, set()
    h.check(text.endswith("\n"), "exposition ends with a newline")
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                h.check(parts[2] not in types, "TYPE twice", line)
                h.check(parts[2] not in seen, "TYPE after samples", line)
                h.check(parts[3] in ("counter", "gauge", "histogram",
                                     "summary", "untyped"), "a known type",
                        line)
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE_RE.match(line)
        h.check(m is not None, "a sample line", line)
        name, _, labels_text, value = m.group(1), m.group(2), m.group(3), \
            m.group(4)
        labels = {}
        rest = labels_text or ""
        while rest:
            lm = LABEL_RE.match(rest)
            h.check(lm is not None, "a label pair", line, rest)
            labels[lm.group(1)] = lm.group(2)
            rest = rest[lm.end():]
        v = float(value)
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        seen.add(family if family in types else name)
        key = (name, frozenset(labels.items()))
        h.check(key not in samples, "a sample twice", line)
        samples[key] = v
    for family, t in types.items():
        if t != "histogram":
            continue
        buckets = sorted(((float(dict(k[1])["le"]), v)
                          for k, v in samples.items()
                          if k[0] == family + "_bucket"))
        h.check(buckets and buckets[-1][0] == float("inf"),
                "a +Inf bucket", family)
        h.check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
                "cumulative buckets", buckets)
        h.check(buckets[-1][1] == samples[(family + "_count", frozenset())],
                "+Inf equals _count", family)
    return {"types": types, "samples": samples}


def sample(m, name, **labels):
    """One sample's value (0 if absent, as Prometheus reads absence)."""
    return m["samples"].get((name, frozenset(labels.items())), 0)


def node(script, env=None, timeout=None):
    """Run a Node.js script with the real openai SDK importable; returns
    its stdout parsed as JSON (the script prints one JSON document)."""
    h.check(os.path.isdir(os.path.join(NODE_MODULES, "openai")),
            "scripts/node/node_modules/openai is installed "
            "(scripts/install-node-deps)")
    full = dict(os.environ)
    full["NODE_PATH"] = NODE_MODULES
    full.update(env or {})
    r = subprocess.run(["node", "-e", script], capture_output=True,
                       env=full, timeout=timeout or 120 * h.SLACK)
    h.check(r.returncode == 0, f"node exited {r.returncode}",
            r.stderr.decode(errors="replace")[-3000:])
    return json.loads(r.stdout)
