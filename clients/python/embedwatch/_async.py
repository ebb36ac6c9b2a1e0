"""AsyncEmbedwatch: the asyncio client.

Same protocol and the same rules as the synchronous client (_sync.py), on
the event loop: the child's pipes (or the socket) are asyncio streams, one
reader task per link resolves each call's future by id, and nothing ever
blocks the loop. Cancelling the task awaiting a call sends
{"op": "cancel", "id": N}, so embedwatch kills that call's worker at once.

One client belongs to one event loop.

Invariants: as in _sync.py, a call's future is in exactly one link's
pending table until it is resolved or abandoned; whoever pops it resolves
it. All of this runs on the loop thread, so no locks.
"""
import asyncio
import itertools

from . import _protocol as proto
from ._config import (STDERR_TO_LOG, ChildStderr, Options, RestartIntensity,
                      describe_exit, log)
from ._sync import _check_facade_args
from .errors import (ChildDied, ClientClosed, ConnectionLost,
                     EmbedwatchTimeout, RestartLimitExceeded, TransportError)
from .types import RawResponse, facade_response

# StreamReader's line limit: answers carry every vector of a request, so
# lines of many MiB are normal; this only guards against a runaway peer.
_LINE_LIMIT = 1 << 30
_EXIT_WAIT = 5.0
_YIELD_EVERY = 0.005		# seconds of decoding between yields
_DECODE_AT_ONCE = 128 * 1024	# longer answer lines are decoded in steps


class _Link:
    """One embedwatch connection on the loop. Subclasses open the streams
    and say how it ended."""

    what = "embedwatch"

    def __init__(self, opts):
        self.opts = opts
        self._pending = {}		# call id -> future of the answer
        self._dead = None		# (error class, message) once dead
        self._closing = False
        self.reader = None		# asyncio.StreamReader
        self.writer = None		# asyncio.StreamWriter
        self._reader_task = None

    async def _open(self):
        raise NotImplementedError

    async def _after_eof(self):
        """(error class, message) for the calls still pending."""
        raise NotImplementedError

    def _kill_now(self):
        """Release everything without awaiting (reader task cancelled)."""
        raise NotImplementedError

    async def _stop(self, grace):
        raise NotImplementedError

    async def start(self):
        await self._open()
        self._reader_task = asyncio.get_running_loop().create_task(
            self._read_loop(), name=f"{self.what} reader")

    def usable(self):
        return (self._dead is None and not self._closing and
                not self.writer.is_closing())

    def death(self):
        return self._dead[1] if self._dead is not None else None

    def register(self, call_id):
        if self._dead is not None:
            cls, message = self._dead
            raise cls(message)
        if self._closing:
            raise ClientClosed("the client is closed")
        fut = asyncio.get_running_loop().create_future()
        self._pending[call_id] = fut
        return fut

    async def send(self, line):
        """Queue the line (at once: the request counts as sent), then wait
        while the pipe is full. Raises the link's error if it broke."""
        if self.writer.is_closing():
            raise ChildDied(f"{self.what} is not accepting requests")
        self.writer.write(line)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as e:
            # The reader sees EOF and fails the others.
            raise (self._dead[0] if self._dead else TransportError)(
                f"cannot write to {self.what}: {e}") from None

    def abandon(self, call_id):
        """The caller stops waiting; if the call was pending, cancel it in
        embedwatch. Returns whether it was pending."""
        fut = self._pending.pop(call_id, None)
        if fut is None:
            return False
        fut.cancel()
        if self._dead is None and not self.writer.is_closing():
            # Tiny and not worth a drain: the next request's drain or the
            # transport's own buffer takes care of it.
            self.writer.write(proto.encode_cancel(call_id))
        return True

    async def _read_loop(self):
        loop = asyncio.get_running_loop()
        try:
            since_yield = loop.time()
            while True:
                # readline returns without suspending while lines are
                # buffered: yield now and then so a backlog of answers
                # cannot hold the loop.
                if loop.time() - since_yield > _YIELD_EVERY:
                    await asyncio.sleep(0)
                    since_yield = loop.time()
                line = await self.reader.readline()
                if not line:
                    break
                if len(line) <= _DECODE_AT_ONCE:
                    self._dispatch(line)
                    continue
                # json.loads takes about 20 ms per MB, so a large answer
                # is decoded a vector at a time with yields in between. A
                # worker thread would not help: one C call holds the GIL
                # throughout.
                steps = proto.decode_answer_in_steps(line)
                try:
                    while True:
                        next(steps)
                        if loop.time() - since_yield > _YIELD_EVERY:
                            await asyncio.sleep(0)
                            since_yield = loop.time()
                except StopIteration as done:
                    self._dispatch(line, done.value)
                except (ValueError, TypeError) as e:
                    self._dispatch(line, e)
        except asyncio.CancelledError:
            # The loop is being torn down without aclose().
            self._kill_now()
            self._fail_all(ClientClosed, "the event loop closed the client")
            raise
        except (OSError, ValueError) as e:
            # ValueError: a line longer than _LINE_LIMIT; the stream is
            # out of step, so this link is over.
            log.error("%s: reading answers failed: %s", self.what, e)
            self._kill_now()
        except Exception:
            log.exception("%s: reader failed", self.what)
        try:
            cls, message = await self._after_eof()
        except asyncio.CancelledError:
            self._kill_now()
            self._fail_all(ClientClosed, "the event loop closed the client")
            raise
        except Exception as e:
            log.exception("%s: cleanup failed", self.what)
            cls, message = TransportError, f"{self.what} failed: {e}"
        if self._closing:
            cls, message = ClientClosed, "the client was closed"
        self._fail_all(cls, message)

    def _fail_all(self, cls, message):
        if self._dead is None:
            self._dead = (cls, message)
        pending, self._pending = self._pending, {}
        if pending:
            log.warning("%s; %d call%s in flight failed", message,
                        len(pending), "" if len(pending) == 1 else "s")
        for fut in pending.values():
            if not fut.done():
                fut.set_result(cls(message))

    def _dispatch(self, line, decoded=None):
        """Resolve the call an answer line is for; decoded: the line
        already decoded, or the error decoding it raised."""
        try:
            if decoded is None:
                decoded = proto.decode_answer(line)
            elif isinstance(decoded, Exception):
                raise decoded
            call_id, answer = decoded
            fut = self._pending.pop(call_id, None)
        except (ValueError, TypeError) as e:
            log.error("%s sent a line that is not an answer (%s): %.200r",
                      self.what, e, line)
            return
        if fut is None or fut.done():
            err = answer.get("error")
            log.debug("answer for request %r, no longer awaited: %s",
                      call_id, err.get("code") if isinstance(err, dict)
                      else "ok")
            return
        fut.set_result(answer)

    async def aclose(self, grace):
        self._closing = True
        if not self.writer.is_closing():
            if self.writer.can_write_eof():
                self.writer.write_eof()
            else:
                self.writer.close()
        await self._stop(grace)
        task = self._reader_task
        if task is not None and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), _EXIT_WAIT)
            except asyncio.TimeoutError:
                log.error("%s: reader did not finish", self.what)
                task.cancel()
        self._fail_all(ClientClosed, "the client was closed")


class _ChildLink(_Link):
    """`embedwatch pipe` as our child, over asyncio subprocess pipes."""

    async def _open(self):
        argv = self.opts.argv()
        to_log = self.opts.stderr is STDERR_TO_LOG
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=(asyncio.subprocess.PIPE if to_log else
                        self.opts.stderr),
                env=self.opts.child_env(), start_new_session=True,
                limit=_LINE_LIMIT)
        except OSError as e:
            raise TransportError(f"cannot start embedwatch '{argv[0]}': "
                                 f"{e.strerror or e}") from None
        self.what = f"embedwatch (pid {self.proc.pid})"
        self.reader, self.writer = self.proc.stdout, self.proc.stdin
        self.stderr = ChildStderr(self.proc.pid)
        self._stderr_task = None
        if to_log:
            self._stderr_task = asyncio.get_running_loop().create_task(
                self._stderr_loop(), name=f"{self.what} stderr")
        log.debug("started %s: %s", self.what, " ".join(argv))

    async def _stderr_loop(self):
        try:
            while True:
                raw = await self.proc.stderr.readline()
                if not raw:
                    break
                self.stderr.line(raw)
        except (OSError, ValueError):
            pass

    async def _after_eof(self):
        try:
            rc = await asyncio.wait_for(self.proc.wait(), _EXIT_WAIT)
        except asyncio.TimeoutError:
            log.error("%s closed its stdout but did not exit; killing it",
                      self.what)
            self._signal("kill")
            rc = await self.proc.wait()
        if self._stderr_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._stderr_task),
                                       1.0)
            except asyncio.TimeoutError:
                pass
        message = f"{self.what} {describe_exit(rc)}"
        last = self.stderr.last_error()
        if last:
            message += f"; it said: {last}"
        return ChildDied, message

    def _signal(self, how):
        try:
            getattr(self.proc, how)()
        except ProcessLookupError:
            pass

    def _kill_now(self):
        if self.proc.returncode is None:
            self._signal("kill")

    async def _stop(self, grace):
        for step in ("wait", "terminate", "kill"):
            if step == "terminate":
                log.warning("%s still running %g s after its input "
                            "closed; sending SIGTERM", self.what, grace)
                self._signal("terminate")
            elif step == "kill":
                log.error("%s ignored SIGTERM; killing it", self.what)
                self._signal("kill")
                await self.proc.wait()
                return
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
                return
            except asyncio.TimeoutError:
                continue


class _SocketLink(_Link):
    """A connection to `embedwatch serve --socket PATH`."""

    async def _open(self):
        path = self.opts.socket
        self.what = f"embedwatch socket '{path}'"
        try:
            self.reader, self.writer = await asyncio.open_unix_connection(
                path, limit=_LINE_LIMIT)
        except OSError as e:
            raise TransportError(f"cannot connect to {self.what}: "
                                 f"{e.strerror or e}") from None

    async def _after_eof(self):
        self.writer.close()
        return ConnectionLost, f"{self.what} closed the connection"

    def _kill_now(self):
        self.writer.close()

    async def _stop(self, grace):
        try:
            await asyncio.wait_for(asyncio.shield(self._reader_task), grace)
        except asyncio.TimeoutError:
            self.writer.close()


class AsyncEmbedwatch:
    """The asyncio embedwatch client; options as for Embedwatch.

    The child is started (or the socket connected) on first use, inside
    the running loop. Use `async with AsyncEmbedwatch(...) as client:` or
    call `await client.close()` (or aclose()).
    """

    def __init__(self, *, binary=None, args=(), socket=None, api_key=None,
                 base_url=None, model=None, timeout=None, deadline=None,
                 max_retries=None, jobs=None, env=None, stderr=STDERR_TO_LOG,
                 max_restarts=5, restart_window=60.0, answer_margin=5.0,
                 close_grace=5.0, max_line=None):
        self._opts = Options(
            binary=binary, args=args, socket=socket, api_key=api_key,
            base_url=base_url, model=model, timeout=timeout,
            deadline=deadline, max_retries=max_retries, jobs=jobs, env=env,
            stderr=stderr, max_restarts=max_restarts,
            restart_window=restart_window, answer_margin=answer_margin,
            close_grace=close_grace, max_line=max_line)
        self._link_now = None
        self._start_lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._gave_up = None
        self._intensity = RestartIntensity(max_restarts, restart_window)
        self._ids = itertools.count(1)
        self.embeddings = AsyncEmbeddings(self)

    async def _link(self):
        link = self._link_now
        if (link is not None and link.usable() and not self._closed):
            return link
        async with self._start_lock:
            if self._closed:
                raise ClientClosed("the client is closed")
            if self._gave_up is not None:
                raise RestartLimitExceeded(self._gave_up)
            link = self._link_now
            if link is not None and link.usable():
                return link
            if self._started:
                last = link.death() if link is not None else None
                if not self._intensity.allow():
                    self._gave_up = self._intensity.refusal(last)
                    raise RestartLimitExceeded(self._gave_up)
                log.warning("starting a new embedwatch link (previous: %s)",
                            last or "failed to start")
            self._started = True
            if self._opts.socket is not None:
                link = _SocketLink(self._opts)
            else:
                link = _ChildLink(self._opts)
            await link.start()
            self._link_now = link
            return link

    async def embed_result(self, texts, *, model=None, dimensions=None,
                           timeout=None, deadline=None, user=None,
                           extra_body=None):
        """Embed texts (a str or a sequence of str) and return an
        EmbedResult. Raises an EmbedwatchError subclass on failure;
        cancelling the awaiting task cancels the request in embedwatch."""
        texts = proto.normalize_texts(texts)
        deadline = self._opts.request_deadline(deadline)
        timeout = proto.check_seconds("timeout", timeout) or self._opts.timeout
        call_id = next(self._ids)
        line = proto.encode_request(
            call_id, texts, model=model or self._opts.model,
            dimensions=dimensions, timeout=timeout, deadline=deadline,
            max_line=self._opts.max_line, user=user, extra_body=extra_body)
        link = await self._link()
        fut = link.register(call_id)
        wait = self._opts.wait_seconds(deadline)
        try:
            await link.send(line)
            answer = await asyncio.wait_for(fut, wait)
        except asyncio.TimeoutError:
            link.abandon(call_id)
            raise EmbedwatchTimeout(
                f"no answer from embedwatch within {wait:g} s (deadline "
                f"{deadline:g} s plus margin); request cancelled") from None
        except BaseException:
            link.abandon(call_id)	# task cancelled: cancel the request
            raise
        if isinstance(answer, BaseException):
            raise answer
        return proto.result_from_answer(answer, len(texts))

    async def embed(self, texts, *, model=None, dimensions=None,
                    timeout=None, deadline=None):
        """Embed texts; returns one vector (list of float) per text."""
        result = await self.embed_result(
            texts, model=model, dimensions=dimensions, timeout=timeout,
            deadline=deadline)
        return result.embeddings

    async def embed_one(self, text, *, model=None, dimensions=None,
                        timeout=None, deadline=None):
        """Embed one text; returns its vector."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        vectors = await self.embed([text], model=model,
                                   dimensions=dimensions, timeout=timeout,
                                   deadline=deadline)
        return vectors[0]

    async def aclose(self):
        """Finish the calls in flight (within close_grace seconds, then
        SIGTERM, then SIGKILL) and leave no child behind. Idempotent."""
        self._closed = True
        async with self._start_lock:
            link, self._link_now = self._link_now, None
        if link is not None:
            await link.aclose(self._opts.close_grace)

    async def close(self):
        """AsyncOpenAI's name for aclose()."""
        await self.aclose()

    @property
    def pid(self):
        """The pid of the live embedwatch child, or None (none started
        yet, it died, the client is closed, or a socket is used)."""
        link = self._link_now
        if link is None or not link.usable():
            return None
        proc = getattr(link, "proc", None)
        return proc.pid if proc is not None else None

    async def __aenter__(self):
        await self._link()
        return self

    async def __aexit__(self, *exc):
        await self.aclose()


class AsyncEmbeddings:
    """client.embeddings for AsyncEmbedwatch: `await create(...)`."""

    def __init__(self, client):
        self._client = client
        self.with_raw_response = _AsyncRawEmbeddings(self)

    async def create(self, *, input, model=None, dimensions=None,
                     encoding_format=None, user=None, extra_headers=None,
                     extra_query=None, extra_body=None, timeout=None,
                     deadline=None):
        """Like OpenAI's AsyncOpenAI().embeddings.create; the arguments as
        for Embeddings.create."""
        response, _ = await self._create(
            input=input, model=model, dimensions=dimensions,
            encoding_format=encoding_format, user=user,
            extra_headers=extra_headers, extra_query=extra_query,
            extra_body=extra_body, timeout=timeout, deadline=deadline)
        return response

    async def _create(self, *, input, model=None, dimensions=None,
                      encoding_format=None, user=None, extra_headers=None,
                      extra_query=None, extra_body=None, timeout=None,
                      deadline=None):
        _check_facade_args(encoding_format, extra_headers, extra_query)
        result = await self._client.embed_result(
            input, model=model, dimensions=dimensions, timeout=timeout,
            deadline=deadline, user=user, extra_body=extra_body)
        return facade_response(result, encoding_format), result


class _AsyncRawEmbeddings:
    """client.embeddings.with_raw_response for the async client."""

    def __init__(self, embeddings):
        self._embeddings = embeddings

    async def create(self, **kwargs):
        return RawResponse(*await self._embeddings._create(**kwargs))
