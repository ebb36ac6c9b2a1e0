#!/usr/bin/env python3
"""Fault-injecting fake of the OpenAI embeddings API, for embedwatch's tests.

What it proves: that embedwatch's workers and supervisor cope with whatever
an OpenAI (or "OpenAI-compatible") embeddings server can do to them.  Every
good answer is OpenAI-shaped and deterministic (see embedding_for), and its
`data` array is shuffled, so a client that ignores `index` is caught.  A
directive `@fault:NAME[:ARG[:ARG2]]` inside any input text makes that one
request misbehave: hang, drip, stall, reset, 5xx/429 a few times then
succeed, truncated or inconsistent JSON, a 300 MiB body, a lying
Content-Length, ...  README.md beside this file lists them all.

Python 3.11 standard library only: `python3 tests/fake/fake_api.py --port-file F`.
The HTTP/1.1 server is hand-rolled over asyncio streams so that it answers
thousands of requests quickly and holds many hung connections at once.
"""

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import math
import os
import random
import re
import resource
import signal
import socket
import struct
import sys
import time
import traceback
from http import HTTPStatus
from typing import NamedTuple

DEFAULT_DIMS = 8
MAX_DIMS = 65536
MAX_HEAD = 64 << 10
MAX_BODY = 64 << 20
HUGE_CHUNK = 64 << 10
HUGE_PAD = b" " * HUGE_CHUNK
HUGE_PREFIX = b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":['
LIE_EXTRA = 64
DEFAULT_MODEL = "text-embedding-3-small"
FAULT_RE = re.compile(r"@fault:(\w+)(?::(\d+))?(?::(\d+))?")


def embedding_for(text: str, dims: int) -> list[float]:
    """The embedding every good answer carries for `text`.

    The bytes sha256(utf8(text) + be32(0)), sha256(utf8(text) + be32(1)), ...
    read as little-endian int16 give one k per value; the value is
    (2k+1)/65536: in [-1, 1), never zero, and exactly a float32, so float and
    base64 answers decode to the same floats.  A longer vector extends a
    shorter one.
    """
    seed = text.encode("utf-8", "surrogatepass")
    blocks = (2 * dims + 31) // 32
    raw = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(blocks))
    return [(2 * k + 1) / 65536 for k in struct.unpack_from("<%dh" % dims, raw)]


def encode_vector(vector: list[float], fmt: str):
    """A vector as OpenAI sends it: a JSON array, or base64 of <f32 values."""
    if fmt == "base64":
        return base64.b64encode(struct.pack("<%df" % len(vector), *vector)).decode("ascii")
    return vector


def error_body(message: str, type_: str = "invalid_request_error", code=None, param=None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": param,
                                 "code": code}}, separators=(",", ":")).encode()


class HttpError(Exception):
    """A request this server cannot read; answered with status, then closed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class BadRequest(Exception):
    """An embeddings request whose JSON is not acceptable (400)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class Fault(NamedTuple):
    name: str
    arg: int | None
    arg2: int | None

    def n(self, default: int) -> int:
        return default if self.arg is None else self.arg


def find_fault(texts: list[str]) -> Fault | None:
    """The first @fault:NAME[:ARG[:ARG2]] directive in the texts, if any."""
    for text in texts:
        if "@fault:" in text:
            m = FAULT_RE.search(text)
            if m:
                name, arg, arg2 = m.groups()
                return Fault(name, arg and int(arg), arg2 and int(arg2))
    return None


class Job:
    """One parsed embeddings request."""

    def __init__(self, model: str, texts: list[str], fmt: str, dims: int):
        self.model, self.texts, self.fmt, self.dims = model, texts, fmt, dims

    def tokens(self) -> int:
        """The prompt_tokens its answer reports: words in all inputs."""
        return sum(len(t.split()) for t in self.texts)

    def key(self) -> str:
        """Identifies the request across retries (for 500/503/429 counts)."""
        return hashlib.sha256(json.dumps(self.texts).encode()).hexdigest()

    def entries(self) -> list[tuple[int, list[float]]]:
        """The (index, vector) pairs of a correct answer."""
        return [(i, embedding_for(t, self.dims)) for i, t in enumerate(self.texts)]

    def body(self, entries, fmt: str | None = None) -> bytes:
        """An OpenAI success body carrying entries, in random order."""
        fmt = fmt or self.fmt
        data = [{"object": "embedding", "index": i, "embedding": encode_vector(v, fmt)}
                for i, v in entries]
        random.shuffle(data)
        tokens = self.tokens()
        return json.dumps({"object": "list", "data": data, "model": self.model,
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                          separators=(",", ":")).encode()


def parse_job(body: bytes, default_dims: int) -> Job:
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise BadRequest(f"We could not parse the JSON body of your request. ({e})") from None
    if not isinstance(doc, dict):
        raise BadRequest("The request body must be a JSON object.")
    texts = doc.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)):
        raise BadRequest("'input' must be a string or a non-empty array of strings.", "input")
    model = doc.get("model", DEFAULT_MODEL)
    if not isinstance(model, str):
        raise BadRequest("'model' must be a string.", "model")
    fmt = doc.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    dims = doc.get("dimensions", default_dims)
    if type(dims) is not int or not 1 <= dims <= MAX_DIMS:
        raise BadRequest(f"'dimensions' must be an integer in 1..{MAX_DIMS}.", "dimensions")
    return Job(model, texts, fmt, dims)


class Request(NamedTuple):
    method: str
    path: str
    target: str
    headers: dict[str, str]
    body: bytes


def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(400, "malformed request line")
    headers = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError(400, "malformed header line")
            headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers


def wants_keep_alive(version: str, headers: dict[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


class Conn:
    """One client connection: reads requests, writes answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 conn_id: int = 0, idle_close_ms: int = 0):
        self.reader, self.writer = reader, writer
        self.keep_alive = True
        self.status = None  # of the last answer, for the log
        self.id = conn_id
        self.accepted = time.monotonic()
        self.idle_close_ms = idle_close_ms
        self.n_requests = 0
        self.tls_resumed = None  # over TLS: did the handshake resume a session?

    async def read_request(self) -> Request | None:
        """The next request, or None when the client closed between requests
        (or, with --idle-close-ms, sent none for that long)."""
        try:
            if self.idle_close_ms:
                head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"),
                                              self.idle_close_ms / 1000)
            else:
                head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.TimeoutError:
            return None
        except asyncio.LimitOverrunError:
            raise HttpError(431, "request head too large") from None
        method, target, version, headers = parse_head(head.lstrip(b"\r\n"))
        if "transfer-encoding" in headers:
            raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
        length = headers.get("content-length", "0")
        if not re.fullmatch(r"[0-9]{1,12}", length):
            raise HttpError(400, "bad Content-Length")
        if int(length) > MAX_BODY:
            raise HttpError(413, f"request body over {MAX_BODY} bytes")
        if headers.get("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self.reader.readexactly(int(length))
        self.keep_alive = wants_keep_alive(version, headers)
        self.status = None
        return Request(method, target.partition("?")[0], target, headers, body)

    def write_head(self, status: int, length: int, headers=(), ctype="application/json"):
        self.status = status
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
                 f"Content-Type: {ctype}", f"Content-Length: {length}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if not self.keep_alive:
            lines.append("Connection: close")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def send(self, status: int, body: bytes, headers=(), ctype="application/json"):
        self.write_head(status, len(body), headers, ctype)
        self.writer.write(body)
        await self.writer.drain()

    async def until_gone(self):
        """Wait for the client to close the connection, discarding its bytes."""
        self.keep_alive = False
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionError:
            pass

    async def unless_gone(self, answer):
        """Run the coroutine answer, but drop it as soon as the client goes away."""
        self.keep_alive = False
        work = asyncio.ensure_future(answer)
        gone = asyncio.ensure_future(self.until_gone())
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            work.cancel()
            gone.cancel()
        if work.done() and not work.cancelled():
            work.result()

    def reset(self):
        """Close with a TCP RST instead of a FIN."""
        self.keep_alive = False
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


# --- faults: each answers (or does not answer) one request ----------------

async def fault_hang(srv, conn, job, f):
    await conn.until_gone()


async def fault_stall(srv, conn, job, f):
    conn.writer.write(b"HTTP/1.1 200 OK\r\n")
    await conn.until_gone()


async def fault_reset(srv, conn, job, f):
    conn.reset()


async def fault_close(srv, conn, job, f):
    conn.keep_alive = False


async def fault_drip(srv, conn, job, f):
    body = job.body(job.entries())
    interval = f.n(1000) / 1000

    async def trickle():
        conn.write_head(200, len(body))
        for i in range(len(body)):
            await asyncio.sleep(interval)
            conn.writer.write(body[i:i + 1])
            await conn.writer.drain()

    await conn.unless_gone(trickle())


async def fault_huge(srv, conn, job, f):
    size = f.n(300) << 20

    async def stream():
        conn.write_head(200, size)
        prefix = HUGE_PREFIX[:size]
        conn.writer.write(prefix)
        sent = len(prefix)
        pad = memoryview(HUGE_PAD)
        while sent < size:
            n = min(HUGE_CHUNK, size - sent)
            conn.writer.write(pad[:n])
            sent += n
            await conn.writer.drain()

    await conn.unless_gone(stream())


async def fault_lie(srv, conn, job, f):
    body = job.body(job.entries())
    conn.keep_alive = False
    conn.write_head(200, len(body) + LIE_EXTRA)
    conn.writer.write(body)
    await conn.writer.drain()


async def fault_chunked(srv, conn, job, f):
    """The correct answer in chunks of ARG bytes (default 7), after an
    interim 100 Continue and with a trailer."""
    body = job.body(job.entries())
    size = f.n(7)
    conn.status = 200
    conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    conn.writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        conn.writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
    await conn.writer.drain()
    srv.stats.ok += 1


async def fault_eofbody(srv, conn, job, f):
    """The correct answer with neither Content-Length nor chunks: the body
    ends when the connection closes."""
    body = job.body(job.entries())
    conn.keep_alive = False
    conn.status = 200
    conn.writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Connection: close\r\n\r\n" + body)
    await conn.writer.drain()
    srv.stats.ok += 1


async def fault_garbage(srv, conn, job, f):
    """Bytes that are not HTTP, then close."""
    conn.keep_alive = False
    conn.writer.write(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n")
    await conn.writer.drain()


async def fault_headclose(srv, conn, job, f):
    """A status line and half a header, then close."""
    conn.keep_alive = False
    conn.writer.write(b"HTTP/1.1 200 OK\r\nContent-Ty")
    await conn.writer.drain()


SERVER_ERRORS = {
    "500": "The server had an error while processing your request. Sorry about that! (500)",
    "503": "The engine is currently overloaded, please try again later. (503)",
}


async def fault_server_error(srv, conn, job, f):
    if srv.stats.bump(job.key()) > f.n(1):
        return await srv.succeed(conn, job)
    await conn.send(int(f.name), error_body(SERVER_ERRORS[f.name], "server_error"))


async def fault_rate_limit(srv, conn, job, f):
    if srv.stats.bump(job.key()) > f.n(1):
        return await srv.succeed(conn, job)
    headers = [("Retry-After", "1")]
    if f.arg2 is not None:
        headers.append(("retry-after-ms", str(f.arg2)))
    await conn.send(429, error_body(
        f"Rate limit reached for {job.model} on requests per min (RPM): Limit 3, Used 3, "
        "Requested 1. Please try again in 1s. (429)", "requests", "rate_limit_exceeded"), headers)


async def fault_quota(srv, conn, job, f):
    await conn.send(429, error_body(
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota", "insufficient_quota"))


CLIENT_ERRORS = {
    400: ("Invalid request (400): this fake was told to reject it.", None),
    401: ("Incorrect API key provided (401). You can find your API key at "
          "https://platform.openai.com/account/api-keys.", "invalid_api_key"),
    403: ("You are not allowed to access this resource (403).", "forbidden"),
    404: ("The model does not exist or you do not have access to it (404).", "model_not_found"),
    422: ("Unprocessable entity (422): this fake was told to reject it.", None),
}


async def fault_client_error(srv, conn, job, f):
    message, code = CLIENT_ERRORS[int(f.name)]
    await conn.send(int(f.name), error_body(message, code=code))


async def fault_badjson(srv, conn, job, f):
    await conn.send(200, b'{"object":"list","data":[{')


async def fault_few(srv, conn, job, f):
    await conn.send(200, job.body(job.entries()[:-1]))


async def fault_dims(srv, conn, job, f):
    entries = job.entries()
    index, vector = entries[-1]
    entries[-1] = (index, vector[:-1])
    await conn.send(200, job.body(entries))


async def fault_dupindex(srv, conn, job, f):
    entries = job.entries()
    if len(entries) > 1:
        entries[-1] = (0, entries[-1][1])  # index 0 twice, the last index missing
    else:
        entries.append(entries[0])  # one input: index 0 twice
    await conn.send(200, job.body(entries))


async def fault_nan(srv, conn, job, f):
    entries = job.entries()
    entries[0][1][0] = float("nan")
    await conn.send(200, job.body(entries))


async def fault_slow(srv, conn, job, f):
    await srv.succeed(conn, job, delay_ms=f.n(1000))


async def fault_hangonce(srv, conn, job, f):
    """Hang the first n times these inputs are seen, then succeed."""
    if srv.stats.bump(job.key()) > f.n(1):
        return await srv.succeed(conn, job)
    await conn.until_gone()


async def fault_slowseq(srv, conn, job, f):
    """The first time these inputs are seen take ARG ms, later ARG2 ms."""
    first = srv.stats.bump(job.key()) == 1
    await srv.succeed(conn, job, delay_ms=f.n(100) if first else (f.arg2 or 0))


async def fault_array(srv, conn, job, f):
    await srv.succeed(conn, job, fmt="float")


async def fault_base64(srv, conn, job, f):
    await srv.succeed(conn, job, fmt="base64")


FAULTS = {
    "hang": fault_hang, "stall": fault_stall, "reset": fault_reset, "close": fault_close,
    "drip": fault_drip, "huge": fault_huge, "lie": fault_lie,
    "500": fault_server_error, "503": fault_server_error, "429": fault_rate_limit,
    "quota": fault_quota,
    **{str(status): fault_client_error for status in CLIENT_ERRORS},
    "badjson": fault_badjson, "few": fault_few, "dims": fault_dims,
    "dupindex": fault_dupindex, "nan": fault_nan,
    "slow": fault_slow, "array": fault_array, "base64": fault_base64,
    "chunked": fault_chunked, "eofbody": fault_eofbody, "garbage": fault_garbage,
    "headclose": fault_headclose,
    "hangonce": fault_hangonce, "slowseq": fault_slowseq,
}


# --- hostile servers (issue 14) -------------------------------------------

async def fault_utf8(srv, conn, job, f):
    """A 400 whose message is 600 x 'é' (ARG 1: 200 emoji)."""
    text = "\U0001f600" * 200 if f.n(0) == 1 else "\u00e9" * 600
    await conn.send(400, json.dumps({"error": {"message": text}},
                                    ensure_ascii=False).encode())


async def fault_redirect(srv, conn, job, f):
    """A 302 whose Location is UTF-8 (ARG 1: holds byte 0xff)."""
    where = b"https://example.com/\xff\xfe/x" if f.n(0) == 1 else \
        "https://example.com/caf\u00e9/\U0001f600".encode()
    conn.keep_alive = False
    conn.writer.write(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\nLocation: " + where + b"\r\n\r\n")
    await conn.writer.drain()


async def fault_echoauth(srv, conn, job, f):
    """Quote the request's Authorization header back: in a 401 JSON error
    (ARG 1: a bare key in an HTML 500 page; ARG 2: the key alone, cut off
    at the end of a 600-byte message; ARG 3: every request header, in a
    403)."""
    auth = srv.stats.last_headers.get("authorization", "")
    key = auth.partition(" ")[2]
    if f.n(0) == 1:
        page = (f"<html><body><h1>500</h1><p>key {key} failed; header "
                f"{auth}</p></body></html>").encode()
        return await conn.send(500, page, ctype="text/html")
    if f.n(0) == 2:
        text = "x" * (395 - len("HTTP 401: ")) + " " + key
        return await conn.send(401, error_body(text, code="invalid_api_key"))
    if f.n(0) == 3:
        text = "headers: " + json.dumps(srv.stats.last_headers)
        return await conn.send(403, error_body(text))
    await conn.send(401, error_body(f"Incorrect API key provided: {auth}. "
                                    f"Key {key} is wrong.", code="invalid_api_key"))


async def fault_nothttp(srv, conn, job, f):
    """Answer bytes that are not HTTP (ARG 1: a status line 'HTTP/1.1 abc';
    ARG 2: close in the middle of the headers)."""
    conn.keep_alive = False
    conn.writer.write({1: b"HTTP/1.1 abc\r\nContent-Length: 2\r\n\r\n{}",
                       2: b"HTTP/1.1 200 OK\r\nContent-Type: appl"}.get(
                           f.n(0), b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\x00\x01\x02"))
    await conn.writer.drain()


async def fault_b64url(srv, conn, job, f):
    """base64 in the URL-safe alphabet ('-' and '_')."""
    body = json.loads(job.body(job.entries(), "base64"))
    for item in body["data"]:
        text = item["embedding"].replace("+", "-").replace("/", "_")
        item["embedding"] = text if text != item["embedding"] else "-" + text[1:]
    await conn.send(200, json.dumps(body).encode())


FAULTS.update({"utf8": fault_utf8, "redirect": fault_redirect, "echoauth": fault_echoauth,
               "nothttp": fault_nothttp, "b64url": fault_b64url})
class RateLimit:
    """OpenAI-style limits: token buckets of requests and tokens a minute,
    refilling continuously, reported in x-ratelimit-* headers on every
    answer; a request that finds a bucket short gets a 429 with
    retry-after-ms and Retry-After."""

    def __init__(self, rpm: int, tpm: int, start_requests: int | None,
                 start_tokens: int | None):
        self.rpm, self.tpm = rpm, tpm
        self.req = float(rpm if start_requests is None else start_requests)
        self.tok = float(tpm if start_tokens is None else start_tokens)
        self.at = time.monotonic()

    def refill(self):
        now = time.monotonic()
        dt, self.at = now - self.at, now
        if self.rpm:
            self.req = min(self.rpm, self.req + self.rpm * dt / 60)
        if self.tpm:
            self.tok = min(self.tpm, self.tok + self.tpm * dt / 60)

    @staticmethod
    def duration(seconds: float) -> str:
        """OpenAI's format: 6m0s, 1s, 20ms."""
        if seconds < 1:
            return f"{max(0, round(seconds * 1000))}ms"
        m, sec = divmod(seconds, 60)
        return f"{int(m)}m{sec:.0f}s" if m else f"{sec:.3g}s"

    def headers(self):
        out = []
        if self.rpm:
            out += [("x-ratelimit-limit-requests", str(self.rpm)),
                    ("x-ratelimit-remaining-requests", str(int(self.req))),
                    ("x-ratelimit-reset-requests",
                     self.duration((self.rpm - self.req) * 60 / self.rpm))]
        if self.tpm:
            out += [("x-ratelimit-limit-tokens", str(self.tpm)),
                    ("x-ratelimit-remaining-tokens", str(int(self.tok))),
                    ("x-ratelimit-reset-tokens",
                     self.duration((self.tpm - self.tok) * 60 / self.tpm))]
        return out

    def take(self, tokens: int) -> float:
        """Charge one request of tokens; 0, or the seconds until it fits."""
        self.refill()
        wait = 0.0
        if self.rpm and self.req < 1:
            wait = (1 - self.req) * 60 / self.rpm
        if self.tpm and self.tok < min(tokens, self.tpm):
            wait = max(wait, (min(tokens, self.tpm) - self.tok) * 60 / self.tpm)
        if wait == 0:
            self.req -= 1 if self.rpm else 0
            self.tok -= tokens if self.tpm else 0
        return wait


# --- the server ------------------------------------------------------------

class Stats:
    def __init__(self):
        self.open_connections = 0
        self.in_progress = 0  # embeddings requests not finished yet
        self.reset()

    def reset(self):
        self.requests = 0
        self.ok = 0
        self.connections = 0  # accepted since the reset
        self.calls = collections.deque(maxlen=10000)  # per embeddings request
        self.faults = collections.Counter()
        self.seen = collections.Counter()  # request key -> times seen, for 500/503/429
        self.last_headers = {}
        self.texts_requested = collections.Counter()  # text -> calls holding it
        self.texts_answered = collections.Counter()   # text -> 200 answers sent
        self.rate_limited = 0  # 429s from the --rl-* limits
        self.last_body = None

    def bump(self, key: str) -> int:
        self.seen[key] += 1
        return self.seen[key]

    def snapshot(self) -> dict:
        return {"requests": self.requests, "ok": self.ok, "faults": dict(self.faults),
                "open_connections": self.open_connections, "connections": self.connections,
                "in_progress": self.in_progress, "last_headers": self.last_headers,
                "rate_limited": self.rate_limited, "last_body": self.last_body}


class Server:
    def __init__(self, opts):
        self.opts = opts
        self.stats = Stats()
        self.tasks = set()
        self.n_conns = 0  # ever accepted: connection ids
        self.tls = None
        if opts.tls_cert:
            import ssl
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(opts.tls_cert, opts.tls_key)
        self.hang_prob = opts.hang_prob
        self.rl = (RateLimit(opts.rl_rpm, opts.rl_tpm, opts.rl_start_requests,
                             opts.rl_start_tokens)
                   if opts.rl_rpm or opts.rl_tpm else None)

    async def handle(self, reader, writer):
        """Serve one connection until it closes; never lets an error escape."""
        self.n_conns += 1
        self.stats.connections += 1
        conn = Conn(reader, writer, self.n_conns, self.opts.idle_close_ms)
        task = asyncio.current_task()
        self.tasks.add(task)
        self.stats.open_connections += 1
        try:
            if self.tls is not None:
                if self.n_conns <= self.opts.tls_hang_first:
                    await conn.until_gone()  # never answers the ClientHello
                    return
                await writer.start_tls(self.tls)
                conn.tls_resumed = writer.get_extra_info("ssl_object").session_reused
            while conn.keep_alive:
                try:
                    req = await conn.read_request()
                except HttpError as e:
                    conn.keep_alive = False
                    await conn.send(e.status, error_body(str(e)))
                    break
                if req is None:
                    break
                start = time.monotonic()
                fault = await self.route(conn, req)
                if self.opts.log:
                    self.log(req, conn, fault, start)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request or mid-answer
        except asyncio.CancelledError:
            pass  # shutdown; ending quietly keeps 3.11's asyncio from logging each one
        except Exception:
            traceback.print_exc()  # a bug in this fake: report it, serve the others
        finally:
            self.stats.open_connections -= 1
            self.tasks.discard(task)
            writer.close()

    async def route(self, conn, req) -> str | None:
        """Answer req; returns the fault applied, for the log."""
        if req.method == "POST" and req.path.endswith("/embeddings"):
            self.stats.in_progress += 1
            try:
                return await self.embeddings(conn, req)
            finally:
                self.stats.in_progress -= 1
        if req.method == "GET" and req.path == "/_stats":
            await conn.send(200, json.dumps(self.stats.snapshot()).encode())
        elif req.method == "GET" and req.path == "/_calls":
            await conn.send(200, json.dumps(list(self.stats.calls)).encode())
        elif req.method == "GET" and req.path == "/_texts":
            await conn.send(200, json.dumps({
                "requested": self.stats.texts_requested,
                "answered": self.stats.texts_answered}).encode())
        elif req.method == "GET" and req.path == "/_reset":
            self.stats.reset()
            await conn.send(200, b'{"reset":true}')
        elif req.method == "GET" and req.path == "/_set":
            # /_set?hang_prob=P: change the hang probability at run time.
            for pair in req.target.partition("?")[2].split("&"):
                name, _, value = pair.partition("=")
                if name == "hang_prob":
                    self.hang_prob = float(value)
            await conn.send(200, json.dumps({"hang_prob": self.hang_prob}).encode())
        elif req.method == "GET" and req.path == "/health":
            await conn.send(200, b"ok\n", ctype="text/plain")
        elif req.path.endswith("/embeddings"):
            await conn.send(405, error_body(f"Method {req.method} not allowed; use POST."))
        else:
            await conn.send(404, error_body(f"Unknown request URL: {req.method} {req.path}."))
        return None

    async def embeddings(self, conn, req) -> str | None:
        stats = self.stats
        stats.requests += 1
        conn.n_requests += 1
        stats.calls.append({"conn": conn.id, "accepted": conn.accepted,
                            "received": time.monotonic(), "nth": conn.n_requests,
                            "tls_resumed": conn.tls_resumed})
        stats.last_headers = req.headers
        try:
            stats.last_body = json.loads(req.body)
        except ValueError:
            stats.last_body = None
        key = self.opts.require_key
        if key is not None and req.headers.get("authorization") != "Bearer " + key:
            stats.faults["auth"] += 1
            await conn.send(401, error_body("Incorrect API key provided.", code="invalid_api_key"))
            return "auth"
        try:
            job = parse_job(req.body, self.opts.dims)
        except BadRequest as e:
            await conn.send(400, error_body(str(e), param=e.param))
            return "badrequest"
        stats.texts_requested.update(job.texts)
        if self.hang_prob and random.random() < self.hang_prob:
            stats.faults["hang_prob"] += 1
            await conn.until_gone()
            return "hang_prob"
        extra = ()
        if self.rl is not None:
            wait = self.rl.take(job.tokens())
            extra = self.rl.headers()
            if wait:
                stats.rate_limited += 1
                await conn.send(429, error_body(
                    f"Rate limit reached for {job.model}: please try again in "
                    f"{wait * 1000:.0f}ms. (429)", "requests", "rate_limit_exceeded"),
                    list(extra) + [("retry-after-ms", f"{wait * 1000:.0f}"),
                                   ("Retry-After", str(max(1, round(wait))))])
                return "rate_limited"
        fault = find_fault(job.texts)
        if fault is None:
            await self.succeed(conn, job, headers=extra)
            return None
        stats.faults[fault.name] += 1
        handler = FAULTS.get(fault.name)
        if handler is None:
            await conn.send(400, error_body(f"fake_api: unknown directive @fault:{fault.name}"))
        else:
            await handler(self, conn, job, fault)
        return fault.name

    async def succeed(self, conn, job, fmt=None, delay_ms=0, headers=()):
        delay_ms += self.opts.delay_ms
        if self.opts.lognormal:
            median, sigma = self.opts.lognormal
            delay_ms += random.lognormvariate(math.log(median), sigma)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        await conn.send(200, job.body(job.entries(), fmt), headers)
        self.stats.ok += 1
        self.stats.texts_answered.update(job.texts)

    def log(self, req, conn, fault, start):
        ms = (time.monotonic() - start) * 1000
        print(f"{req.method} {req.target} -> {conn.status or '-'} fault={fault or '-'} "
              f"{ms:.1f}ms", file=sys.stderr, flush=True)


def write_port_file(path: str, port: int):
    with open(path + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.replace(path + ".tmp", path)


def raise_fd_limit():
    """Hung connections each hold a descriptor: allow as many as we may."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(opts):
    srv = Server(opts)
    server = await asyncio.start_server(srv.handle, opts.host, opts.port,
                                        limit=MAX_HEAD, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    if opts.port_file:
        write_port_file(opts.port_file, port)
    print(f"listening on {opts.host}:{port}", file=sys.stderr, flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    server.close()
    tasks = list(srv.tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def lognormal_arg(text: str) -> tuple[float, float]:
    median, _, sigma = text.partition(":")
    return float(median), float(sigma or "0.5")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Fault-injecting fake OpenAI embeddings API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    p.add_argument("--port-file", help="write the port here (atomically) once listening")
    p.add_argument("--dims", type=int, default=DEFAULT_DIMS,
                   help="dimensions when the request has none")
    p.add_argument("--require-key", help="401 unless 'Authorization: Bearer KEY'")
    p.add_argument("--delay-ms", type=int, default=0, help="delay every success answer")
    p.add_argument("--log", action="store_true", help="one line per request on stderr")
    p.add_argument("--idle-close-ms", type=int, default=0,
                   help="close a connection that sends no request for this long")
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM) ...")
    p.add_argument("--tls-key", help="... and this key")
    p.add_argument("--tls-hang-first", type=int, default=0,
                   help="never answer the ClientHello of the first N connections")
    p.add_argument("--hang-prob", type=float, default=0.0,
                   help="each embeddings request hangs with this probability (fresh draw each)")
    p.add_argument("--lognormal", type=lognormal_arg, default=None, metavar="MEDIAN_MS:SIGMA",
                   help="add a log-normal server time to every success answer")
    p.add_argument("--rl-rpm", type=int, default=0, help="enforce N requests a minute")
    p.add_argument("--rl-tpm", type=int, default=0, help="enforce N tokens a minute")
    p.add_argument("--rl-start-requests", type=int, default=None,
                   help="requests left in the bucket at start (default: full)")
    p.add_argument("--rl-start-tokens", type=int, default=None,
                   help="tokens left in the bucket at start (default: full)")
    return p.parse_args(argv)


def main():
    opts = parse_args()
    raise_fd_limit()
    asyncio.run(serve(opts))


if __name__ == "__main__":
    main()
