"""The socket transport against the real `embedwatch serve --socket`:
round trips (sync and async), cancellation over the socket, connection
loss and reconnection, the restart limit, close."""
import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import support as s
import embedwatch

api = None


def serve_available():
    p = subprocess.run([s.EMBEDWATCH, "--help"], capture_output=True,
                       text=True)
    return "serve" in p.stdout + p.stderr


def setUpModule():
    global api
    if not serve_available():
        raise unittest.SkipTest("this embedwatch has no serve mode")
    api = s.FakeAPI().__enter__()


def tearDownModule():
    if api is not None:
        api.__exit__(None, None, None)


class Serve:
    """A running `embedwatch serve --socket PATH` against the fake API."""

    def __init__(self, path, *args):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("EMBEDWATCH_", "OPENAI_"))}
        self.path = path
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [s.EMBEDWATCH, "serve", "--socket", path, "--base-url",
             api.base_url, *args], stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=self.log, env=env)
        self.pid = self.proc.pid
        s.wait_until(self.connectable, 10 * s.SLACK, "serve to listen")

    def connectable(self):
        import socket
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited {self.proc.returncode}: "
                                 f"{self.output()}")
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(self.path)
                return True
            except OSError:
                return False

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10 * s.SLACK)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class SocketTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ew-sock-")
        self.path = os.path.join(self.dir, "embedwatch.sock")
        self.serve = Serve(self.path, "--timeout", "60")

    def tearDown(self):
        self.serve.stop()
        shutil.rmtree(self.dir)

    def client(self, **kw):
        kw.setdefault("answer_margin", 5.0 * s.SLACK)
        return embedwatch.Embedwatch(socket=self.path, **kw)

    def test_round_trip_and_threads(self):
        texts = [f"socket text {i}" for i in range(100)]
        with self.client() as ew:
            self.assertIsNone(ew.pid)
            self.assertEqual([s.as_float32(v) for v in ew.embed(texts[:3])],
                             s.expected(texts[:3]))
            results = [None] * len(texts)

            def work(i):
                results[i] = ew.embed_one(texts[i])
            threads = [threading.Thread(target=work, args=(i,))
                       for i in range(len(texts))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30 * s.SLACK)
            self.assertEqual([s.as_float32(v) for v in results],
                             s.expected(texts))
            resp = ew.embeddings.create(model="m", input=["a b"])
            self.assertEqual((resp.model, resp.usage.total_tokens), ("m", 2))
            with self.assertRaises(embedwatch.HTTPError) as cm:
                ew.embed("x @fault:401")
            self.assertEqual(cm.exception.status, 401)

    def test_connection_lost_then_reconnect(self):
        with s.quiet(), self.client() as ew:
            ew.embed("x")
            box = {}

            def call():
                try:
                    ew.embed("lost @fault:hang")
                except embedwatch.EmbedwatchError as e:
                    box["error"] = e
            t = threading.Thread(target=call)
            t.start()
            s.wait_until(lambda: len(s.children(self.serve.pid)) == 1,
                         10 * s.SLACK, "the hung call's worker")
            self.serve.kill()
            t.join(5 * s.SLACK)
            self.assertIs(type(box.get("error")), embedwatch.ConnectionLost)
            with self.assertRaises(embedwatch.TransportError) as cm:
                ew.embed("nobody listening")
            self.assertIn(self.path, str(cm.exception))
            self.serve.stop()
            self.serve = Serve(self.path, "--timeout", "60")
            self.assertEqual(s.as_float32(ew.embed_one("back")),
                             s.expected(["back"])[0])

    def test_restart_limit(self):
        with s.quiet():
            ew = self.client(max_restarts=1, restart_window=60)
            ew.embed("x")
            self.serve.kill()
            # ConnectionLost if the call beats the reader to the EOF, then
            # one reconnect (refused), then no more.
            failures = []
            while len(failures) < 5:
                try:
                    ew.embed("nobody there")
                except embedwatch.RestartLimitExceeded:
                    break
                except embedwatch.TransportError as e:
                    failures.append(e)
            self.assertIn(len(failures), (1, 2), failures)
            self.assertIn("refused", failures[-1].message)
            with self.assertRaises(embedwatch.RestartLimitExceeded):
                ew.embed("and it stays given up")
            ew.close()

    def test_close_half_closes_and_finishes(self):
        ew = self.client()
        box = {}
        t = threading.Thread(target=lambda: box.setdefault(
            "v", ew.embed_one("slow @fault:slow:300")))
        t.start()
        s.wait_until(lambda: len(s.children(self.serve.pid)) == 1,
                     10 * s.SLACK, "the slow call's worker")
        ew.close()
        t.join(5 * s.SLACK)
        self.assertEqual(s.as_float32(box["v"]),
                         s.expected(["slow @fault:slow:300"])[0])
        with self.assertRaises(embedwatch.ClientClosed):
            ew.embed("after")
        self.assertIsNone(self.serve.proc.poll(), "serve still runs")

    def test_no_socket(self):
        ew = embedwatch.Embedwatch(socket=os.path.join(self.dir, "none"))
        with self.assertRaises(embedwatch.TransportError) as cm:
            ew.embed("x")
        self.assertIn("none", str(cm.exception))
        ew.close()


class AsyncSocketTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ew-sock-")
        self.path = os.path.join(self.dir, "embedwatch.sock")
        self.serve = Serve(self.path, "--timeout", "60")

    def tearDown(self):
        self.serve.stop()
        shutil.rmtree(self.dir)

    def client(self, **kw):
        kw.setdefault("answer_margin", 5.0 * s.SLACK)
        return embedwatch.AsyncEmbedwatch(socket=self.path, **kw)

    async def test_round_trip_and_concurrency(self):
        texts = [f"async socket {i}" for i in range(200)]
        async with self.client() as ew:
            got = await asyncio.gather(*(ew.embed_one(t) for t in texts))
            self.assertEqual([s.as_float32(v) for v in got],
                             s.expected(texts))
            resp = await ew.embeddings.create(model="m", input="a b c")
            self.assertEqual(resp.usage.prompt_tokens, 3)

    async def test_cancel_over_the_socket_kills_the_worker(self):
        async with self.client() as ew:
            await ew.embed("warm up")
            task = asyncio.create_task(ew.embed("c @fault:hang"))
            await s.async_wait_until(
                lambda: len(s.children(self.serve.pid)) == 1, 10 * s.SLACK,
                "the hung call's worker")
            start = time.monotonic()
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            await s.async_wait_until(
                lambda: s.children(self.serve.pid) == [], 2 * s.SLACK,
                "the cancelled call's worker to be killed")
            self.assertLess(time.monotonic() - start, 2 * s.SLACK)
            self.assertEqual(s.as_float32(await ew.embed_one("after")),
                             s.expected(["after"])[0])

    async def test_connection_lost_then_reconnect(self):
        with s.quiet():
            async with self.client() as ew:
                await ew.embed("x")
                tasks = [asyncio.create_task(ew.embed(f"l{i} @fault:hang"))
                         for i in range(3)]
                await s.async_wait_until(
                    lambda: len(s.children(self.serve.pid)) == 3,
                    10 * s.SLACK, "three hung calls")
                self.serve.kill()
                results = await asyncio.wait_for(
                    asyncio.gather(*tasks, return_exceptions=True),
                    5 * s.SLACK)
                for r in results:
                    self.assertIs(type(r), embedwatch.ConnectionLost, r)
                self.serve.stop()
                self.serve = Serve(self.path, "--timeout", "60")
                self.assertEqual(s.as_float32(await ew.embed_one("back")),
                                 s.expected(["back"])[0])


if __name__ == "__main__":
    unittest.main()
