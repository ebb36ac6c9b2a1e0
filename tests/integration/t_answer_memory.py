"""Proves: an answer the supervisor cannot build for lack of memory is still answered, exactly once, with an error naming the cause, while the other requests are answered as usual: with the answer buffer capped (the EMBEDWATCH_TEST_OUT_CAP hook, which fails like an allocation), a 300 KiB answer becomes bad_response "out of memory" and small ones stay ok; and without the hook, a real memory limit (RLIMIT_AS, plain build only) on a 22 MB answer gives an answer either way, never silence."""
import resource

import harness as h


def scenario():
    big = {"id": "big", "input": [f"t {i}" for i in range(8)],
           "dimensions": 4096}
    small = [{"id": i, "input": f"small {i}"} for i in range(20)]
    with h.FakeAPI() as api:
        got, p = h.run_pipe(api, small[:10] + [big] + small[10:],
                            env={"EMBEDWATCH_TEST_OUT_CAP": "65536"})
        a = got["big"]
        h.expect_error(a, "bad_response")
        h.check("out of memory" in a["error"]["message"], "names the cause",
                a)
        for r in small:
            h.expect_ok(got[r["id"]], [r["input"]])
        h.check("cannot build the answer" in p.stderr(), "logged",
                p.stderr())

        if h.SANITIZED:
            h.log("sanitized build: RLIMIT_AS part skipped")
            return
        huge = {"id": "huge", "input": [f"t {i}" for i in range(256)],
                "dimensions": 8192}
        for limit_mb in (48, 64, 80, 96):
            def cap(limit=limit_mb << 20):
                # The supervisor's own data, not its address space at
                # start: a soft limit the worker may raise again.
                resource.setrlimit(resource.RLIMIT_DATA,
                                   (limit, resource.RLIM_INFINITY))
            p = h.Pipe(api, "--timeout", "60", "--retries", "0",
                       preexec=cap)
            p.send(huge, {"id": "after", "input": "after"})
            p.close()
            answers = {x["id"]: x for x in p.read_answers(2, 120)}
            h.check(p.wait(60) == 0, f"exit 0 at {limit_mb} MiB",
                    p.stderr()[-2000:])
            h.expect_ok(answers["after"], ["after"])
            x = answers["huge"]
            h.check(x["ok"] is True or "memory" in
                    x["error"]["message"].lower(),
                    f"an answer naming the cause at {limit_mb} MiB",
                    str(x)[:500])
            h.log(f"RLIMIT_DATA {limit_mb} MiB:", "ok" if x["ok"] else
                  x["error"]["message"])


h.main(scenario)
