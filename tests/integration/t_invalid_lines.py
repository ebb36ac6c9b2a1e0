"""Proves: malformed, incomplete, oversized and wrongly typed request lines each get one invalid_request answer and the stream goes on."""
import json

import harness as h


def scenario():
    big = "x" * 40000
    lines = [
        b"not json at all\n",
        b'{"input": "no id"}\n',
        b'{"id": "noinput"}\n',
        b'{"id": null, "input": "null id"}\n',
        b'{"id": [1], "input": "array id"}\n',
        b'{"id": "empty", "input": ""}\n',
        b'{"id": "emptyarr", "input": []}\n',
        b'{"id": "emptyelem", "input": ["a", ""]}\n',
        b'{"id": "num", "input": [1, 2]}\n',
        b'{"id": "obj", "input": {"a": 1}}\n',
        (json.dumps({"id": "toomany", "input": ["t"] * 2049}) + "\n").encode(),
        b'{"id": "dims", "input": "a", "dimensions": 0}\n',
        b'{"id": "tmo", "input": "a", "timeout": -1}\n',
        b'{"id": "model", "input": "a", "model": 5}\n',
        b'{"id": "dup", "id": "dup2", "input": "a"}\n',
        b'[1, 2, 3]\n',
        b'{"id": "trunc", "input": "a"\n',
        (json.dumps({"id": "huge", "input": big}) + "\n").encode(),
        b"\n",
        b"   \n",
        b'{"id": "good", "input": "good"}\n',
        b'{"id": "last", "input": "no newline at the end"}',
    ]
    invalid_ids = ["empty", "emptyarr", "emptyelem", "num", "obj", "toomany",
                   "dims", "tmo", "model"]
    with h.FakeAPI() as api:
        p = h.Pipe(api, "--max-line", "32768")
        p.send(*lines)
        p.close()
        # 22 lines: 2 blank lines are ignored, 20 answers.
        answers = p.read_answers(20, 30)
        h.check(p.wait(30) == 0, "exit status 0", p.stderr())
        h.check(p.rest_of_stdout() == b"", "no extra output")
        by_id = {}
        nulls = []
        for a in answers:
            if a["id"] is None:
                nulls.append(a)
            else:
                by_id[a["id"]] = a
        for i in invalid_ids:
            h.expect_error(by_id[i], "invalid_request", attempts=0)
        # not json, no id, null id, array id, dup, [..], truncated.
        h.check(len(nulls) == 7, f"{len(nulls)} answers with id null",
                nulls)
        for a in nulls:
            h.expect_error(a, "invalid_request", attempts=0)
        h.expect_error(by_id["noinput"], "invalid_request")
        h.check("no 'input'" in by_id["noinput"]["error"]["message"],
                "says what is missing", by_id["noinput"])
        # An over-long line is refused unread, but an early id is found.
        h.expect_error(by_id["huge"], "invalid_request", attempts=0)
        h.check("longer than 32768" in by_id["huge"]["error"]["message"],
                "over-long line named", by_id["huge"])
        h.expect_ok(by_id["good"], ["good"])
        h.expect_ok(by_id["last"], ["no newline at the end"])
        h.check(api.stats()["requests"] == 2, "invalid requests never "
                "reach the API", api.stats())


h.main(scenario)
