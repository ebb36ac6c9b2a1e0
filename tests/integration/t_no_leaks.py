"""Proves: after many calls of every outcome the supervisor holds the same descriptors as at start, has no child or zombie left, and exits 0 at EOF."""

import harness as h


def scenario():
    kinds = ["ok", "@fault:500:1", "@fault:401", "@fault:badjson",
             "@fault:reset", "@fault:hang"]
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--jobs", "8", "--timeout", "1", "--retries", "1")
        p.send({"id": "warm", "input": "warm up"})
        p.read_answers(1, 30 * h.SLACK)
        # An answer may come before its worker has exited and been reaped.
        h.wait_until(lambda: h.working(p.pid) == [], 10, "the reap")
        # Idle warm workers (connected ahead, two pipes each) come and go
        # with demand: count what is left without them.
        fds = h.own_fds(p.pid)
        for rnd in range(3):
            reqs = [{"id": f"{rnd}-{i}", "input": f"r{rnd} {i} {k}"}
                    for i, k in enumerate(kinds * 10)]
            p.send(*reqs)
            p.read_answers(len(reqs), 120 * h.SLACK)
            h.wait_until(lambda: h.working(p.pid) == [], 10,
                         "no children but idle warm ones between rounds")
            h.wait_until(lambda: h.own_fds(p.pid) == fds, 10,
                         "the last pipes to close")
            now = h.own_fds(p.pid)
            h.check(now == fds, "same descriptors as at start", fds, now)
        p.close()
        h.check(p.wait(30) == 0, "exit 0", p.stderr())
        h.check(h.children(p.pid) == [], "no worker left at all")


h.main(scenario)
