"""Proves: concurrent serve clients using the same ids each get exactly their own answers (and their own cancels), and stats counts the connected clients."""
import harness as h
import serve_harness as sh

N_CLIENTS = 4
N_REQ = 8


def text(k, i):
    slow = " @fault:slow:200" if i % 3 == 0 else ""
    return f"client {k} says {i}{slow}"


def scenario():
    with h.FakeAPI() as api, sh.Server(api, "--jobs", "4", "--timeout",
                                       "60", "--retries", "0") as srv:
        clients = [srv.connect() for _ in range(N_CLIENTS)]
        try:
            # (the readiness probe's connection may not be closed yet)
            h.wait_until(lambda: clients[0].stats()["clients"] ==
                         N_CLIENTS, 10 * h.SLACK,
                         "stats to count the clients")
            # Interleaved, so every id is live on several connections.
            for i in range(1, N_REQ + 1):
                for k, c in enumerate(clients):
                    c.send({"id": i, "input": text(k, i)})
            for k, c in enumerate(clients):
                got = sh.by_id(c.read_answers(N_REQ, 60 * h.SLACK))
                h.check(sorted(got) == list(range(1, N_REQ + 1)),
                        f"client {k} got its ids", sorted(got))
                for i in range(1, N_REQ + 1):
                    h.expect_ok(got[i], [text(k, i)])
            for c in clients:
                c.quiet_for(0.3)

            # A cancel names one connection's request, not its namesakes.
            for k, c in enumerate(clients):
                c.send({"id": "h", "input": f"client {k} hangs @fault:hang"})
            h.wait_until(lambda: api.open_calls() == N_CLIENTS,
                         20 * h.SLACK, "every client's hung call")
            clients[0].send({"op": "cancel", "id": "h"})
            ans = clients[0].read_answers(1, 10 * h.SLACK)[0]
            h.check(ans["id"] == "h", "cancel answered through 'h'", ans)
            h.expect_error(ans, "cancelled", attempts=1)
            h.wait_until(lambda: api.open_calls() == N_CLIENTS - 1,
                         10 * h.SLACK, "only client 0's call to end")
            for c in clients[1:]:
                c.quiet_for(0.3)
            st = clients[1].stats()
            h.check(st["in_flight"] == N_CLIENTS - 1 and
                    st["clients"] == N_CLIENTS, "the others still run", st)
            h.check(st["ok"] == N_CLIENTS * N_REQ and
                    st["errors"]["cancelled"] == 1, "counters", st)
        finally:
            for c in clients:
                c.close()
        # Hanging up cancels the rest; the server forgets the clients.
        h.wait_until(lambda: api.open_calls() == 0, 10 * h.SLACK,
                     "the hung calls to end with their clients")
        h.wait_until(lambda: sh.no_workers_left(srv), 10 * h.SLACK,
                     "no workers")
        h.wait_until(lambda: srv.stats()["clients"] == 1, 10 * h.SLACK,
                     "only the asking client counted")
        sh.stop(srv)


h.main(scenario)
