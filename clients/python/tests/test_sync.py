"""The synchronous client against the real embedwatch and the fake API:
round trips, threads sharing one child, every error code, its own
timeout, child death and restart, the restart limit, clean close."""
import os
import signal
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import support as s
import embedwatch
from embedwatch import _protocol as proto

api = None


def setUpModule():
    global api
    api = s.FakeAPI().__enter__()


def tearDownModule():
    api.__exit__(None, None, None)


def client(**kw):
    return embedwatch.Embedwatch(**s.client_kwargs(api, **kw))


def hung_calls_at_fake(n):
    return lambda: api.open_calls() >= n


class RoundTrip(unittest.TestCase):
    def test_embed_and_embed_one(self):
        texts = ["hello", "two words", "ünïcödé ✓"]
        with client() as ew:
            got = ew.embed(texts)
            self.assertEqual([s.as_float32(v) for v in got],
                             s.expected(texts))
            one = ew.embed_one("solo")
            self.assertEqual(s.as_float32(one), s.expected(["solo"])[0])
            self.assertTrue(all(type(x) is float for x in one))
            r = ew.embed_result("a b c", model="other-model")
            self.assertEqual((r.model, r.usage.prompt_tokens, r.attempts),
                             ("other-model", 3, 1))
            self.assertEqual(len(ew.embed("d", dimensions=5)[0]), 5)

    def test_threads_share_one_child(self):
        texts = [f"thread text {i}" for i in range(200)]
        with client(jobs=8) as ew:
            pid = ew.pid
            with ThreadPoolExecutor(32) as pool:
                got = list(pool.map(ew.embed_one, texts))
            self.assertEqual([s.as_float32(v) for v in got],
                             s.expected(texts))
            self.assertEqual(ew.pid, pid, "one child for all threads")

    def test_facade_shape(self):
        with client(model="text-embedding-3-small") as ew:
            resp = ew.embeddings.create(model="text-embedding-3-large",
                                        input=["first one", "second"])
            self.assertEqual(resp.object, "list")
            self.assertEqual(resp.model, "text-embedding-3-large")
            self.assertEqual([d.index for d in resp.data], [0, 1])
            self.assertEqual([d.object for d in resp.data],
                             ["embedding", "embedding"])
            self.assertEqual([s.as_float32(d.embedding) for d in resp.data],
                             s.expected(["first one", "second"]))
            self.assertEqual((resp.usage.prompt_tokens,
                              resp.usage.total_tokens), (3, 3))
            one = ew.embeddings.create(input="solo", encoding_format="base64")
            self.assertIsInstance(one.data[0].embedding, str)
            self.assertEqual(one.model, "text-embedding-3-small")
            with self.assertRaises(ValueError):
                ew.embeddings.create(input="x", encoding_format="int8")

    def test_default_binary_from_environment(self):
        kw = s.client_kwargs(api)
        del kw["binary"]
        old = os.environ.get("EMBEDWATCH_BIN")
        os.environ["EMBEDWATCH_BIN"] = s.EMBEDWATCH
        try:
            with embedwatch.Embedwatch(**kw) as ew:
                self.assertEqual(s.as_float32(ew.embed_one("env")),
                                 s.expected(["env"])[0])
        finally:
            if old is None:
                del os.environ["EMBEDWATCH_BIN"]
            else:
                os.environ["EMBEDWATCH_BIN"] = old


class Errors(unittest.TestCase):
    """Every protocol error code reaches the caller as its exception."""

    @classmethod
    def setUpClass(cls):
        cls.ew = client(max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.ew.close()

    def expect(self, cls, text, status=None, **kw):
        with self.assertRaises(cls) as cm:
            self.ew.embed([text], **kw)
        e = cm.exception
        self.assertIsInstance(e, cls)
        if status is not None:
            self.assertEqual(e.status, status)
        self.assertIsInstance(e.message, str)
        self.assertTrue(e.message)
        return e

    def test_timeout(self):
        start = time.monotonic()
        e = self.expect(embedwatch.EmbedwatchTimeout, "t @fault:hang",
                        timeout=0.5)
        self.assertEqual(e.attempts, 1)
        self.assertTrue(e.retryable)
        self.assertLess(time.monotonic() - start, 0.5 + 3 * s.SLACK)

    def test_rate_limited(self):
        self.expect(embedwatch.RateLimited, "q @fault:quota", status=429)

    def test_http(self):
        e = self.expect(embedwatch.HTTPError, "h @fault:401", status=401)
        self.assertFalse(e.retryable)
        # The OpenAI SDK's class for the status, and its attributes.
        self.assertIs(type(e), embedwatch.AuthenticationError)
        self.assertIsInstance(e, embedwatch.APIStatusError)
        self.assertEqual(e.status_code, 401)
        self.assertEqual(e.response.status_code, 401)
        self.assertEqual(e.response.headers, {})
        self.assertIsNone(e.request_id)
        self.assertEqual(e.body["code"], "http")
        e = self.expect(embedwatch.NotFoundError, "h @fault:404", status=404)
        e = self.expect(embedwatch.InternalServerError, "h @fault:500:9",
                        status=500)

    def test_bad_response(self):
        self.expect(embedwatch.BadResponse, "b @fault:badjson")

    def test_network(self):
        self.expect(embedwatch.NetworkError, "n @fault:reset")

    def test_invalid_request(self):
        e = self.expect(embedwatch.InvalidRequest, "")
        self.assertEqual(e.attempts, 0)

    def test_worker_crashed(self):
        with client(max_retries=0, args=["--worker", "/bin/false"]) as ew:
            with self.assertRaises(embedwatch.WorkerCrashed) as cm:
                ew.embed("w")
            self.assertEqual(cm.exception.attempts, 1)

    def test_shutting_down(self):
        with s.quiet(), client(timeout=30, args=["--drain", "0.2"]) as ew:
            pid = ew.pid
            api.reset()
            box = {}

            def call():
                try:
                    ew.embed("sd @fault:hang")
                except embedwatch.EmbedwatchError as e:
                    box["error"] = e
            t = threading.Thread(target=call)
            t.start()
            s.wait_until(lambda: api.stats()["faults"].get("hang", 0) >= 1,
                         10 * s.SLACK, "the hung call")
            os.kill(pid, signal.SIGTERM)
            t.join(10 * s.SLACK)
            self.assertFalse(t.is_alive())
            self.assertIs(type(box.get("error")), embedwatch.ShuttingDown,
                          box)
            # That child is gone for good; the next call gets a new one.
            s.wait_until(lambda: ew.pid is None, 10 * s.SLACK,
                         "the client to see the child exit")
            self.assertEqual(s.as_float32(ew.embed_one("after")),
                             s.expected(["after"])[0])
            self.assertNotEqual(ew.pid, pid)

    def test_cannot_start(self):
        ew = embedwatch.Embedwatch(binary="/nonexistent/embedwatch")
        with self.assertRaises(embedwatch.TransportError) as cm:
            ew.embed("x")
        self.assertIn("/nonexistent/embedwatch", str(cm.exception))
        ew.close()

    def test_child_refuses_to_start(self):
        with s.quiet():
            ew = client(args=["--worker", "/nonexistent/worker"])
            with self.assertRaises(embedwatch.ChildDied) as cm:
                ew.embed("x")
            ew.close()
        self.assertIn("status 78", str(cm.exception))
        self.assertIn("/nonexistent/worker", str(cm.exception))


class OwnTimeout(unittest.TestCase):
    def test_stuck_embedwatch(self):
        """If embedwatch itself stops answering, the call gives up at its
        deadline plus the margin, sends a cancel and raises."""
        sent = []
        real = proto.encode_cancel

        def spy(call_id):
            sent.append(call_id)
            return real(call_id)
        ew = client(answer_margin=0.5)
        try:
            ew.embed("warm up")
            pid = ew.pid
            os.kill(pid, signal.SIGSTOP)
            proto.encode_cancel = spy
            try:
                start = time.monotonic()
                with self.assertRaises(embedwatch.EmbedwatchTimeout) as cm:
                    ew.embed("never answered", deadline=1)
                elapsed = time.monotonic() - start
            finally:
                proto.encode_cancel = real
                os.kill(pid, signal.SIGCONT)
            self.assertIsNone(cm.exception.attempts)
            self.assertIn("cancelled", cm.exception.message)
            self.assertTrue(1.4 < elapsed < 1.5 + 2 * s.SLACK, elapsed)
            self.assertEqual(len(sent), 1, "one cancel line")
            # The child, running again, still serves.
            self.assertEqual(s.as_float32(ew.embed_one("again")),
                             s.expected(["again"])[0])
            self.assertEqual(ew.pid, pid)
        finally:
            ew.close()


class ChildDeath(unittest.TestCase):
    def test_sigkill_mid_flight_fails_fast_then_restarts(self):
        with s.quiet(), client(timeout=60, jobs=4) as ew:
            pid = ew.pid
            api.reset()
            errors = []

            def call(i):
                start = time.monotonic()
                try:
                    ew.embed(f"k{i} @fault:hang")
                except embedwatch.EmbedwatchError as e:
                    errors.append((e, time.monotonic() - start))
            threads = [threading.Thread(target=call, args=(i,))
                       for i in range(6)]
            for t in threads:
                t.start()
            s.wait_until(hung_calls_at_fake(4), 10 * s.SLACK,
                         "four hung calls")
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            for t in threads:
                t.join(10 * s.SLACK)
            failed_within = time.monotonic() - killed
            self.assertEqual(len(errors), 6)
            for e, _ in errors:
                self.assertIs(type(e), embedwatch.ChildDied)
                self.assertIn("SIGKILL", e.message)
                self.assertTrue(e.retryable)
            self.assertLess(failed_within, 2 * s.SLACK)
            self.assertFalse(s.alive(pid))
            self.assertEqual(s.as_float32(ew.embed_one("next")),
                             s.expected(["next"])[0])
            self.assertNotEqual(ew.pid, pid)

    def test_restart_intensity_limit(self):
        with s.quiet(), client(max_restarts=2, restart_window=60) as ew:
            for n in range(3):
                ew.embed("alive")
                pid = ew.pid
                os.kill(pid, signal.SIGKILL)
                s.wait_until(lambda: ew.pid is None, 10 * s.SLACK,
                             "the client to see the death")
            with self.assertRaises(embedwatch.RestartLimitExceeded) as cm:
                ew.embed("one restart too many")
            self.assertIn("SIGKILL", str(cm.exception))
            self.assertIsNone(ew.pid)
            with self.assertRaises(embedwatch.RestartLimitExceeded):
                ew.embed("and it stays given up")


class Close(unittest.TestCase):
    def test_close_leaves_no_child(self):
        ew = client()
        ew.embed("x")
        pid = ew.pid
        ew.close()
        self.assertFalse(s.alive(pid))
        self.assertNotIn(pid, s.children(os.getpid()))
        with self.assertRaises(embedwatch.ClientClosed):
            ew.embed("after close")
        ew.close()

    def test_close_with_a_hung_call(self):
        with s.quiet():
            ew = client(timeout=60, close_grace=0.5)
            ew.embed("x")
            pid = ew.pid
            api.reset()
            box = {}

            def call():
                try:
                    ew.embed("c @fault:hang")
                except embedwatch.EmbedwatchError as e:
                    box["error"] = e
            t = threading.Thread(target=call)
            t.start()
            s.wait_until(hung_calls_at_fake(1), 10 * s.SLACK, "a hung call")
            start = time.monotonic()
            ew.close()
            self.assertLess(time.monotonic() - start, 1.0 + 3 * s.SLACK)
            t.join(5 * s.SLACK)
            self.assertIsInstance(box.get("error"),
                                  (embedwatch.ShuttingDown,
                                   embedwatch.ClientClosed))
            self.assertFalse(s.alive(pid))
            s.wait_until(lambda: api.open_calls() == 0, 10 * s.SLACK,
                         "the hung worker to die with its supervisor")

    def test_close_lets_calls_in_flight_finish(self):
        ew = client()
        ew.embed("x")
        api.reset()
        box = {}
        t = threading.Thread(target=lambda: box.setdefault(
            "v", ew.embed_one("slow @fault:slow:500")))
        t.start()
        s.wait_until(lambda: api.stats()["faults"].get("slow", 0) >= 1,
                     10 * s.SLACK, "the slow call at the fake")
        ew.close()
        t.join(5 * s.SLACK)
        self.assertEqual(s.as_float32(box["v"]),
                         s.expected(["slow @fault:slow:500"])[0])


if __name__ == "__main__":
    unittest.main()
