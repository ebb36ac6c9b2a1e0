"""Proves: a flooding serve client is held to --conn-inflight running and --conn-queue waiting and stops being read (its memory bounded), while a polite client's request is still served within about one call's time."""
import time

import harness as h
import serve_harness as sh

CALL_MS = 300
CONN_QUEUE = 50
JOBS = 4
FLOOD = 5000
PAD = "x" * 1000


def flood_line(i):
    return sh.encode([{"id": i, "input": f"flood {i} {PAD} "
                       f"@fault:slow:{CALL_MS}"}])




def scenario():
    data = b"".join(flood_line(i) for i in range(FLOOD))
    with h.FakeAPI() as api, sh.Server(
            api, "--jobs", str(JOBS), "--conn-queue", str(CONN_QUEUE),
            "--timeout", "60", "--deadline", "600",
            "--retries", "0",
            # Exact in_flight counts: a hedge of a slow call would run on a
            # hedge-only slot beyond --jobs (CALL_MS soon is the p95).
            "--hedge", "off") as srv:
        rss_before = srv.rss_kb()
        with srv.connect() as flooder, srv.connect() as polite:
            sent = sh.push(flooder, data, 0, 2 * h.SLACK)
            h.wait_until(lambda: polite.stats()["queued"] == CONN_QUEUE,
                         20 * h.SLACK, "the flooder's line to fill")
            st = polite.stats()
            h.check(st["in_flight"] == JOBS and st["queued"] == CONN_QUEUE,
                    "the flooder holds its caps and no more", st)
            # Keep offering: the socket takes little more than the
            # kernel's buffers and one read chunk, not the flood.
            sent = sh.push(flooder, data, sent, 2 * h.SLACK)
            h.log(f"flooder: {sent} of {len(data)} bytes taken, server rss "
                  f"{rss_before} -> {srv.rss_kb()} kB")
            h.check(sent < 1_500_000, f"{sent} bytes of the flood taken: "
                    "the server read past its caps")
            h.check(srv.rss_kb() - rss_before < 16 * 1024 * h.SLACK,
                    "server memory bounded", rss_before, srv.rss_kb())
            st = polite.stats()
            h.check(st["queued"] <= CONN_QUEUE, "still capped", st)

            # The polite client's request overtakes the flooder's line.
            ok_before = st["ok"]
            start = time.monotonic()
            polite.send({"id": 1, "input": "polite"})
            ans = polite.read_answers(1, 30 * h.SLACK)[0]
            took = time.monotonic() - start
            h.expect_ok(ans, ["polite"])
            st = polite.stats()
            overtaken = st["ok"] - ok_before - 1
            h.log(f"polite answered in {took:.2f} s, after {overtaken} of "
                  "the flooder's answers")
            h.check(overtaken <= 2 * JOBS, f"the polite request waited for "
                    f"{overtaken} flooder calls, not about one", st)
            h.check(took < 2.5 * h.SLACK, f"polite answer took {took:.1f} s")
            h.check(st["in_flight"] == JOBS, "the flooder keeps the rest",
                    st)
        # Both gone: the flooder's line is dropped and its workers killed.
        h.wait_until(lambda: sh.no_workers_left(srv), 10 * h.SLACK,
                     "no workers once the flooder left")
        h.wait_until(lambda: api.open_calls() == 0, 10 * h.SLACK,
                     "no calls once the flooder left")
        h.wait_until(lambda: srv.stats()["clients"] == 1, 10 * h.SLACK,
                     "both clients to be forgotten")
        st = srv.stats()
        h.check(st["in_flight"] == 0 and st["queued"] == 0, "nothing left",
                st)
        sh.stop(srv)


h.main(scenario)
