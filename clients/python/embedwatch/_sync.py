"""Embedwatch: the synchronous, thread-safe client.

Any number of threads call embed() at once; their requests go to one
embedwatch (a child process or a socket connection, a "link") with
integer ids, and one reader thread per link hands each answer line to the
thread waiting for that id. Writes go through one writer thread, so a
caller never blocks on a full pipe and its own timeout always holds.

A link that dies (child exits or is killed, socket closes) fails every call
in flight at once with ChildDied or ConnectionLost; the next call opens a
new link, at most max_restarts times within restart_window seconds, after
which the client raises RestartLimitExceeded for good.

Invariants: a call is in exactly one link's pending table until its answer
arrives, its caller abandons it, or the link dies, and whoever removes it
(under the link's lock) is the only one to complete it. Once a link's
`dead` is set no call enters its table.
"""
import itertools
import queue
import socket
import subprocess
import threading
import weakref

from . import _protocol as proto
from ._config import (STDERR_TO_LOG, ChildStderr, Options, RestartIntensity,
                      describe_exit, log)
from .errors import (ChildDied, ClientClosed, ConnectionLost,
                     EmbedwatchTimeout, RestartLimitExceeded, TransportError)
from .types import RawResponse, facade_response

_CLOSE_INPUT = object()		# writer queue: close our end after this
_EXIT_WAIT = 5.0		# after EOF, how long a child gets to exit


class _Call:
    """One request waiting for its answer."""

    __slots__ = ("id", "done", "answer", "error")

    def __init__(self, call_id):
        self.id = call_id
        self.done = threading.Event()
        self.answer = None
        self.error = None


class _Link:
    """One embedwatch connection: pending table, reader and writer threads.
    Subclasses supply the byte streams."""

    what = "embedwatch"

    def __init__(self, opts):
        self.opts = opts
        self._lock = threading.Lock()	# pending, dead, closing
        self._pending = {}
        self._dead = None		# (error class, message) once dead
        self._closing = False
        self._outq = queue.SimpleQueue()
        self._reader = None
        self._writer = None

    # Subclass hooks.
    def _open(self):
        """Start the child or connect; raises TransportError."""
        raise NotImplementedError

    def _write(self, data):
        raise NotImplementedError

    def _close_output(self):
        """Half-close: embedwatch sees EOF and finishes what it has."""
        raise NotImplementedError

    def _readline(self):
        raise NotImplementedError

    def _after_eof(self):
        """Called by the reader at EOF; returns (error class, message)
        for calls still pending, having released what the link holds."""
        raise NotImplementedError

    def _stop(self, grace):
        """After _close_output: make the other end finish within about
        2 * grace, then release everything."""
        raise NotImplementedError

    def start(self):
        self._open()
        self._reader = threading.Thread(
            target=self._read_loop, name=f"{self.what}-reader", daemon=True)
        self._writer = threading.Thread(
            target=self._write_loop, name=f"{self.what}-writer", daemon=True)
        self._reader.start()
        self._writer.start()

    def usable(self):
        with self._lock:
            return self._dead is None and not self._closing

    def death(self):
        """The message of the error the link died with, or None."""
        with self._lock:
            return self._dead[1] if self._dead is not None else None

    def submit(self, call, line):
        """Register the call and queue its line; raises the link's death
        error if it is already dead."""
        with self._lock:
            if self._dead is not None:
                cls, message = self._dead
                raise cls(message)
            if self._closing:
                raise ClientClosed("the client is closed")
            self._pending[call.id] = call
        self._outq.put(line)

    def abandon(self, call):
        """The caller stops waiting. Returns True if the call was still
        pending (it is then cancelled in embedwatch), False if its answer
        or failure already came."""
        with self._lock:
            if self._pending.pop(call.id, None) is None:
                return False
            alive = self._dead is None
        if alive:
            self._outq.put(proto.encode_cancel(call.id))
        return True

    def _read_loop(self):
        try:
            while True:
                line = self._readline()
                if not line:
                    break
                self._dispatch(line)
        except (OSError, ValueError) as e:
            # ValueError: the stream was closed under us by _stop.
            log.debug("%s: reading answers stopped: %s", self.what, e)
        except Exception:
            log.exception("%s: reader failed", self.what)
        finally:
            try:
                cls, message = self._after_eof()
            except Exception as e:
                log.exception("%s: cleanup failed", self.what)
                cls, message = TransportError, f"{self.what} failed: {e}"
            with self._lock:
                if self._closing:
                    cls, message = ClientClosed, "the client was closed"
                self._dead = (cls, message)
                pending, self._pending = self._pending, {}
            self._outq.put(_CLOSE_INPUT)	# end the writer
            if pending:
                log.warning("%s; %d call%s in flight failed", message,
                            len(pending), "" if len(pending) == 1 else "s")
            for call in pending.values():
                call.error = cls(message)
                call.done.set()

    def _dispatch(self, line):
        try:
            call_id, answer = proto.decode_answer(line)
            with self._lock:
                call = self._pending.pop(call_id, None)
        except (ValueError, TypeError) as e:
            log.error("%s sent a line that is not an answer (%s): %.200r",
                      self.what, e, line)
            return
        if call is None:
            err = answer.get("error")
            log.debug("answer for request %r, no longer awaited: %s",
                      call_id, err.get("code") if isinstance(err, dict)
                      else "ok")
            return
        call.answer = answer
        call.done.set()

    def _write_loop(self):
        try:
            while True:
                data = self._outq.get()
                if data is _CLOSE_INPUT:
                    break
                self._write(data)
        except (OSError, ValueError) as e:
            # The other end is gone; the reader sees EOF and fails the
            # pending calls.
            log.debug("%s: writing stopped: %s", self.what, e)
        finally:
            try:
                self._close_output()
            except (OSError, ValueError):
                pass

    def close(self, grace):
        """Stop: let embedwatch finish the calls in flight for up to about
        grace seconds, then make it stop; fails what is left with
        ClientClosed. Idempotent."""
        with self._lock:
            self._closing = True
        self._outq.put(_CLOSE_INPUT)
        self._stop(grace)
        for t in (self._reader, self._writer):
            if t is not None and t is not threading.current_thread():
                t.join(_EXIT_WAIT)

    def close_nowait(self):
        """For the finalizer: ask embedwatch to finish, wait for nothing."""
        with self._lock:
            self._closing = True
        self._outq.put(_CLOSE_INPUT)


class _ChildLink(_Link):
    """`embedwatch pipe` as our child: requests on its stdin, answers on
    its stdout, its stderr to the log."""

    def _open(self):
        argv = self.opts.argv()
        to_log = self.opts.stderr is STDERR_TO_LOG
        try:
            # Its own session: a terminal's ^C is for the host, which then
            # closes the client; embedwatch never sees it.
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if to_log else self.opts.stderr,
                env=self.opts.child_env(), start_new_session=True)
        except OSError as e:
            raise TransportError(f"cannot start embedwatch '{argv[0]}': "
                                 f"{e.strerror or e}") from None
        self.what = f"embedwatch (pid {self.proc.pid})"
        self.stderr = ChildStderr(self.proc.pid)
        self._stderr_thread = None
        if to_log:
            self._stderr_thread = threading.Thread(
                target=self._stderr_loop, name="embedwatch-stderr",
                daemon=True)
            self._stderr_thread.start()
        log.debug("started %s: %s", self.what, " ".join(argv))

    def _stderr_loop(self):
        try:
            for raw in self.proc.stderr:
                self.stderr.line(raw)
        except (OSError, ValueError):
            pass
        finally:
            self.proc.stderr.close()

    def _write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _close_output(self):
        self.proc.stdin.close()

    def _readline(self):
        return self.proc.stdout.readline()

    def _after_eof(self):
        try:
            rc = self.proc.wait(_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            log.error("%s closed its stdout but did not exit; killing it",
                      self.what)
            self.proc.kill()
            rc = self.proc.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(1.0)
        self.proc.stdout.close()
        message = f"{self.what} {describe_exit(rc)}"
        last = self.stderr.last_error()
        if last:
            message += f"; it said: {last}"
        return ChildDied, message

    def _stop(self, grace):
        for step in ("wait", "terminate", "kill"):
            if step == "terminate":
                log.warning("%s still running %g s after its input "
                            "closed; sending SIGTERM", self.what, grace)
                self.proc.terminate()
            elif step == "kill":
                log.error("%s ignored SIGTERM; killing it", self.what)
                self.proc.kill()
            try:
                self.proc.wait(grace if step != "kill" else None)
                break
            except subprocess.TimeoutExpired:
                continue


class _SocketLink(_Link):
    """A connection to `embedwatch serve --socket PATH`."""

    def _open(self):
        path = self.opts.socket
        self.what = f"embedwatch socket '{path}'"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as e:
            self.sock.close()
            raise TransportError(f"cannot connect to {self.what}: "
                                 f"{e.strerror or e}") from None
        self.rfile = self.sock.makefile("rb")

    def _write(self, data):
        self.sock.sendall(data)

    def _close_output(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _readline(self):
        return self.rfile.readline()

    def _after_eof(self):
        self.rfile.close()
        self.sock.close()
        return ConnectionLost, f"{self.what} closed the connection"

    def _stop(self, grace):
        if self._reader is not None:
            self._reader.join(grace)
            if self._reader.is_alive():
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _close_quietly(holder):
    link = holder[0]
    if link is not None:
        link.close_nowait()


class Embedwatch:
    """A synchronous, thread-safe embedwatch client.

    By default it starts `embedwatch pipe` as a child process on first use
    (binary: binary=, else $EMBEDWATCH_BIN, else `embedwatch` on PATH);
    with socket= it connects to a running `embedwatch serve --socket` instead.

    Options given here apply to every call: base_url, model, timeout (per
    API attempt, seconds), deadline (whole call, seconds, default 120),
    max_retries and jobs become the child's --base-url, --model, --timeout,
    --retries and --jobs; api_key goes to the child's environment (never its
    command line); args are more `embedwatch pipe` options; env is added to
    the child's environment. stderr: where the child's stderr goes (default:
    the "embedwatch.child" logger).

    A call waits for its answer at most its deadline plus answer_margin
    seconds; then it cancels the request and raises EmbedwatchTimeout.
    close() gives calls in flight close_grace seconds, then SIGTERM, then
    as long again, then SIGKILL.
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
        self._lock = threading.Lock()
        self._holder = [None]		# the current link
        self._started = False
        self._closed = False
        self._gave_up = None		# RestartLimitExceeded message
        self._intensity = RestartIntensity(max_restarts, restart_window)
        self._ids = itertools.count(1)
        self.embeddings = Embeddings(self)
        self._finalizer = weakref.finalize(self, _close_quietly,
                                           self._holder)

    def _link(self):
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed")
            if self._gave_up is not None:
                raise RestartLimitExceeded(self._gave_up)
            link = self._holder[0]
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
            link.start()
            self._holder[0] = link
            return link

    def embed_result(self, texts, *, model=None, dimensions=None,
                     timeout=None, deadline=None, user=None,
                     extra_body=None):
        """Embed texts (a str or a sequence of str) and return an
        EmbedResult: vectors in input order, model, usage, attempts, ms.
        user and extra_body (a dict of more members) go into the API's
        request body. Raises an EmbedwatchError subclass on failure."""
        texts = proto.normalize_texts(texts)
        deadline = self._opts.request_deadline(deadline)
        timeout = proto.check_seconds("timeout", timeout) or self._opts.timeout
        call = _Call(next(self._ids))
        line = proto.encode_request(
            call.id, texts, model=model or self._opts.model,
            dimensions=dimensions, timeout=timeout, deadline=deadline,
            max_line=self._opts.max_line, user=user, extra_body=extra_body)
        link = self._link()
        link.submit(call, line)
        wait = self._opts.wait_seconds(deadline)
        try:
            answered = call.done.wait(wait)
        except BaseException:
            link.abandon(call)		# KeyboardInterrupt and the like
            raise
        if not answered:
            if link.abandon(call):
                raise EmbedwatchTimeout(
                    f"no answer from embedwatch within {wait:g} s (deadline "
                    f"{deadline:g} s plus margin); request cancelled")
            call.done.wait()		# Race: its answer came meanwhile
        if call.error is not None:
            raise call.error
        return proto.result_from_answer(call.answer, len(texts))

    def embed(self, texts, *, model=None, dimensions=None, timeout=None,
              deadline=None):
        """Embed texts (a str or a sequence of str); returns one vector
        (list of float) per text, in input order."""
        return self.embed_result(texts, model=model, dimensions=dimensions,
                                 timeout=timeout,
                                 deadline=deadline).embeddings

    def embed_one(self, text, *, model=None, dimensions=None, timeout=None,
                  deadline=None):
        """Embed one text; returns its vector."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        return self.embed([text], model=model, dimensions=dimensions,
                          timeout=timeout, deadline=deadline)[0]

    def close(self):
        """Finish the calls in flight (within close_grace seconds, then
        SIGTERM, then SIGKILL), leave no child behind. Later calls raise
        ClientClosed. Idempotent."""
        with self._lock:
            self._closed = True
            link, self._holder[0] = self._holder[0], None
        if link is not None:
            link.close(self._opts.close_grace)
        self._finalizer.detach()

    @property
    def pid(self):
        """The pid of the live embedwatch child, or None (none started
        yet, it died, the client is closed, or a socket is used)."""
        link = self._holder[0]
        if link is None or not link.usable():
            return None
        proc = getattr(link, "proc", None)
        return proc.pid if proc is not None else None

    def __enter__(self):
        self._link()
        return self

    def __exit__(self, *exc):
        self.close()


class Embeddings:
    """client.embeddings: the OpenAI SDK's embeddings resource, served by
    embedwatch."""

    def __init__(self, client):
        self._client = client
        self.with_raw_response = _RawEmbeddings(self)

    def create(self, *, input, model=None, dimensions=None,
               encoding_format=None, user=None, extra_headers=None,
               extra_query=None, extra_body=None, timeout=None,
               deadline=None):
        """Like OpenAI's client.embeddings.create: returns an object with
        .data[i].embedding, .data[i].index, .model and .usage. user and
        extra_body reach the API's request body; timeout is per API
        attempt, in seconds; deadline bounds the whole call with its
        retries. extra_headers and extra_query cannot be sent per call
        (give headers to the client: args=["--header", "Name: value"]):
        a non-empty one raises ValueError."""
        return self._create(
            input=input, model=model, dimensions=dimensions,
            encoding_format=encoding_format, user=user,
            extra_headers=extra_headers, extra_query=extra_query,
            extra_body=extra_body, timeout=timeout, deadline=deadline)[0]

    def _create(self, *, input, model=None, dimensions=None,
                encoding_format=None, user=None, extra_headers=None,
                extra_query=None, extra_body=None, timeout=None,
                deadline=None):
        """(response, EmbedResult) for create's arguments."""
        _check_facade_args(encoding_format, extra_headers, extra_query)
        result = self._client.embed_result(
            input, model=model, dimensions=dimensions, timeout=timeout,
            deadline=deadline, user=user, extra_body=extra_body)
        return facade_response(result, encoding_format), result


class _RawEmbeddings:
    """client.embeddings.with_raw_response: create() returns a
    RawResponse; .parse() gives what create() would have."""

    def __init__(self, embeddings):
        self._embeddings = embeddings

    def create(self, **kwargs):
        return RawResponse(*self._embeddings._create(**kwargs))


def _check_facade_args(encoding_format, extra_headers, extra_query):
    if encoding_format not in (None, "float", "base64"):
        raise ValueError("encoding_format must be 'float' or 'base64'")
    if extra_headers:
        raise ValueError(
            "embedwatch sends the same headers on every call: give them to "
            "the client (args=['--header', 'Name: value']), or to "
            "'embedwatch serve' with --header; extra_headers cannot be sent "
            "per call")
    if extra_query:
        raise ValueError("embedwatch cannot add query parameters per call; "
                         "extra_query is not supported")
