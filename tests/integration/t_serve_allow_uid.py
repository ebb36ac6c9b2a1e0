"""Proves: with --allow-uid, serve serves the listed peer uids and gives any other one a single forbidden line and closes; as root, also from a real second uid (nobody)."""
import json
import os
import shutil
import socket
import tempfile

import harness as h
import serve_harness as sh

NOBODY = 65534


def talk(path, timeout):
    """Connect, send one request, and say what came back before EOF."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    try:
        s.sendall(b'{"id": 1, "input": "from nobody"}\n')
    except (BrokenPipeError, ConnectionResetError):
        pass            # refused before we spoke: the line is still there
    data, end = b"", "eof"
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            end = "reset"
            break
        if not chunk:
            break
        data += chunk
        if data.endswith(b"\n") and b'"id":1' in data:
            end = "answered"
            break
    s.close()
    return {"lines": data.decode().splitlines(), "end": end,
            "uid": os.getuid()}


def expect_forbidden(line, uid):
    h.check(line.get("id") is None and line.get("ok") is False, "refused",
            line)
    h.check(line["error"]["code"] == "forbidden", "code forbidden", line)
    h.check(f"uid {uid}" in line["error"]["message"], "names the uid",
            line)
    h.check(line["error"]["retryable"] is False, "not retryable", line)


def as_nobody(path):
    """talk() from a forked child that became uid and gid nobody."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = talk(path, 20 * h.SLACK)
        except BaseException as e:
            out = {"error": repr(e)}
        os.write(wfd, json.dumps(out).encode())
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    out = json.loads(data or b"{}")
    h.check("error" not in out and out.get("uid") == NOBODY,
            "the nobody client ran", out)
    return out


def scenario():
    me = os.getuid()
    root = me == 0
    stranger = NOBODY if root else me + 1
    # World-traversable, so that nobody can reach a 0666 socket in it.
    tmp = tempfile.mkdtemp(prefix="ew-uid-")
    os.chmod(tmp, 0o711)
    try:
        with h.FakeAPI() as api:
            # Only the stranger is allowed: we are refused.
            with sh.Server(api, "--allow-uid", str(stranger),
                           "--socket-mode", "0666", dir=tmp) as srv:
                with srv.connect() as c:
                    got = c.read_until_eof(20 * h.SLACK)
                    h.check(len(got) == 1, "exactly one line, then EOF",
                            got)
                    expect_forbidden(got[0], me)
                with srv.connect() as c:
                    # A client that talks first may see a reset after
                    # the line; it must still get the line, and no more.
                    try:
                        c.send({"id": 1, "input": "refused"})
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    got = c.read_until_eof(20 * h.SLACK)
                    h.check(len(got) == 1, "exactly one line", got)
                    expect_forbidden(got[0], me)
                h.check(api.stats()["requests"] == 0, "nothing reached "
                        "the API", api.stats())
                h.check("refused a client with uid" in srv.stderr(),
                        "logged", srv.stderr())
                if root:
                    out = as_nobody(srv.path)
                    h.check(out["end"] == "answered", "nobody served", out)
                    h.expect_ok(json.loads(out["lines"][-1]),
                                ["from nobody"])
                sh.stop(srv)

            # We are listed too (the option repeats): served.
            with sh.Server(api, "--allow-uid", str(me), "--allow-uid",
                           str(stranger if not root else 1),
                           "--socket-mode", "0666", dir=tmp) as srv:
                with srv.connect() as c:
                    c.send({"id": 1, "input": "allowed"})
                    h.expect_ok(c.read_answers(1, 20 * h.SLACK)[0],
                                ["allowed"])
                    st = c.stats()
                    h.check(st["clients_refused"] == 0, "none refused yet",
                            st)
                if root:
                    out = as_nobody(srv.path)
                    h.check(out["end"] in ("eof", "reset"),
                            "nobody's connection closed", out)
                    h.check(len(out["lines"]) == 1, "one line", out)
                    expect_forbidden(json.loads(out["lines"][0]), NOBODY)
                    with srv.connect() as c:
                        st = c.stats()
                    h.check(st["clients_refused"] == 1, "counted", st)
                sh.stop(srv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


h.main(scenario)
