"""Proves: the HTTP front bounds what hostile clients can do: oversized headers are refused (431) and a body beyond --max-line gets 413 (by Content-Length before it is read, and chunked once it passes the cap) without an upstream call; a request whose headers or body drip or stall, and an idle keep-alive connection, are dropped after --client-timeout; a client that hangs up while its request runs has its worker SIGKILLed at once (counted as a cancel kill), while other connections are served meanwhile; and serve is fine afterwards."""
import json
import socket
import time

import harness as h
import http_harness as hh


def raw(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), 10 * h.SLACK)
    s.settimeout(30 * h.SLACK)
    return s


def read_all(s):
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


def closed_within(s, seconds, drip=None):
    """Seconds until the server closes s (sending drip bytes every 0.2 s
    meanwhile, if given); fails if it stays open for seconds."""
    start = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            if s.recv(65536) == b"":
                return time.monotonic() - start
        except socket.timeout:
            pass
        except ConnectionResetError:
            return time.monotonic() - start
        if drip is not None:
            try:
                s.send(drip)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
    h.check(False, f"connection still open after {seconds} s")


def status_of(resp):
    h.check(resp.startswith(b"HTTP/1.1 "), "an HTTP answer", resp[:200])
    return int(resp.split(b" ", 2)[1])


def scenario():
    with h.FakeAPI() as api, hh.HttpServer(
            api, "--jobs", "4", "--max-line", "4096", "--client-timeout",
            "1", "--timeout", "60", "--retries", "0") as srv:
        s = raw(srv)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                  b"a" * 65536 + b"\r\n\r\n")
        resp = read_all(s)
        s.close()
        h.check(status_of(resp) in (413, 431), "oversized headers refused",
                resp[:200])

        api.reset()
        big = json.dumps({"input": "x" * 5000}).encode()
        st, hd, raw_body = srv.request("POST", "/v1/embeddings", big,
                                       {"Content-Type": "application/json"})
        body = json.loads(raw_body)
        h.check(st == 413 and "--max-line" in body["error"]["message"] and
                hd.get("x-should-retry") == "false", "413 by Content-Length",
                st, body)
        s = raw(srv)
        s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            s.sendall(b"800\r\n" + b"y" * 0x800 + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        resp = s.recv(65536)
        s.close()
        h.check(status_of(resp) == 413, "413 for a chunked body past the cap",
                resp[:300])
        h.check(api.stats()["requests"] == 0, "nothing went upstream",
                api.stats())

        # Dripping and stalled requests, and idle keep-alive, are dropped.
        s = raw(srv)
        s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")
        t = closed_within(s, 6 * h.SLACK, drip=b"X")
        h.log(f"header drip dropped after {t:.2f} s")
        h.check(t >= 0.9, "not before the client timeout", t)
        s.close()
        s = raw(srv)
        s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 100\r\n\r\n{\"input\":")
        t = closed_within(s, 6 * h.SLACK, drip=b" ")
        h.log(f"body drip dropped after {t:.2f} s")
        s.close()
        s = raw(srv)
        s.sendall(b"GET /v1/mod")
        t = closed_within(s, 6 * h.SLACK)
        h.log(f"stalled request dropped after {t:.2f} s")
        s.close()
        with srv.conn() as c:
            st, _, _ = c.request("GET", "/healthz")
            h.check(st == 200, "healthz", st)
            time.sleep(3 * h.SLACK)
            h.check(hh.sample(srv.metrics(),
                              "embedwatch_http_connections") == 1,
                    "the idle keep-alive connection was closed")

        # A hang-up kills the worker; others are served meanwhile.
        before = hh.sample(srv.metrics(), "embedwatch_worker_kills_total",
                           reason="cancel")
        s = raw(srv)
        req = json.dumps({"input": "leaver @fault:hang"}).encode()
        s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: " +
                  str(len(req)).encode() + b"\r\n\r\n" + req)
        h.wait_until(lambda: api.open_calls() == 1, 20 * h.SLACK,
                     "the hung call")
        h.wait_until(lambda: len(h.working(srv.pid)) == 1, 10 * h.SLACK,
                     "its worker")
        worker = h.working(srv.pid)[0]
        time.sleep(2)   # longer than --client-timeout: a running request
        st, _, body = srv.embed({"input": "meanwhile"})
        h.check(st == 200, "another connection served meanwhile", body)
        h.check(worker in h.working(srv.pid), "still running: waiting "
                "for the engine is not the client's time")
        start = time.monotonic()
        s.close()
        h.wait_until(lambda: h.working(srv.pid) == [], 2 * h.SLACK,
                     "the worker to be killed")
        h.wait_until(lambda: api.open_calls() == 0, 2 * h.SLACK,
                     "the hung call to close")
        h.log(f"hang-up to no worker: {time.monotonic() - start:.2f} s")
        h.check(not h.processes_in_group(worker), "nothing left in its group")
        m = srv.metrics()
        h.check(hh.sample(m, "embedwatch_worker_kills_total",
                          reason="cancel") == before + 1,
                "one cancel kill", m["samples"])
        st, _, body = srv.embed({"input": "after"})
        h.check(st == 200, "served afterwards", body)


h.main(scenario)
