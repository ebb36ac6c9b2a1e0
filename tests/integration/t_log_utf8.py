"""Proves: with --log-format json every log line is valid JSON in valid UTF-8, also when a long message holding the request's id (2,000 euro signs) is cut; text lines are valid UTF-8 too."""
import json

import harness as h

ID = "\u20ac" * 2000


def scenario():
    with h.FakeAPI() as api:
        for fmt in ("json", "text"):
            got, p = h.run_pipe(
                api, [{"id": ID, "input": "@fault:500:9"}], "--log-format",
                fmt, "--log-level", "debug", "--retries", "1")
            h.expect_error(got[ID], "http")
            p.stderr_file.seek(0)
            raw = p.stderr_file.read()
            lines = raw.splitlines()
            h.check(len(lines) > 0, "something was logged", raw[:500])
            long_lines = 0
            for line in lines:
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise h.CheckFailed(f"{fmt}: not UTF-8: {e}: "
                                        f"{line[:300]!r}")
                if "\u20ac" * 100 in text:
                    long_lines += 1
                if fmt == "json":
                    try:
                        json.loads(text)
                    except ValueError as e:
                        raise h.CheckFailed(f"not JSON: {e}: {text[:300]}")
            h.check(long_lines > 0, f"{fmt}: the id was logged", raw[:2000])


h.main(scenario)
