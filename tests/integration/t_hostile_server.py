"""Proves: what a hostile server sends is classified right and passed on safely: non-ASCII error text (600 x 'é', 200 emoji) and a 302 whose Location is UTF-8 or holds 0xff stay http errors, never retried, with valid UTF-8 messages cut on a character boundary; bytes that are not HTTP, a status line 'HTTP/1.1 abc' and a close inside the headers are network errors and retried; base64url is bad_response; the key and any Bearer token a server quotes never reach the answer, the debug log or batch's errors file, in fork and exec mode."""
import os
import shutil
import subprocess
import tempfile

import harness as h

KEY = "sk-test-HOSTILE-0123456789abcdefXYZ"


def scenario():
    reqs = [
        {"id": "e", "input": "x @fault:utf8"},
        {"id": "emoji", "input": "x @fault:utf8:1"},
        {"id": "loc", "input": "x @fault:redirect"},
        {"id": "locff", "input": "x @fault:redirect:1"},
        {"id": "ssh", "input": "x @fault:nothttp"},
        {"id": "abc", "input": "x @fault:nothttp:1"},
        {"id": "cut", "input": "x @fault:nothttp:2"},
        {"id": "url", "input": "x @fault:b64url"},
        {"id": "auth", "input": "x @fault:echoauth"},
        {"id": "html", "input": "x @fault:echoauth:1"},
        {"id": "tail", "input": "x @fault:echoauth:2"},
    ]
    with h.FakeAPI() as api:
        for exec_mode in (False, True):
            # Every request is its own case: no circuit, no cooldown.
            args = ["--retries", "1", "--log-level", "debug", "--timeout",
                    "5", "--fail-cooldown", "off", "--breaker", "off",
                    "--hedge", "off"] + (["--exec-worker"] if exec_mode
                                         else [])
            got, p = h.run_pipe(api, reqs, *args,
                                env={"EMBEDWATCH_API_KEY": KEY})
            err = p.stderr()
            h.check("worker_crashed" not in err and
                    "exited with status 70" not in err,
                    "no worker crashed", err[-3000:])
            for i in ("e", "emoji", "loc", "locff"):
                a = got[i]
                h.expect_error(a, "http", attempts=1)
                h.check(a["error"]["retryable"] is False, "final", a)
            msg = got["e"]["error"]["message"]
            h.check("HTTP 400: \u00e9\u00e9" in msg, "the text",
                    msg)
            h.check("\ufffd" not in msg, "cut on a character boundary", msg)
            h.check("\U0001f600" in got["emoji"]["error"]["message"] and
                    "\ufffd" not in got["emoji"]["error"]["message"],
                    "emoji kept whole", got["emoji"])
            h.check(got["loc"]["error"]["status"] == 302 and
                    "caf\u00e9" in got["loc"]["error"]["message"],
                    "UTF-8 Location kept", got["loc"])
            h.check("\ufffd" in got["locff"]["error"]["message"],
                    "0xff replaced", got["locff"])
            for i in ("ssh", "abc", "cut"):
                h.expect_error(got[i], "network", attempts=2)
                h.check(got[i]["error"]["retryable"] is True, "retryable",
                        got[i])
            h.expect_error(got["url"], "bad_response", attempts=1)
            for i in ("auth", "html", "tail"):
                m = got[i]["error"]["message"]
                h.check(KEY not in m and KEY[:12] not in m,
                        "key redacted", got[i])
                h.check("[redacted]" in m, "says it redacted", m)
            h.check(got["auth"]["error"]["status"] == 401, "401 kept",
                    got["auth"])
            h.check(KEY not in err and KEY[:12] not in err,
                    "key not in the debug log", err[-3000:])

        # batch: the errors file gets the redacted message too.
        d = tempfile.mkdtemp(prefix="ew-hostile-")
        try:
            src = os.path.join(d, "in.txt")
            out = os.path.join(d, "out.jsonl")
            with open(src, "w") as f:
                f.write("fine\nquote it @fault:echoauth\nhtml @fault:echoauth:1\n")
            env = h.clean_env()
            env.update(EMBEDWATCH_BASE_URL=api.base_url,
                       EMBEDWATCH_API_KEY=KEY)
            p = subprocess.run([h.EMBEDWATCH, "batch", src, "-o", out,
                                "--batch-size", "1", "--retries", "0",
                                "--fail-cooldown", "off",
                                "--log-level", "debug"], env=env,
                               capture_output=True, timeout=60 * h.SLACK)
            h.check(p.returncode == 3, f"batch exit {p.returncode}",
                    p.stderr[-2000:])
            with open(out + ".errors") as f:
                errors = f.read()
            h.check(errors.count("[redacted]") >= 2, "errors file",
                    errors)
            for text in (errors, p.stderr.decode(errors="replace")):
                h.check(KEY not in text and KEY[:12] not in text,
                        "key in the errors file or the log", text[-2000:])
        finally:
            shutil.rmtree(d, ignore_errors=True)


h.main(scenario)
