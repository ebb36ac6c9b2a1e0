"""Proves: over HTTPS a warm worker connects with the certificate verified and its call goes out on that connection; a warm worker whose TLS handshake hangs is killed at the connect timeout, counted and replaced, and no request is affected."""
import time

import harness as h


def scenario():
    # The first connection's ClientHello is never answered.
    with h.FakeAPI("--tls-hang-first", "1", tls=True) as api:
        p = h.Pipe(api, "--jobs", "4", "--warm", "1", "--connect-timeout",
                   "1", "--cacert", api.cacert, "--retries", "0")
        time.sleep(0.3)
        # The only warm worker hangs: this call goes cold, and succeeds.
        p.send({"id": "during", "input": "during the hang"})
        a = p.read_answers(1, 10 * h.SLACK)[0]
        h.expect_ok(a, ["during the hang"])
        h.check(a["attempts"] == 1, "not affected", a)

        def stats():
            p.send({"op": "stats", "id": "s"})
            return p.read_answers(1, 10)[0]["stats"]
        h.wait_until(lambda: stats()["warm_failures"] == 1, 10 * h.SLACK,
                     "the hung warm worker killed and counted")
        # Its replacement connects (after a short backoff) and serves.
        h.wait_until(lambda: api.open_connections() >= 1 and
                     len(h.warm(p.pid)) == 1, 10 * h.SLACK, "a replacement")
        time.sleep(0.2)
        t = time.monotonic()
        p.send({"id": "after", "input": "after the hang"})
        a = p.read_answers(1, 10 * h.SLACK)[0]
        h.expect_ok(a, ["after the hang"])
        last = api.calls()[-1]
        h.check(last["accepted"] < t < last["received"],
                "over a connection opened ahead", last, t)
        p.close()
        h.check(p.wait(20) == 0, "exit 0", p.stderr())
        h.check(h.children(p.pid) == [], "no worker left")

    # Verification is unchanged: without the CA the warm worker refuses.
    with h.FakeAPI(tls=True) as api:
        got, p = h.run_pipe(api, [{"id": "x", "input": "untrusted"}],
                            "--retries", "0")
        h.expect_error(got["x"], "network", attempts=1)
        h.check(api.stats()["requests"] == 0, "nothing sent unverified")


h.main(scenario)
