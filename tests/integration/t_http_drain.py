"""Proves: on SIGTERM the HTTP front stops listening (new connections are refused), closes idle keep-alive connections at once, still answers the request in flight (200, with Connection: close), answers a request that completes during the drain with 503 shutting_down, and serve then exits 0 with no workers left."""
import json
import signal
import socket
import time

import harness as h
import http_harness as hh


def post_head(length):
    return (b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: " +
            str(length).encode() + b"\r\n\r\n")


def read_response(s, timeout):
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        h.check(chunk != b"", "a response before EOF", data)
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                  if ln.lower().startswith(b"content-length:")][0])
    while len(body) < length:
        chunk = s.recv(65536)
        h.check(chunk != b"", "the whole body", body)
        body += chunk
    return int(head.split(b" ")[1]), head.decode().lower(), json.loads(body)


def eof_within(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def scenario():
    with h.FakeAPI() as api, hh.HttpServer(
            api, "--jobs", "2", "--drain", "20") as srv:
        idle = socket.create_connection(("127.0.0.1", srv.port))
        body = json.dumps({"input": "first"}).encode()
        idle.sendall(post_head(len(body)) + body)
        st, _, _ = read_response(idle, 20 * h.SLACK)
        h.check(st == 200, "the idle one was used once", st)

        busy = socket.create_connection(("127.0.0.1", srv.port))
        body = json.dumps({"input": "in flight @fault:slow:1500"}).encode()
        busy.sendall(post_head(len(body)) + body)
        late = socket.create_connection(("127.0.0.1", srv.port))
        late_body = json.dumps({"input": "too late"}).encode()
        late.sendall(post_head(len(late_body)) + late_body[:5])
        h.wait_until(lambda: api.open_calls() >= 1, 20 * h.SLACK,
                     "the slow call upstream")
        time.sleep(0.2)

        srv.signal(signal.SIGTERM)
        start = time.monotonic()
        h.check(eof_within(idle, 2 * h.SLACK), "idle keep-alive closed at "
                "once")
        h.log(f"idle closed {time.monotonic() - start:.2f} s after SIGTERM")
        time.sleep(0.2)
        try:
            c = socket.create_connection(("127.0.0.1", srv.port), 2)
            c.close()
            h.check(False, "no new connections during the drain")
        except OSError:
            pass
        late.sendall(late_body[5:])
        st, head, body = read_response(late, 10 * h.SLACK)
        h.check(st == 503 and body["error"]["code"] == "shutting_down",
                "a request completed in the drain is refused", st, body)
        h.check("retry-after: 1" in head and "x-should-retry: false" in head,
                "Retry-After, and no SDK retry against this instance", head)
        st, head, body = read_response(busy, 20 * h.SLACK)
        h.check(st == 200 and h.as_float32(body["data"][0]["embedding"]) ==
                h.fake_api.embedding_for("in flight @fault:slow:1500", 8),
                "the request in flight answered", st, body)
        h.check("connection: close" in head, "with Connection: close", head)
        h.check(eof_within(busy, 5 * h.SLACK), "then closed")
        rc = srv.wait(20 * h.SLACK)
        h.check(rc == 0, f"serve exited {rc}", srv.stderr())
        for s in (idle, busy, late):
            s.close()


h.main(scenario)
