"""Proves: a call on a connection opened ahead reads HTTP/1.1 right (a 1xx skipped, chunked bodies, a body ended by close, the cap while receiving) and a response that is not HTTP, or ends mid-headers, is a retryable network error, in fork and exec mode; every configured header goes out."""
import time

import harness as h


def one(api, p, rid, text, wait_warm=True):
    if wait_warm:
        h.wait_until(lambda: len(h.warm(p.pid)) >= 1 and
                     api.open_connections() >= 1, 10 * h.SLACK,
                     "a warm worker connected")
        time.sleep(0.05)
    t = time.monotonic()
    p.send({"id": rid, "input": text})
    a = p.read_answers(1, 10 * h.SLACK)[0]
    c = api.calls()[-1]
    h.check(c["accepted"] < t, "on a connection opened ahead", c, t)
    return a


def scenario():
    with h.FakeAPI() as api:
        for mode in ([], ["--exec-worker"]):
            p = h.Pipe(api, "--retries", "0", "--header", "X-Team: search",
                       "--max-response", "100000", *mode)
            a = one(api, p, 1, "c @fault:chunked:5")
            h.expect_ok(a, ["c @fault:chunked:5"])
            h.check(api.stats()["last_headers"].get("x-team") == "search",
                    "the configured header went out",
                    api.stats()["last_headers"])
            h.expect_ok(one(api, p, 2, "e @fault:eofbody"),
                        ["e @fault:eofbody"])
            for rid, fault in ((3, "garbage"), (4, "headclose")):
                a = one(api, p, rid, f"x @fault:{fault}")
                h.expect_error(a, "network", attempts=1)
                h.check(a["error"]["retryable"] is True, "retryable", a)
            a = one(api, p, 5, "big @fault:huge:1")
            h.expect_error(a, "bad_response", attempts=1)
            h.check("larger than 100000" in a["error"]["message"],
                    "the cap, as it arrived", a)
            p.close()
            h.check(p.wait(20) == 0, "exit 0", p.stderr())
            api.reset()


h.main(scenario)
