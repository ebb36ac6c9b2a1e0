"""Proves: under systemd socket activation with two sockets (LISTEN_FDS=2: a Unix one on fd 3 and a loopback TCP one on fd 4) serve takes the Unix one as its socket and serves OpenAI's HTTP API on the TCP one, with neither --socket nor --listen; a non-loopback TCP socket handed over without --client-keys is refused (exit 64)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile

import harness as h
import http_harness as hh
import serve_harness as sh

ACTIVATE = 'LISTEN_PID=$$ LISTEN_FDS=2 exec "$0" "$@"'


def handing_over(unix, tcp):
    def fds():
        # Copies first: either may already sit on fd 3 or 4.
        u, t = os.dup(unix.fileno()), os.dup(tcp.fileno())
        os.dup2(u, 3)       # inheritable, unlike everything else
        os.dup2(t, 4)
    return fds


def scenario():
    tmp = tempfile.mkdtemp(prefix="ew-act-http-")
    path = os.path.join(tmp, "a.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        unix.bind(path)
        unix.listen(16)
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(16)
        port = tcp.getsockname()[1]
        argv = ["/bin/sh", "-c", ACTIVATE, h.EMBEDWATCH, "serve", "--jobs",
                "2"]
        with h.FakeAPI() as api:
            with sh.Server(api, socket=False, argv=argv, popen_extra={
                    "preexec_fn": handing_over(unix, tcp),
                    "close_fds": False}) as srv:
                srv.wait_listening(20 * h.SLACK, path)
                h.wait_until(lambda: "serving HTTP on 127.0.0.1:%d" % port
                             in srv.stderr(), 20 * h.SLACK, "HTTP served",)
                c = hh.Conn(port)
                st, _, raw = c.request(
                    "POST", "/v1/embeddings",
                    json.dumps({"input": "activated"}).encode())
                h.check(st == 200, "HTTP on the activated TCP socket", raw)
                with srv.connect(path) as u:
                    h.expect_ok(u.request({"id": 1, "input": "unix"}),
                                ["unix"])
                c.c.close()
                srv.signal(signal.SIGTERM)
                h.check(srv.wait(30 * h.SLACK) == 0, "exit 0", srv.stderr())
            tcp.close()
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.bind(("0.0.0.0", 0))
            tcp.listen(16)
            r = subprocess.run(argv, env=sh.serve_env(api),
                               preexec_fn=handing_over(unix, tcp),
                               close_fds=False, capture_output=True,
                               timeout=30 * h.SLACK)
            h.check(r.returncode == 64 and b"without --client-keys" in
                    r.stderr, "a non-loopback activated socket refused",
                    r.returncode, r.stderr)
    finally:
        unix.close()
        tcp.close()
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
