"""Proves: serve under RLIMIT_NOFILE 16 with 40 clients connecting does not spin: it lowers --max-clients to what the descriptors allow (saying so) and accepting pauses if they still run out (the supervisor uses well under a second of CPU in 3 s, 'cannot accept' is logged a few times at most, not millions), the client it took is served, and once the others leave new clients are taken again. (The pause itself: test_listen.)"""
import os
import resource
import socket
import time

import harness as h
import serve_harness as sh


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def limit_fds():
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))


def scenario():
    with h.FakeAPI() as api, sh.Server(
            api, "--jobs", "2", "--retries", "0",
            popen_extra={"preexec_fn": limit_fds}) as srv:
        socks = []
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(srv.path)
            socks.append(s)
        time.sleep(0.5)
        before = cpu_s(srv.pid)
        time.sleep(3)
        used = cpu_s(srv.pid) - before
        h.check(used < 0.6 * h.SLACK, f"spins: {used:.2f} s of CPU in 3 s",
                srv.stderr()[-2000:])
        err = srv.stderr()
        n = err.count("cannot accept")
        h.check(n <= 20, f"'cannot accept' logged {n} times", err[-2000:])
        h.check("--max-clients 256 lowered to" in err, "says it lowered "
                "--max-clients", err[-2000:])
        # A client it took is served, within the descriptors it has.
        socks[0].sendall(b'{"id": 1, "input": "taken"}\n')
        c = sh.Client(srv.path, sock=socks[0])
        got = c.read_answers(1, 30 * h.SLACK)[0]
        h.expect_ok(got, ["taken"])
        for s in socks:
            s.close()
        c.sock = None
        # Room again: a new client is taken and served.
        def served():
            try:
                with srv.connect() as c2:
                    c2.send({"id": 2, "input": "later"})
                    return c2.read_answers(1, 5 * h.SLACK)[0]["ok"]
            except (OSError, h.CheckFailed):
                return False
        h.wait_until(served, 30 * h.SLACK, "a new client served")
        h.check(srv.proc.poll() is None, "still running")


h.main(scenario)
