"""Proves: a timeout is never answered before the attempt's timeout has passed, counted from the request line, for a burst of hung calls in fork mode and on the SIGKILL path (an exec'd worker that ignores everything)."""
import os
import time

import harness as h

STUCK = os.path.join(h.ROOT, "tests", "fake", "stuck-worker")
N = 30


def burst(api, *args):
    p = h.Pipe(api, "--jobs", str(N), "--timeout", "1", "--retries", "0",
               *args)
    sent = time.monotonic()
    p.send(*[{"id": f"h{i}", "input": f"h{i} @fault:hang"}
             for i in range(N)])
    answers = p.read_answers(N, 30 * h.SLACK)
    got = time.monotonic()
    for a in answers:
        h.expect_error(a, "timeout", attempts=1)
        msg = a["error"]["message"]
        # The answer's own clock and ours: never under one second.
        h.check(a["ms"] >= 1000, "answered at or after the timeout", a)
        h.check(" killed at " in msg, "the supervisor's kill answered", a)
        h.check(int(msg.split(" killed at ")[1].split()[0]) >= 1000,
                "killed at or after 1000 ms of its attempt", a)
    h.check(got - sent >= 1.0, "no answer before a second", got - sent)
    # Generous: precision belongs to make bench.
    h.check(max(a["_t"] for a in answers) - (sent - p.started) <
            1.0 + 2.0 * h.SLACK, "every answer soon after the second",
            [a["_t"] for a in answers])
    p.close()
    h.check(p.wait(20) == 0, "exit 0", p.stderr())


def scenario():
    with h.FakeAPI() as api:
        burst(api)
        burst(api, "--worker", STUCK)
        # One call by hand: libcurl's own clock, the whole timeout too.
        start = time.monotonic()
        got, _ = h.run_pipe(api, [{"id": "one", "input": "x @fault:hang"}],
                            "--timeout", "1", "--retries", "0")
        h.expect_error(got["one"], "timeout", attempts=1)
        h.check(time.monotonic() - start >= 1.0, "not early")


h.main(scenario)
