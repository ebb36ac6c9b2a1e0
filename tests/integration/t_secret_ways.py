"""Proves: secrets have ways in that are not argv and stay out of logs: --api-key-header sends the key under that header name instead of Authorization; --header-file sends secret headers (a private regular file: group-readable or a FIFO refused at once, exit 78) whose values a server that quotes them sees redacted; a FIFO as --api-key-file is refused, not waited on; a user:password@ in --base-url never reaches a log line; the supervisor is not dumpable and has RLIMIT_CORE 0 even when started with unlimited cores."""
import os
import resource
import shutil
import subprocess
import tempfile

import harness as h

KEY = "sk-test-WAYS-0123456789abcdef"
SECRET = "hdr-secret-value-98765"


def argv_of(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def private_file(d, name, text, mode=0o600):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def refused(api, args, what, timeout=10):
    p = h.Pipe(api, *args, env={"EMBEDWATCH_API_KEY": KEY})
    p.close()
    rc = p.wait(timeout * h.SLACK)
    h.check(rc == 78, f"{what}: exit 78, not {rc}", p.stderr())
    return p.stderr()


def scenario():
    d = tempfile.mkdtemp(prefix="ew-ways-")
    try:
        with h.FakeAPI() as api:
            # --api-key-header: the key under that name, no Authorization.
            got, p = h.run_pipe(api, [{"id": 1, "input": "azure"}],
                                "--api-key-header", "api-key",
                                env={"EMBEDWATCH_API_KEY": KEY})
            h.expect_ok(got[1], ["azure"])
            hdrs = api.stats()["last_headers"]
            h.check(hdrs.get("api-key") == KEY, "key sent as api-key", hdrs)
            h.check("authorization" not in hdrs, "no Authorization", hdrs)

            # --header-file: sent, not on argv, redacted when quoted.
            hf = private_file(d, "headers", "# secrets\r\n\r\n"
                              f"X-Secret: {SECRET}\r\nX-Org: org-1\n")
            for exec_mode in (False, True):
                args = ["--header-file", hf, "--header", "X-Plain: p",
                        "--log-level", "debug", "--retries", "0"]
                if exec_mode:
                    args.append("--exec-worker")
                p = h.Pipe(api, *args, env={"EMBEDWATCH_API_KEY": KEY})
                p.send({"id": "q", "input": "x @fault:echoauth:3"},
                       {"id": "ok", "input": "fine"})
                h.wait_until(lambda: api.stats()["requests"] >= 1,
                             10 * h.SLACK, "a call")
                for pid in [p.pid] + h.children(p.pid):
                    h.check(SECRET.encode() not in argv_of(pid),
                            "secret header on argv")
                p.close()
                answers = {a["id"]: a for a in p.read_answers(2, 30)}
                h.check(p.wait(30) == 0, "exit 0", p.stderr())
                h.expect_ok(answers["ok"], ["fine"])
                hdrs = api.stats()["last_headers"]
                h.check(hdrs.get("x-secret") == SECRET and
                        hdrs.get("x-org") == "org-1" and
                        hdrs.get("x-plain") == "p", "headers sent", hdrs)
                msg = answers["q"]["error"]["message"]
                h.check(SECRET not in msg and KEY not in msg,
                        "secret header redacted", msg)
                h.check("org-1" not in msg, "every file header is secret",
                        msg)
                h.check("X-Plain" in msg or "x-plain" in msg,
                        "the server's text kept", msg)
                err = p.stderr()
                h.check(SECRET not in err and KEY not in err,
                        "secrets not in the debug log", err[-2000:])

            # Refused: a readable header file, a bad line, FIFOs.
            bad = private_file(d, "readable", "X-A: b\n", 0o644)
            err = refused(api, ["--header-file", bad], "readable")
            h.check("readable by group or others" in err, "says why", err)
            bad = private_file(d, "badline", f"X-A: b\nnot a header {SECRET}\n")
            err = refused(api, ["--header-file", bad], "bad line")
            h.check("line 2" in err and SECRET not in err,
                    "names the line, not its text", err)
            fifo = os.path.join(d, "fifo")
            os.mkfifo(fifo, 0o600)
            for opt in ("--api-key-file", "--header-file"):
                err = refused(api, [opt, fifo], f"FIFO {opt}", timeout=5)
                h.check("not a regular file" in err, "says why", err)

            # user:password@ in the base URL: not in the debug log.
            url = api.base_url.replace("http://", "http://alice:pw-SECRET-1@")
            p = h.Pipe(api, "--log-level", "debug", base_url=url)
            p.send({"id": 1, "input": "x"})
            p.close()
            p.read_answers(1, 30)
            h.check(p.wait(30) == 0, "exit 0", p.stderr())
            err = p.stderr()
            h.check("pw-SECRET-1" not in err and "alice" not in err,
                    "userinfo in the log", err)
            h.check("***@" in err, "the log shows it was there", err)

            # Not dumpable, no core, even with cores unlimited.
            soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
            setpriv = shutil.which("setpriv")
            cmd = [h.EMBEDWATCH, "pipe"]
            if setpriv is not None and os.geteuid() == 0:
                cmd = [setpriv, "--reuid=65534", "--regid=65534",
                       "--clear-groups"] + cmd
            env = h.clean_env()
            env.update(EMBEDWATCH_API_KEY=KEY,
                       EMBEDWATCH_BASE_URL=api.base_url)
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=env,
                preexec_fn=lambda: resource.setrlimit(
                    resource.RLIMIT_CORE, (hard, hard)))
            try:
                def limits_read():
                    with open(f"/proc/{proc.pid}/limits") as f:
                        text = f.read()
                    return "embedwatch" in open(
                        f"/proc/{proc.pid}/cmdline").read() and text
                h.wait_until(lambda: "pipe" in open(
                    f"/proc/{proc.pid}/cmdline").read(), 10, "exec")
                h.wait_until(lambda: any(
                    line.startswith("Max core file size") and
                    line.split()[4] == "0"
                    for line in open(f"/proc/{proc.pid}/limits")),
                    10 * h.SLACK, "RLIMIT_CORE 0")
                if cmd[0] == setpriv:
                    h.check(os.stat(f"/proc/{proc.pid}").st_uid == 65534,
                            "runs as nobody")
                    h.wait_until(lambda: os.stat(
                        f"/proc/{proc.pid}/environ").st_uid == 0,
                        10 * h.SLACK, "not dumpable (/proc files owned "
                        "by root)")
                else:
                    h.log("not root or no setpriv: dumpable not checked")
            finally:
                proc.stdin.close()
                proc.wait(30)
    finally:
        shutil.rmtree(d, ignore_errors=True)


h.main(scenario)
