"""Proves: cold workers (no warm pool) resume the TLS session an earlier worker learned, handed on by the supervisor, with the certificate still verified; and reuse the address it resolved (no lookup, the hint names the same peer). A session that resumes is kept: only the full handshake's worker hands sessions on, so fork workers share the one decoded before the fork."""
import harness as h


def scenario():
    with h.FakeAPI(tls=True) as api:
        reqs = [{"id": i, "input": f"resume {i}"} for i in range(6)]
        p = h.Pipe(api, "--warm", "0", "--jobs", "1", "--cacert",
                   api.cacert, "--base-url",
                   api.base_url.replace("127.0.0.1", "localhost"),
                   "--log-level", "debug")
        for r in reqs:
            p.send(r)
            h.expect_ok(p.read_answers(1, 10 * h.SLACK)[0], [r["input"]])
        p.close()
        h.check(p.wait(20) == 0, "exit 0", p.stderr())
        calls = api.calls()
        h.check(len(calls) == 6 and len({c["conn"] for c in calls}) == 6,
                "one connection per call", calls)
        h.check(calls[0]["tls_resumed"] is False, "the first one full",
                calls)
        h.check(all(c["tls_resumed"] for c in calls[1:]),
                "every later worker resumed", calls)
        learned = [line for line in p.stderr().splitlines()
                   if "a new TLS session" in line]
        h.check(1 <= len(learned) and len({line.split("worker ")[1]
                                            .split(":")[0]
                                            for line in learned}) == 1,
                "sessions handed on by the first worker alone", learned)

    # A session the server does not know (another server) is no harm:
    # the handshake is full, the call succeeds.
    with h.FakeAPI(tls=True) as api:
        p = h.Pipe(api, "--warm", "0", "--jobs", "1", "--cacert",
                   api.cacert)
        p.send({"id": 1, "input": "one"})
        h.expect_ok(p.read_answers(1, 10 * h.SLACK)[0], ["one"])
        p.close()
        h.check(p.wait(20) == 0, "exit 0", p.stderr())


h.main(scenario)
