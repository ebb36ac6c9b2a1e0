"""Proves: a spawn that fails for lack of descriptors or processes is not the request's fault: under `ulimit -n 32` with --jobs 64, --jobs is lowered at start (saying so) and all 300 requests are answered ok with no worker_crashed; under RLIMIT_NPROC 6 (as nobody, since root is exempt) with --jobs 8 and --retries 0, all 60 are ok: failed forks spend no attempt, concurrency drops to what works, spawns are retried with backoff within the deadline, and the failure is logged once per episode, not per fork."""
import os
import resource

import harness as h


def owner(pid):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def scenario():
    reqs = [{"id": i, "input": f"t {i} @fault:slow:50"} for i in range(300)]
    with h.FakeAPI() as api:
        def fds():
            resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
        got, p = h.run_pipe(api, reqs, "--jobs", "64", "--retries", "0",
                            timeout=120, preexec=fds)
        bad = [a for a in got.values() if not a["ok"]]
        h.check(not bad, f"{len(bad)} of 300 failed", bad[:3])
        err = p.stderr()
        h.check("--jobs 64 lowered to" in err, "says it lowered --jobs",
                err[-2000:])
        h.check(err.count("Too many open files") <= 5, "logged per episode",
                err[-2000:])

        if os.geteuid() != 0:
            h.log("not root: the RLIMIT_NPROC part needs setuid; skipped")
            return
        if not h.others_can_run(h.EMBEDWATCH, h.EMBEDWATCH + "-worker"):
            h.log("the binaries sit where nobody cannot reach them (a "
                  "private directory): the RLIMIT_NPROC part is skipped")
            return
        n = 60
        reqs = [{"id": i, "input": f"p {i} @fault:slow:100"}
                for i in range(n)]

        # RLIMIT_NPROC counts every process of the user: room for 6
        # beyond what nobody runs already (another suite, a daemon).
        limit = 6 + sum(1 for d in os.listdir("/proc") if d.isdigit() and
                        owner(d) == 65534)

        def nproc():
            os.setgid(65534)
            os.setuid(65534)
            resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
        got, p = h.run_pipe(api, reqs, "--jobs", "8", "--retries", "0",
                            timeout=120, preexec=nproc)
        bad = [a for a in got.values() if not a["ok"]]
        h.check(not bad, f"{len(bad)} of {n} failed", bad[:3])
        err = p.stderr()
        h.check(0 < err.count("cannot spawn") <= 10,
                "spawn failures logged once per episode", err[-3000:])


h.main(scenario)
