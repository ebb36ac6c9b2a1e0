"""Proves: when the supervisor is SIGKILLed, what a custom --worker started dies too, even processes that left its process group (setsid): each exec'd worker is the first process of a PID namespace of its own, where the kernel allows it (root here); where it does not (the same run as nobody), workers are forked as before, killed at their deadline, and the log says what is not covered. Not root: skipped, saying so."""
import os
import signal
import time

import harness as h

WORKER = os.path.join(h.ROOT, "tests", "fake", "escaping-worker")
STUCK = os.path.join(h.ROOT, "tests", "fake", "stuck-worker")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for kid in h.children(todo.pop()):
            out.append(kid)
            todo.append(kid)
    return out


def scenario():
    if os.geteuid() != 0:
        h.log("not root: PID namespaces need CAP_SYS_ADMIN; skipped")
        return
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--worker", WORKER, "--timeout", "60", "--jobs",
                   "5", "--log-level", "debug")
        procs = []
        try:
            p.send(*[{"id": i, "input": f"stuck {i}"} for i in range(5)])
            # 5 workers, each with 2 sleeps and a setsid shell and its
            # sleep.
            h.wait_until(lambda: len(descendants(p.pid)) >= 25,
                         20 * h.SLACK, "every worker's processes")
            procs = descendants(p.pid)
            p.kill()
            t0 = time.monotonic()
            h.wait_until(lambda: not any(alive(x) for x in procs), 5,
                         "every process a worker started to die with the "
                         "supervisor")
            h.log(f"{len(procs)} processes gone in "
                  f"{time.monotonic() - t0:.2f} s")
            h.check("PID namespaces" in p.stderr(),
                    "says where workers run", p.stderr())
            if not h.others_can_run(h.EMBEDWATCH, STUCK):
                h.log("the binaries sit where nobody cannot reach them (a "
                      "private directory): the part as nobody is skipped")
                return
            # Not allowed a namespace: forked as before, said once.
            def nobody():
                os.setgid(65534)
                os.setuid(65534)
            got, p2 = h.run_pipe(api, [{"id": "n", "input": "x"}],
                                 "--worker", STUCK, "--timeout", "1",
                                 "--retries", "0", preexec=nobody)
            h.expect_error(got["n"], "timeout")
            h.check("cannot give workers a PID namespace" in p2.stderr(),
                    "says what is not covered", p2.stderr())
        finally:
            p.kill()
            for x in procs:     # ours, left behind by a failure
                if alive(x):
                    try:
                        os.kill(x, signal.SIGKILL)
                    except OSError:
                        pass

h.main(scenario)
