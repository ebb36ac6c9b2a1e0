"""Wire format, error mapping, result types and option checks, without
processes."""
import base64
import json
import pickle
import struct
import unittest

import support  # noqa: F401  (sets sys.path)
import embedwatch
from embedwatch import _protocol as proto
from embedwatch._config import Options, RestartIntensity, describe_exit


def error_answer(code, status=None, retryable=False):
    err = {"code": code, "message": f"it was {code}", "retryable": retryable}
    if status is not None:
        err["status"] = status
    return {"id": 1, "ok": False, "error": err, "attempts": 2, "ms": 10}


class ErrorMapping(unittest.TestCase):
    def test_every_code_has_its_class(self):
        table = {
            "invalid_request": embedwatch.InvalidRequest,
            "timeout": embedwatch.EmbedwatchTimeout,
            "network": embedwatch.NetworkError,
            "http": embedwatch.HTTPError,
            "rate_limited": embedwatch.RateLimited,
            "bad_response": embedwatch.BadResponse,
            "worker_crashed": embedwatch.WorkerCrashed,
            "shutting_down": embedwatch.ShuttingDown,
            "cancelled": embedwatch.Cancelled,
        }
        for code, cls in table.items():
            with self.subTest(code=code):
                e = embedwatch.error_from_answer(error_answer(code))
                self.assertIs(type(e), cls)
                self.assertIsInstance(e, embedwatch.EmbedwatchError)
                self.assertEqual(e.code, code)
                self.assertEqual(e.message, f"it was {code}")
                self.assertEqual(e.attempts, 2)
                self.assertEqual(e.ms, 10)
                self.assertIs(e.retryable, False)
                self.assertIsNone(e.status)

    def test_status_and_retryable(self):
        e = embedwatch.error_from_answer(error_answer("rate_limited", 429,
                                                      True))
        self.assertEqual(e.status, 429)
        self.assertIs(e.retryable, True)
        self.assertIn("status 429", str(e))
        self.assertIn("2 attempts", str(e))

    def test_unknown_code_is_still_an_error(self):
        e = embedwatch.error_from_answer(error_answer("brand_new"))
        self.assertIs(type(e), embedwatch.EmbedwatchError)
        self.assertEqual(e.code, "brand_new")

    def test_garbage_error_fields(self):
        e = embedwatch.error_from_answer({"id": 1, "ok": False,
                                          "error": "nope", "attempts": True})
        self.assertIs(type(e), embedwatch.EmbedwatchError)
        self.assertIsNone(e.attempts)

    def test_client_side_errors_are_transport_errors(self):
        for cls in (embedwatch.ChildDied, embedwatch.ConnectionLost,
                    embedwatch.RestartLimitExceeded):
            self.assertTrue(issubclass(cls, embedwatch.TransportError))
        self.assertTrue(issubclass(embedwatch.TransportError,
                                   embedwatch.EmbedwatchError))
        self.assertTrue(issubclass(embedwatch.ClientClosed,
                                   embedwatch.EmbedwatchError))
        self.assertTrue(embedwatch.ChildDied("x").retryable)
        self.assertFalse(embedwatch.RestartLimitExceeded("x").retryable)

    def test_pickles(self):
        e = embedwatch.HTTPError("boom", status=401, attempts=1)
        e2 = pickle.loads(pickle.dumps(e))
        self.assertEqual((type(e2), e2.status, e2.attempts, e2.message),
                         (embedwatch.HTTPError, 401, 1, "boom"))


class WireFormat(unittest.TestCase):
    def encode(self, texts, **kw):
        args = dict(model=None, dimensions=None, timeout=None, deadline=3.0,
                    max_line=proto.DEFAULT_MAX_LINE)
        args.update(kw)
        return proto.encode_request(7, texts, **args)

    def test_request_line(self):
        line = self.encode(["a", "ü\n"], model="m", dimensions=4,
                           timeout=0.5)
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(line.count(b"\n"), 1)
        self.assertEqual(json.loads(line), {
            "id": 7, "input": ["a", "ü\n"], "deadline": 3.0, "model": "m",
            "dimensions": 4, "timeout": 0.5})

    def test_cancel_line(self):
        self.assertEqual(json.loads(proto.encode_cancel(9)),
                         {"op": "cancel", "id": 9})

    def test_line_too_long_is_refused_locally(self):
        with self.assertRaises(embedwatch.InvalidRequest) as cm:
            self.encode(["x" * 100], max_line=50)
        self.assertEqual(cm.exception.attempts, 0)

    def test_lone_surrogate_is_refused_locally(self):
        with self.assertRaises(embedwatch.InvalidRequest):
            self.encode(["bad \ud800"])

    def test_texts(self):
        self.assertEqual(proto.normalize_texts("one"), ["one"])
        self.assertEqual(proto.normalize_texts(("a", "b")), ["a", "b"])
        self.assertEqual(proto.normalize_texts(iter(["a"])), ["a"])
        for bad in (b"bytes", 3, [1, 2], ["a", None]):
            with self.subTest(bad=bad), self.assertRaises(TypeError):
                proto.normalize_texts(bad)

    def test_seconds(self):
        self.assertEqual(proto.check_seconds("t", 2), 2.0)
        self.assertIsNone(proto.check_seconds("t", None))
        for bad in (0, -1, float("nan"), 1e9):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                proto.check_seconds("t", bad)
        with self.assertRaises(TypeError):
            proto.check_seconds("t", "2")

    def test_decode_in_steps_matches_decode(self):
        def steps(line):
            gen = proto.decode_answer_in_steps(line)
            n = 0
            try:
                while True:
                    next(gen)
                    n += 1
            except StopIteration as done:
                return done.value, n
        answer = {"id": 12, "ok": True,
                  "embeddings": [[0.25, -1, 0], [3e-7, 1.5]], "model": "ü",
                  "usage": {"prompt_tokens": 2, "total_tokens": 2},
                  "attempts": 1, "ms": 3}
        for line in (json.dumps(answer).encode(),
                     json.dumps(answer, indent=1).encode(),
                     b'{"id":null,"ok":false,"error":{"code":"x"}}',
                     b' {"id": "s", "embeddings": []} \n'):
            with self.subTest(line=line):
                got, n = steps(line)
                self.assertEqual(got, proto.decode_answer(line))
        got, n = steps(json.dumps(answer).encode())
        self.assertEqual(n, 2, "one step a vector")
        self.assertTrue(all(type(x) is float for v in got[1]["embeddings"]
                            for x in v))
        for bad in (b"", b"[1]", b'{"id":1', b'{"id":1}x', b'{"ok":true}',
                    b'{"id":1,"embeddings":[[1],]}', b'{"id":1,}',
                    b'{"id" 1}', b'{"id":1,"embeddings":[[1] [2]]}'):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                steps(bad)

    def test_result(self):
        answer = {"id": 1, "ok": True, "embeddings": [[0, 0.5], [1, -2.5]],
                  "model": "m", "usage": {"prompt_tokens": 3,
                                          "total_tokens": 3},
                  "attempts": 1, "ms": 4}
        r = proto.result_from_answer(
            proto.decode_answer(json.dumps(answer))[1], 2)
        self.assertEqual(r.embeddings, [[0.0, 0.5], [1.0, -2.5]])
        self.assertTrue(all(type(x) is float for v in r.embeddings
                            for x in v))
        self.assertEqual((r.model, r.usage.prompt_tokens, r.attempts, r.ms),
                         ("m", 3, 1, 4))
        with self.assertRaises(embedwatch.TransportError):
            proto.result_from_answer(answer, 3)

    def test_facade_base64(self):
        from embedwatch.types import facade_response
        r = proto.result_from_answer(
            {"id": 1, "ok": True, "embeddings": [[0.5, -0.25]], "model": "m",
             "usage": {"prompt_tokens": 1, "total_tokens": 1},
             "attempts": 1, "ms": 1}, 1)
        resp = facade_response(r, "base64")
        raw = base64.b64decode(resp.data[0].embedding)
        self.assertEqual(list(struct.unpack("<2f", raw)), [0.5, -0.25])
        self.assertEqual(resp.model_dump()["data"][0]["object"], "embedding")


class OptionsTest(unittest.TestCase):
    def test_argv_never_has_the_key(self):
        o = Options(binary="/x/embedwatch", api_key="sk-secret",
                    base_url="http://h/v1", timeout=2.5, max_retries=0,
                    jobs=3, args=["--log-level", "debug"])
        argv = o.argv()
        self.assertEqual(argv, ["/x/embedwatch", "pipe", "--base-url",
                                "http://h/v1", "--timeout", "2.5",
                                "--retries", "0", "--jobs", "3",
                                "--log-level", "debug"])
        self.assertNotIn("sk-secret", " ".join(argv))
        self.assertEqual(o.child_env()["EMBEDWATCH_API_KEY"], "sk-secret")

    def test_socket_refuses_child_options(self):
        with self.assertRaises(ValueError):
            Options(socket="/tmp/s", base_url="http://h/v1")
        Options(socket="/tmp/s", model="m", timeout=1, deadline=2)

    def test_bad_values(self):
        for kw in ({"timeout": 0}, {"jobs": 0}, {"max_retries": -1},
                   {"restart_window": 0}, {"answer_margin": -1}):
            with self.subTest(kw=kw), self.assertRaises(ValueError):
                Options(**kw)
        with self.assertRaises(TypeError):
            Options(args="--jobs 3")

    def test_intensity(self):
        r = RestartIntensity(2, 60)
        self.assertTrue(r.allow())
        self.assertTrue(r.allow())
        self.assertFalse(r.allow())
        r = RestartIntensity(1, 0.05)
        self.assertTrue(r.allow())
        import time
        time.sleep(0.1)
        self.assertTrue(r.allow())

    def test_describe_exit(self):
        self.assertEqual(describe_exit(-9), "was killed by SIGKILL")
        self.assertEqual(describe_exit(78), "exited with status 78")


if __name__ == "__main__":
    unittest.main()
