"""Proves: every call sends `User-Agent: embedwatch/VERSION` (fork and exec'd workers, and embedwatch-worker run by hand; the version the binary prints), and a --header User-Agent replaces it."""
import subprocess

import harness as h


def scenario():
    version = subprocess.run([h.EMBEDWATCH, "--version"], capture_output=True,
                             text=True, timeout=60).stdout.split()[1]
    with h.FakeAPI() as api:
        for mode in ([], ["--exec-worker"]):
            got, p = h.run_pipe(api, [{"id": 1, "input": "x"}], *mode)
            h.expect_ok(got[1], ["x"])
            seen = api.stats()["last_headers"]
            h.check(seen.get("user-agent") == f"embedwatch/{version}",
                    f"default User-Agent {mode}", seen)
        got, p = h.run_pipe(api, [{"id": 1, "input": "x"}], "--header",
                            "User-Agent: mine/2.0")
        h.expect_ok(got[1], ["x"])
        seen = api.stats()["last_headers"]
        h.check(seen.get("user-agent") == "mine/2.0", "overridden", seen)
        env = h.clean_env()
        env["EMBEDWATCH_BASE_URL"] = api.base_url
        p = subprocess.run([h.WORKER], input='{"input":["x"]}', env=env,
                           capture_output=True, text=True, timeout=60)
        h.check(p.returncode == 0, "worker by hand", p.stdout + p.stderr)
        seen = api.stats()["last_headers"]
        h.check(seen.get("user-agent") == f"embedwatch/{version}",
                "by hand", seen)


h.main(scenario)
