"""Proves (short soak): 4 serve clients x 500 requests with 2% hung calls each get exactly one answer per request, right or timed out, and the server ends with the descriptors and children it had after warm-up and no memory growth between the two halves."""
import os
import time

import harness as h
import serve_harness as sh

CLIENTS = 4
PER_HALF = 250
HANG_EVERY = 50         # 2%
RSS_MARGIN_KB = 4 * 1024
# ASan's quarantine holds freed memory (256 MiB by default) and would
# grow RSS all run long; a small one leaves real growth to show.
ASAN_ENV = {"ASAN_OPTIONS": ":".join(
    x for x in [os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=1"]
    if x)}


def text(k, i):
    hang = " @fault:hang" if i % HANG_EVERY == 7 else ""
    return f"soak client {k} request {i}{hang}"


def run_half(clients, half):
    """Returns how many good calls timed out (a starved box can make a
    one-second budget too short now and then)."""
    ids = range(half * PER_HALF, (half + 1) * PER_HALF)
    late = 0
    for k, c in enumerate(clients):
        c.send(*[{"id": i, "input": text(k, i)} for i in ids])
    for k, c in enumerate(clients):
        got = sh.by_id(c.read_answers(PER_HALF, 120 * h.SLACK))
        h.check(sorted(got) == list(ids), f"client {k}: one answer per "
                "request", sorted(set(ids) - set(got))[:10])
        for i in ids:
            if i % HANG_EVERY == 7:
                h.expect_error(got[i], "timeout", attempts=1)
            elif got[i].get("ok") is False and \
                    got[i]["error"]["code"] == "timeout":
                late += 1
            else:
                h.expect_ok(got[i], [text(k, i)])
    return late


def fds(srv):
    """Its descriptors, less those of idle warm workers (which follow
    demand)."""
    return h.own_fds(srv.pid)


def snapshot(srv):
    """Descriptors and RSS once no worker is left and the descriptors
    stopped changing (a client that just left is closed a moment later)."""
    h.wait_until(lambda: sh.no_workers_left(srv), 10 * h.SLACK,
                 "no workers between halves")
    before = None
    deadline = time.monotonic() + 10 * h.SLACK
    while before != fds(srv):
        h.check(time.monotonic() < deadline, "descriptors never settle")
        before = fds(srv)
        time.sleep(0.3)
    return before, srv.rss_kb()


def scenario():
    with h.FakeAPI() as api, sh.Server(api, "--jobs", "8", "--timeout", "1",
                                       "--retries", "0",
                                       env=ASAN_ENV) as srv:
        with srv.connect() as c:
            c.send({"id": "w1", "input": "warm"},
                   {"id": "w2", "input": "warm @fault:hang"})
            c.read_answers(2, 30 * h.SLACK)
        h.wait_until(lambda: srv.stats()["clients"] == 1, 10 * h.SLACK,
                     "the warm-up client to go")
        fds_start, rss_start = snapshot(srv)

        start = time.monotonic()
        clients = [srv.connect() for _ in range(CLIENTS)]
        try:
            late = run_half(clients, 0)
            _, rss_half = snapshot(srv)
            late += run_half(clients, 1)
            _, rss_end = snapshot(srv)
            st = clients[0].stats()
        finally:
            for c in clients:
                c.close()
        total = CLIENTS * PER_HALF * 2
        hangs = total // HANG_EVERY
        h.log(f"{total} requests in {time.monotonic() - start:.1f} s, "
              f"{late} good ones late; rss {rss_start} -> {rss_half} -> "
              f"{rss_end} kB")
        h.check(late <= total // 100, f"{late} good calls timed out")
        h.check(st["ok"] == total - hangs - late + 1 and
                st["errors"]["timeout"] == hangs + late + 1 and
                st["failed"] == hangs + late + 1, "counters", st)
        h.check(rss_end - rss_half < RSS_MARGIN_KB, "memory grew from "
                f"{rss_half} to {rss_end} kB in the second half")
        h.wait_until(lambda: srv.stats()["clients"] == 1, 10 * h.SLACK,
                     "the clients to go")
        fds_end, _ = snapshot(srv)
        h.check(fds_end == fds_start, "same descriptors as after warm-up",
                fds_start, fds_end)
        h.check(h.working(srv.pid) == [], "no children but idle warm ones")
        h.wait_until(lambda: api.open_calls() == 0, 10 * h.SLACK,
                     "no calls open")
        sh.stop(srv)


h.main(scenario)
