"""Proves: GET /metrics is well-formed Prometheus text (checked by a strict parser written here: types, labels, cumulative histogram buckets ending in +Inf = _count) and its counters match what was sent over HTTP and the Unix socket together: requests by code (ok, invalid_request, http, timeout), attempts, kills by reason (a hang-up's cancel; all of them adding up to the stats answer's), worker starts, HTTP responses by status, the latency histogram's count and sum, and gauges back to zero in flight and queued; /healthz and /metrics need no key."""
import json
import socket

import harness as h
import http_harness as hh


def scenario():
    with h.FakeAPI() as api, hh.HttpServer(
            api, "--jobs", "4", "--retries", "0", "--timeout", "1",
            "--deadline", "5", socket=True) as srv:
        n_http, n_sock = 7, 3
        for i in range(n_http):
            st, _, body = srv.embed({"input": [f"m {i}", "two"]})
            h.check(st == 200, "ok over HTTP", body)
        with srv.connect() as c:
            for i in range(n_sock):
                h.expect_ok(c.request({"id": i, "input": f"s {i}"}),
                            [f"s {i}"])
        for bad in ({"input": [1, 2]}, {"nope": 1}):
            st, _, _ = srv.embed(bad)
            h.check(st == 400, "refused", bad, st)
        st, _, _ = srv.embed({"input": "up @fault:400"})
        h.check(st == 400, "upstream 400", st)
        st, _, _ = srv.embed({"input": "slow @fault:hang"})
        h.check(st == 504, "timed out", st)
        # A client that hangs up: its worker is killed, its request
        # answered cancelled (to nobody).
        sock = socket.create_connection(("127.0.0.1", srv.port))
        req = json.dumps({"input": "gone @fault:hang"}).encode()
        sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: " + str(len(req)).encode() +
                     b"\r\n\r\n" + req)
        h.wait_until(lambda: len(h.working(srv.pid)) == 1, 10 * h.SLACK,
                     "its worker")
        sock.close()
        h.wait_until(lambda: h.working(srv.pid) == [], 5 * h.SLACK,
                     "its worker killed")

        m = srv.metrics()
        t = m["types"]
        for fam, want in (("embedwatch_requests_total", "counter"),
                          ("embedwatch_attempts_total", "counter"),
                          ("embedwatch_worker_kills_total", "counter"),
                          ("embedwatch_hedges_total", "counter"),
                          ("embedwatch_worker_starts_total", "counter"),
                          ("embedwatch_in_flight", "gauge"),
                          ("embedwatch_queued", "gauge"),
                          ("embedwatch_http_responses_total", "counter"),
                          ("embedwatch_request_duration_seconds",
                           "histogram")):
            h.check(t.get(fam) == want, f"{fam} is a {want}", t)
        s = lambda name, **kw: hh.sample(m, name, **kw)  # noqa: E731
        answered = n_http + n_sock + 3
        h.check(s("embedwatch_requests_total", code="ok") == n_http + n_sock,
                "ok requests", m["samples"])
        h.check(s("embedwatch_requests_total", code="invalid_request") == 2,
                "invalid requests")
        h.check(s("embedwatch_requests_total", code="http") == 1, "http")
        h.check(s("embedwatch_requests_total", code="timeout") == 1,
                "timeout")
        h.check(s("embedwatch_requests_total", code="cancelled") == 1,
                "cancelled")
        h.check(s("embedwatch_attempts_total") == answered, "attempts")
        kills = sum(v for k, v in m["samples"].items()
                    if k[0] == "embedwatch_worker_kills_total")
        h.check(s("embedwatch_worker_kills_total", reason="cancel") == 1 and
                kills == srv.stats()["workers_killed"],
                "kills by reason add up to the stats' kills, the hang-up's "
                "a cancel", m["samples"])
        h.check(s("embedwatch_worker_starts_total") >= answered,
                "a worker per attempt")
        h.check(s("embedwatch_http_responses_total", status="200") ==
                n_http, "HTTP 200s")
        h.check(s("embedwatch_http_responses_total", status="400") == 3,
                "HTTP 400s")
        h.check(s("embedwatch_http_responses_total", status="504") == 1,
                "HTTP 504")
        h.check(s("embedwatch_request_duration_seconds_count") == answered,
                "every answer in the histogram")
        h.check(s("embedwatch_request_duration_seconds_sum") >= 0.9,
                "the timeout's second in the sum")
        h.check(s("embedwatch_request_duration_seconds_bucket", le="0.5") <=
                answered - 1, "the timeout above 0.5 s")
        h.check(s("embedwatch_in_flight") == 0 and
                s("embedwatch_queued") == 0, "nothing in flight")
        h.check(s("embedwatch_api_calls") == 0, "absent is zero")


h.main(scenario)
