"""Proves: the circuit breaker opens after --breaker failures in a row (a refused endpoint), then answers circuit_open at once with retry_after_ms and no worker started, lets one probe through at a time, and closes on the first success once the endpoint is back; stats show each state."""
import socket
import time

import harness as h


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stats(p):
    p.send({"op": "stats", "id": "s"})
    return p.read_answers(1, 10)[0]["stats"]


def scenario():
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with h.FakeAPI() as other:
        p = h.Pipe(other, "--breaker", "3", "--retries", "0", base_url=url)
        for i in range(3):
            p.send({"id": i, "input": "x"})
            h.expect_error(p.read_answers(1, 30)[0], "network", attempts=1)
        st = stats(p)
        h.check(st["circuit"] == "open" and st["circuit_opens"] == 1,
                "open after 3 failures", st)
        started = st["workers_started"]
        t0 = time.monotonic()
        p.send(*[{"id": 100 + i, "input": "y"} for i in range(50)])
        answers = p.read_answers(50, 10)
        took = time.monotonic() - t0
        opened = [a for a in answers
                  if a["ok"] is False and a["error"]["code"] == "circuit_open"]
        # At most one of them may have been the half-open probe.
        h.check(len(opened) >= 49, f"{len(opened)} of 50 circuit_open",
                answers[:3])
        for a in opened:
            h.check(a["attempts"] == 0, "no call made", a)
            h.check(a["error"]["retryable"] is True, "retryable", a)
            h.check(0 < a["error"]["retry_after_ms"] <= 1000,
                    "when to come back", a)
        h.check(took < 2 * h.SLACK, f"50 answers took {took:.2f} s")
        st = stats(p)
        h.check(st["workers_started"] <= started + 1,
                "no worker started but a probe", st, started)
        h.check(st["errors"]["circuit_open"] >= 49, "counted", st)
        log = p.stderr()
        h.check(log.count("circuit open") == 1, "one log line for the "
                "opening", log)

        # The endpoint comes back: within a couple of probes, calls flow.
        with h.FakeAPI("--port", str(port)) as api:
            deadline = time.monotonic() + 10 * h.SLACK
            n = 0
            while True:
                p.send({"id": f"r{n}", "input": "back"})
                a = p.read_answers(1, 30)[0]
                if a["ok"]:
                    break
                h.expect_error(a, "circuit_open")
                h.check(time.monotonic() < deadline, "never closed", a)
                n += 1
                time.sleep(0.05)
            recovered = time.monotonic()
            h.check(recovered - t0 < 8 * h.SLACK, "closed soon", n)
            st = stats(p)
            h.check(st["circuit"] == "closed", "closed again", st)
            h.check(api.stats()["requests"] <= 2, "probes one at a time",
                    api.stats())
            h.check("circuit closed" in p.stderr(), "logged", p.stderr())
        p.close()
        h.check(p.wait(10) == 0, "exit 0", p.stderr())


h.main(scenario)
