"""Proves: the API key reaches the server as a Bearer token but never any argv or any log line, even at debug level; a key file others can read is refused."""
import os
import stat
import tempfile

import harness as h

KEY = "sk-test-SECRET-0123456789abcdef"


def argv_of(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def scenario():
    with h.FakeAPI("--require-key", KEY) as api:
        for exec_mode in (False, True):
            args = ["--log-level", "debug", "--log-format", "json",
                    "--timeout", "3", "--retries", "0"]
            if exec_mode:
                args.append("--exec-worker")
            p = h.Pipe(api, *args, env={"EMBEDWATCH_API_KEY": KEY})
            p.send({"id": "hung", "input": "h @fault:hang"})
            h.wait_until(lambda: len(h.working(p.pid)) == 1, 10 * h.SLACK,
                         "a worker")
            worker = h.working(p.pid)[0]
            h.wait_until(lambda: api.stats()["requests"] >= 1, 10 * h.SLACK,
                         "the call")
            for pid in (p.pid, worker):
                h.check(KEY.encode() not in argv_of(pid),
                        f"key in argv of {pid}")
            p.send({"id": "ok", "input": "fine"}, {"id": "bad", "input": ""})
            p.close()
            answers = p.read_answers(3, 30 * h.SLACK)
            h.check(p.wait(30) == 0, "exit 0")
            by_id = {a["id"]: a for a in answers}
            h.expect_ok(by_id["ok"], ["fine"])
            h.check(api.stats()["last_headers"].get("authorization") ==
                    f"Bearer {KEY}", "the key reached the server")
            err = p.stderr()
            h.check(len(err) > 0 and "debug" in err, "debug logs written",
                    err)
            h.check(KEY not in err, "key in the log", err)
            h.check("Bearer" not in err, "authorization in the log", err)

        # Key file: refused when group/world readable, used at 0600.
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write(KEY + "\n")
        try:
            os.chmod(f.name, 0o644)
            p = h.Pipe(api, "--api-key-file", f.name)
            p.close()
            h.check(p.wait(10) == 78, "readable key file refused (78)")
            h.check("readable by group or others" in p.stderr(),
                    "says why", p.stderr())
            os.chmod(f.name, stat.S_IRUSR | stat.S_IWUSR)
            got, p = h.run_pipe(api, [{"id": 1, "input": "with file"}],
                                "--api-key-file", f.name)
            h.expect_ok(got[1], ["with file"])
        finally:
            os.unlink(f.name)
        # No key at all: the server says 401 and we say http 401.
        got, p = h.run_pipe(api, [{"id": 1, "input": "no key"}])
        h.expect_error(got[1], "http", attempts=1)
        h.check(got[1]["error"]["status"] == 401, "401", got[1])


h.main(scenario)
