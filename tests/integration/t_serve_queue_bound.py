"""Proves: --queue bounds serve as a whole: many clients flooding at once never have more than --queue requests waiting between them (each client only up to its own --conn-queue, set far higher here), the sockets stop being read, memory stays flat, and once the floods hang up a new client is served at once."""
import harness as h
import serve_harness as sh

QUEUE = 20
CONN_QUEUE = 1000
JOBS = 2
CLIENTS = 8
PER_CLIENT = 2000
PAD = "x" * 500


def flood(c, offset):
    data = b"".join(sh.encode([{"id": i, "input": f"flood {c} {i} {PAD} "
                                "@fault:slow:200"}])
                    for i in range(offset, offset + PER_CLIENT))
    return data


def scenario():
    with h.FakeAPI() as api, sh.Server(
            api, "--jobs", str(JOBS), "--queue", str(QUEUE),
            "--conn-queue", str(CONN_QUEUE), "--timeout", "60",
            "--deadline", "600", "--retries", "0") as srv:
        rss_before = srv.rss_kb()
        floods = [srv.connect() for _ in range(CLIENTS)]
        data = [flood(c, 0) for c in range(CLIENTS)]
        sent = [0] * CLIENTS
        peak = 0
        for _ in range(6):
            for c, client in enumerate(floods):
                sent[c] = sh.push(client, data[c], sent[c], 0.2, pause=0.02)
            st = srv.stats()
            peak = max(peak, st["queued"])
            h.check(st["queued"] <= QUEUE, f"{st['queued']} requests "
                    f"waiting, more than --queue {QUEUE}", st)
        h.log(f"peak queued {peak}; taken {sum(sent)} of "
              f"{sum(len(d) for d in data)} bytes; rss {rss_before} -> "
              f"{srv.rss_kb()} kB")
        h.check(peak >= QUEUE // 2, "the floods did fill the queue", peak)
        h.check(sum(sent) < sum(len(d) for d in data) // 2,
                "the sockets stopped being read", sent)
        h.check(srv.rss_kb() - rss_before < 16 * 1024 * h.SLACK,
                "server memory bounded", rss_before, srv.rss_kb())
        for client in floods:
            client.close()
        h.wait_until(lambda: srv.stats()["queued"] == 0 and
                     sh.no_workers_left(srv), 10 * h.SLACK,
                     "the floods' requests to be dropped")
        with srv.connect() as polite:
            ans = polite.request({"id": 1, "input": "polite"},
                                 timeout=10 * h.SLACK)
            h.expect_ok(ans, ["polite"])


h.main(scenario)
