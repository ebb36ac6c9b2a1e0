"""Proves: http_proxy and NO_PROXY are honoured by the fork worker and the exec'd worker alike, and --proxy URL (or --proxy '' for none) overrides the environment."""
import harness as h

# Resolves nowhere: a call can only succeed through the proxy.
UNREACHABLE = "http://embedwatch-test.invalid/v1"
DEAD = "http://127.0.0.1:9"


def call(api, *args, env=None, base_url=None):
    p = h.Pipe(api, *args, "--retries", "0", "--timeout", "20",
               env={"NO_PROXY": "", "no_proxy": "", "http_proxy": "",
                    "https_proxy": "", "all_proxy": "", "ALL_PROXY": "",
                    "HTTPS_PROXY": "", **(env or {})},
               base_url=base_url)
    p.send({"id": 1, "input": "x"})
    p.close()
    answers = p.read_answers(1, 60 * h.SLACK)
    h.check(p.wait(60) == 0, "exit 0", p.stderr())
    return answers[0]


def scenario():
    with h.FakeAPI() as api:
        proxy = f"http://127.0.0.1:{api.port}"
        for mode in ([], ["--exec-worker"]):
            a = call(api, *mode, env={"http_proxy": proxy},
                     base_url=UNREACHABLE)
            h.expect_ok(a, ["x"])
            h.check(api.stats()["last_headers"].get("host") ==
                    "embedwatch-test.invalid", f"through the proxy {mode}")
            # NO_PROXY: straight to the API, not to the dead proxy.
            a = call(api, *mode, env={"http_proxy": DEAD,
                                      "NO_PROXY": "127.0.0.1"})
            h.expect_ok(a, ["x"])
            # The dead proxy itself is used when NO_PROXY does not match.
            a = call(api, *mode, env={"http_proxy": DEAD})
            h.expect_error(a, "network")
            a = call(api, *mode, "--proxy", proxy, base_url=UNREACHABLE)
            h.expect_ok(a, ["x"])
            a = call(api, *mode, "--proxy", "", env={"http_proxy": DEAD})
            h.expect_ok(a, ["x"])


h.main(scenario)
