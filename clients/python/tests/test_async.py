"""The asyncio client against the real embedwatch and the fake API: round
trips, 500 concurrent calls over one child, every error code, the
incident (a hung API must not stall the event loop), cancellation that
kills the worker, child death and restart, the restart limit, aclose."""
import asyncio
import logging
import os
import signal
import time
import unittest

import support as s
import embedwatch

api = None


def setUpModule():
    global api
    api = s.FakeAPI().__enter__()


def tearDownModule():
    api.__exit__(None, None, None)


def client(**kw):
    return embedwatch.AsyncEmbedwatch(**s.client_kwargs(api, **kw))


async def open_calls():
    """The fake's open connections, asked without blocking the loop."""
    return await asyncio.to_thread(api.open_calls)


async def wait_for_hung_calls(n):
    deadline = time.monotonic() + 10 * s.SLACK
    while await open_calls() < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{n} hung calls never reached the fake")
        await asyncio.sleep(0.02)


class Heartbeat:
    """A task ticking every 50 ms that records the longest gap between
    ticks: if anything blocks the loop, the gap shows it."""

    def __init__(self, period=0.05):
        self.period = period
        self.max_gap = 0.0
        self.ticks = 0

    async def run(self):
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.period)
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            self.ticks += 1
            last = now


class AsyncTest(unittest.IsolatedAsyncioTestCase):
    pass


class RoundTrip(AsyncTest):
    async def test_embed_and_embed_one(self):
        texts = ["hello", "two words", "ünïcödé ✓"]
        async with client() as ew:
            got = await ew.embed(texts)
            self.assertEqual([s.as_float32(v) for v in got],
                             s.expected(texts))
            one = await ew.embed_one("solo")
            self.assertEqual(s.as_float32(one), s.expected(["solo"])[0])
            r = await ew.embed_result("a b c", model="other-model")
            self.assertEqual((r.model, r.usage.total_tokens, r.attempts),
                             ("other-model", 3, 1))

    async def test_500_concurrent_calls_over_one_child(self):
        texts = [f"concurrent text {i}" for i in range(500)]
        async with client(jobs=8) as ew:
            pid = ew.pid
            beat = Heartbeat()
            hb = asyncio.create_task(beat.run())
            got = await asyncio.wait_for(
                asyncio.gather(*(ew.embed_one(t) for t in texts)),
                60 * s.SLACK)
            hb.cancel()
            self.assertEqual([s.as_float32(v) for v in got],
                             s.expected(texts))
            self.assertEqual(ew.pid, pid, "one child for all calls")
            self.assertEqual(s.children(os.getpid()).count(pid), 1)

    async def test_large_answers_do_not_stall_the_loop(self):
        texts = [f"large {i}" for i in range(48)]
        async with client() as ew:
            beat = Heartbeat()
            hb = asyncio.create_task(beat.run())
            got = await asyncio.gather(*(ew.embed(texts, dimensions=3072)
                                         for _ in range(4)))
            hb.cancel()
            want = s.expected(texts, 3072)
            for vectors in got:
                self.assertEqual([s.as_float32(v) for v in vectors], want)
            self.assertLess(beat.max_gap, 0.5)

    async def test_facade_shape(self):
        async with client() as ew:
            resp = await ew.embeddings.create(model="text-embedding-3-small",
                                              input=["first one", "second"])
            self.assertEqual(resp.object, "list")
            self.assertEqual(resp.model, "text-embedding-3-small")
            self.assertEqual([(d.index, d.object) for d in resp.data],
                             [(0, "embedding"), (1, "embedding")])
            self.assertEqual([s.as_float32(d.embedding) for d in resp.data],
                             s.expected(["first one", "second"]))
            self.assertEqual((resp.usage.prompt_tokens,
                              resp.usage.total_tokens), (3, 3))


class Errors(AsyncTest):
    async def test_every_code(self):
        cases = [
            ("t @fault:hang", {"timeout": 0.5}, embedwatch.EmbedwatchTimeout,
             None),
            ("q @fault:quota", {}, embedwatch.RateLimited, 429),
            # An HTTPError, as the SDK's class for its status.
            ("h @fault:401", {}, embedwatch.AuthenticationError, 401),
            ("b @fault:badjson", {}, embedwatch.BadResponse, None),
            ("n @fault:reset", {}, embedwatch.NetworkError, None),
            ("", {}, embedwatch.InvalidRequest, None),
        ]
        async with client(max_retries=0) as ew:
            results = await asyncio.gather(
                *(ew.embed([text], **kw) for text, kw, _, _ in cases),
                return_exceptions=True)
        for (text, _, cls, status), got in zip(cases, results):
            with self.subTest(text=text):
                self.assertIs(type(got), cls, got)
                if status is not None:
                    self.assertEqual(got.status, status)

    async def test_worker_crashed(self):
        async with client(max_retries=0, args=["--worker", "/bin/false"]) \
                as ew:
            with self.assertRaises(embedwatch.WorkerCrashed):
                await ew.embed("w")

    async def test_shutting_down(self):
        with s.quiet():
            async with client(timeout=30, args=["--drain", "0.2"]) as ew:
                pid = ew.pid
                await asyncio.to_thread(api.reset)
                task = asyncio.create_task(ew.embed("sd @fault:hang"))
                await wait_for_hung_calls(1)
                os.kill(pid, signal.SIGTERM)
                with self.assertRaises(embedwatch.ShuttingDown):
                    await asyncio.wait_for(task, 10 * s.SLACK)
                await s.async_wait_until(lambda: ew.pid is None,
                                         10 * s.SLACK, "the child to exit")
                self.assertEqual(s.as_float32(await ew.embed_one("after")),
                                 s.expected(["after"])[0])
                self.assertNotEqual(ew.pid, pid)


class Incident(AsyncTest):
    async def test_hung_api_does_not_stall_the_loop(self):
        """The incident: an asyncio app with a heartbeat calls embed on a
        hanging endpoint with timeout 2. The call fails with
        EmbedwatchTimeout by its deadline; the heartbeat never stops."""
        async with client() as ew:
            await ew.embed("warm up")
            beat = Heartbeat()
            hb = asyncio.create_task(beat.run())
            start = time.monotonic()
            with self.assertRaises(embedwatch.EmbedwatchTimeout) as cm:
                await ew.embed("incident @fault:hang", timeout=2, deadline=5)
            elapsed = time.monotonic() - start
            await asyncio.sleep(0.2)
            hb.cancel()
            self.assertGreaterEqual(cm.exception.attempts, 1)
            self.assertTrue(cm.exception.retryable)
            self.assertTrue(1.9 < elapsed < 5 + 3 * s.SLACK, elapsed)
            self.assertGreater(beat.ticks, elapsed / 0.05 / 2)
            self.assertLess(beat.max_gap, 0.5, "the event loop stalled")


class Cancellation(AsyncTest):
    async def test_cancelling_the_task_kills_the_worker(self):
        async with client(timeout=60) as ew:
            await ew.embed("warm up")
            pid = ew.pid
            await asyncio.to_thread(api.reset)
            with self.assertLogs("embedwatch", logging.DEBUG) as logs:
                task = asyncio.create_task(ew.embed("c @fault:hang"))
                await wait_for_hung_calls(1)
                self.assertEqual(len(s.children(pid)), 1, "one worker")
                start = time.monotonic()
                task.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await task
                await s.async_wait_until(
                    lambda: s.children(pid) == [], 2 * s.SLACK,
                    "the cancelled call's worker to be killed")
                killed_within = time.monotonic() - start
                await s.async_wait_until(
                    lambda: any("no longer awaited: cancelled" in line
                                for line in logs.output),
                    2 * s.SLACK, "embedwatch to answer 'cancelled'")
            self.assertLess(killed_within, 2 * s.SLACK)
            # The child lives on and serves.
            self.assertEqual(ew.pid, pid)
            self.assertEqual(s.as_float32(await ew.embed_one("after")),
                             s.expected(["after"])[0])

    async def test_wait_for_timeout_cancels_too(self):
        """asyncio.wait_for around a call is a task cancellation."""
        async with client(timeout=60) as ew:
            await ew.embed("warm up")
            pid = ew.pid
            start = time.monotonic()
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(ew.embed("w @fault:hang"), 0.5)
            self.assertLess(time.monotonic() - start, 0.5 + s.SLACK)
            await s.async_wait_until(lambda: s.children(pid) == [],
                                     2 * s.SLACK, "the worker to be killed")

    async def test_stuck_embedwatch(self):
        """If embedwatch itself stops answering, the call gives up at its
        deadline plus the margin and raises; the loop keeps running."""
        async with client(answer_margin=0.5) as ew:
            await ew.embed("warm up")
            pid = ew.pid
            beat = Heartbeat()
            hb = asyncio.create_task(beat.run())
            os.kill(pid, signal.SIGSTOP)
            try:
                start = time.monotonic()
                with self.assertRaises(embedwatch.EmbedwatchTimeout) as cm:
                    await ew.embed("never answered", deadline=1)
                elapsed = time.monotonic() - start
            finally:
                os.kill(pid, signal.SIGCONT)
            hb.cancel()
            self.assertIsNone(cm.exception.attempts)
            self.assertTrue(1.4 < elapsed < 1.5 + 2 * s.SLACK, elapsed)
            self.assertLess(beat.max_gap, 0.5)
            self.assertEqual(s.as_float32(await ew.embed_one("again")),
                             s.expected(["again"])[0])


class ChildDeath(AsyncTest):
    async def test_sigkill_mid_flight_fails_fast_then_restarts(self):
        with s.quiet():
            async with client(timeout=60, jobs=4) as ew:
                await ew.embed("warm up")
                pid = ew.pid
                await asyncio.to_thread(api.reset)
                tasks = [asyncio.create_task(ew.embed(f"k{i} @fault:hang"))
                         for i in range(6)]
                await wait_for_hung_calls(4)
                killed = time.monotonic()
                os.kill(pid, signal.SIGKILL)
                results = await asyncio.wait_for(
                    asyncio.gather(*tasks, return_exceptions=True),
                    10 * s.SLACK)
                self.assertLess(time.monotonic() - killed, 2 * s.SLACK)
                for r in results:
                    self.assertIs(type(r), embedwatch.ChildDied, r)
                    self.assertIn("SIGKILL", r.message)
                self.assertFalse(s.alive(pid))
                self.assertEqual(s.as_float32(await ew.embed_one("next")),
                                 s.expected(["next"])[0])
                self.assertNotEqual(ew.pid, pid)

    async def test_restart_intensity_limit(self):
        with s.quiet():
            async with client(max_restarts=2, restart_window=60) as ew:
                for _ in range(3):
                    await ew.embed("alive")
                    os.kill(ew.pid, signal.SIGKILL)
                    await s.async_wait_until(lambda: ew.pid is None,
                                             10 * s.SLACK, "the death")
                with self.assertRaises(embedwatch.RestartLimitExceeded):
                    await ew.embed("one restart too many")
                with self.assertRaises(embedwatch.RestartLimitExceeded):
                    await ew.embed("and it stays given up")


class Close(AsyncTest):
    async def test_aclose_leaves_no_child(self):
        ew = client()
        await ew.embed("x")
        pid = ew.pid
        await ew.aclose()
        self.assertFalse(s.alive(pid))
        with self.assertRaises(embedwatch.ClientClosed):
            await ew.embed("after close")
        await ew.aclose()

    async def test_aclose_with_a_hung_call(self):
        with s.quiet():
            ew = client(timeout=60, close_grace=0.5)
            await ew.embed("x")
            pid = ew.pid
            task = asyncio.create_task(ew.embed("c @fault:hang"))
            await wait_for_hung_calls(1)
            start = time.monotonic()
            await ew.aclose()
            self.assertLess(time.monotonic() - start, 1.0 + 3 * s.SLACK)
            with self.assertRaises((embedwatch.ShuttingDown,
                                    embedwatch.ClientClosed)):
                await task
            self.assertFalse(s.alive(pid))


if __name__ == "__main__":
    unittest.main()
