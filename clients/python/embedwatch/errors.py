"""Exceptions raised by the embedwatch clients.

Every failure a call can meet is an EmbedwatchError. Those that embedwatch
reports in an answer map one to one onto the protocol's error codes; the
others (TransportError and its subclasses, ClientClosed) are raised by the
client itself when it cannot get an answer at all. Every error carries:

    code       the protocol code ("timeout", "http", ...) or the client's
               own ("transport", "child_died", "closed", ...)
    message    what went wrong, in embedwatch's words or the client's
    attempts   API attempts embedwatch made; None when the client never
               got an answer and so cannot know
    retryable  whether the same call may succeed if made again
    status     the HTTP status for "http" and "rate_limited", else None
    ms         milliseconds embedwatch spent on the request, or None

The OpenAI SDK's classes are here too, with its names and hierarchy
(openai-python's src/openai/_exceptions.py), and every error is one of
them, so `except openai.X` code ports by changing the import:

    OpenAIError
      APIError                     every EmbedwatchError
        APIStatusError             HTTPError, RateLimited (status_code,
                                   body, request_id, response.headers)
          BadRequestError 400, AuthenticationError 401,
          PermissionDeniedError 403, NotFoundError 404, ConflictError 409,
          UnprocessableEntityError 422, RateLimitError 429 (= RateLimited),
          InternalServerError >= 500
        APIConnectionError         NetworkError, WorkerCrashed,
                                   ShuttingDown, TransportError and its
                                   subclasses
          APITimeoutError          EmbedwatchTimeout
        APIResponseValidationError BadResponse

An HTTP error's class follows its status (a 401 is an AuthenticationError
and an HTTPError). embedwatch reports the API's status and message, not
its headers: request_id is None and response.headers empty.
"""

__all__ = [
    "EmbedwatchError", "InvalidRequest", "EmbedwatchTimeout", "NetworkError",
    "HTTPError", "RateLimited", "BadResponse", "WorkerCrashed",
    "ShuttingDown", "Cancelled", "TransportError", "ChildDied",
    "ConnectionLost", "RestartLimitExceeded", "ClientClosed",
    "error_from_answer",
    # The OpenAI SDK's names.
    "OpenAIError", "APIError", "APIStatusError", "APIConnectionError",
    "APITimeoutError", "APIResponseValidationError", "BadRequestError",
    "AuthenticationError", "PermissionDeniedError", "NotFoundError",
    "ConflictError", "UnprocessableEntityError", "RateLimitError",
    "InternalServerError",
]


class Response:
    """What an APIStatusError's .response offers without httpx: the
    status and the headers (embedwatch does not pass the API's on)."""

    def __init__(self, status_code, headers=None):
        self.status_code = status_code
        self.headers = dict(headers or {})
        self.request = None

    def __repr__(self):
        return f"<Response [{self.status_code}]>"


# The OpenAI SDK's classes. Their attributes are set by EmbedwatchError,
# the base of every error raised here.

class OpenAIError(Exception):
    """The OpenAI SDK's base class."""


class APIError(OpenAIError):
    """The SDK's base of API errors: message, request, body, code, param,
    type."""
    request = None
    body = None
    param = None
    type = None


class APIStatusError(APIError):
    """An error status from the API: status_code, response, request_id."""
    status_code = None
    response = None
    request_id = None


class APIConnectionError(APIError):
    """No answer from the API: it could not be reached or did not answer."""


class APITimeoutError(APIConnectionError):
    """The call timed out."""


class APIResponseValidationError(APIError):
    """The API's answer was not a valid one."""
    status_code = None
    response = None


class EmbedwatchError(APIError):
    """Base class of everything the clients raise for a failed call."""

    code = "error"
    default_retryable = False

    def __init__(self, message, *, code=None, attempts=None, retryable=None,
                 status=None, ms=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.attempts = attempts
        self.retryable = (self.default_retryable if retryable is None
                          else bool(retryable))
        self.status = status
        self.ms = ms
        # The SDK's view: the error object as the API would give it.
        self.body = {"code": self.code, "message": message}
        if isinstance(self, (APIStatusError, APIResponseValidationError)):
            self.status_code = status
            self.response = Response(status) if status is not None else None

    def __str__(self):
        parts = [f"{self.code}: {self.message}"]
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.attempts is not None:
            parts.append(f"{self.attempts} attempt"
                         f"{'' if self.attempts == 1 else 's'}")
        if len(parts) == 1:
            return parts[0]
        return f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self):
        return (f"{type(self).__name__}(code={self.code!r}, "
                f"message={self.message!r}, attempts={self.attempts!r}, "
                f"retryable={self.retryable!r}, status={self.status!r})")

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.code,
                           self.attempts, self.retryable, self.status,
                           self.ms))


def _rebuild(cls, message, code, attempts, retryable, status, ms):
    return cls(message, code=code, attempts=attempts, retryable=retryable,
               status=status, ms=ms)


# Errors embedwatch reports in an answer, one class per protocol code.

class InvalidRequest(EmbedwatchError):
    """The request was refused before any API call (empty input, ...)."""
    code = "invalid_request"


class EmbedwatchTimeout(EmbedwatchError, APITimeoutError):
    """No answer in time: embedwatch killed the attempt at its timeout or
    the request at its deadline, or the client itself gave up waiting
    (then attempts is None and the request was cancelled)."""
    code = "timeout"
    default_retryable = True


class NetworkError(EmbedwatchError, APIConnectionError):
    """The API could not be reached or dropped the connection."""
    code = "network"
    default_retryable = True


class HTTPError(EmbedwatchError, APIStatusError):
    """The API answered with an HTTP error status (in .status and
    .status_code); raised as the subclass for that status below."""
    code = "http"


class BadRequestError(HTTPError):
    """HTTP 400."""


class AuthenticationError(HTTPError):
    """HTTP 401."""


class PermissionDeniedError(HTTPError):
    """HTTP 403."""


class NotFoundError(HTTPError):
    """HTTP 404."""


class ConflictError(HTTPError):
    """HTTP 409."""


class UnprocessableEntityError(HTTPError):
    """HTTP 422."""


class InternalServerError(HTTPError):
    """HTTP 500 and above."""


_HTTP_BY_STATUS = {400: BadRequestError, 401: AuthenticationError,
                   403: PermissionDeniedError, 404: NotFoundError,
                   409: ConflictError, 422: UnprocessableEntityError}


class RateLimited(EmbedwatchError, APIStatusError):
    """The API answered 429 (rate limit or quota; .status is 429)."""
    code = "rate_limited"
    default_retryable = True


RateLimitError = RateLimited


class BadResponse(EmbedwatchError, APIResponseValidationError):
    """The API answered 200 with a body that is not a valid answer."""
    code = "bad_response"


class WorkerCrashed(EmbedwatchError, APIConnectionError):
    """The worker process died without writing a result."""
    code = "worker_crashed"
    default_retryable = True


class ShuttingDown(EmbedwatchError, APIConnectionError):
    """embedwatch was stopping (SIGTERM) and did not finish the call."""
    code = "shutting_down"
    default_retryable = True


class Cancelled(EmbedwatchError):
    """The request was cancelled with {"op": "cancel"} before it ended."""
    code = "cancelled"


# Errors of the client itself: no answer could be had.

class TransportError(EmbedwatchError, APIConnectionError):
    """The client could not talk to embedwatch (cannot start the child,
    cannot connect to the socket, protocol violation)."""
    code = "transport"


class ChildDied(TransportError):
    """The embedwatch child process exited or was killed while calls were
    in flight. The next call starts a fresh child."""
    code = "child_died"
    default_retryable = True


class ConnectionLost(TransportError):
    """The embedwatch socket connection closed while calls were in flight.
    The next call connects again."""
    code = "connection_lost"
    default_retryable = True


class RestartLimitExceeded(TransportError):
    """embedwatch died or disconnected too often (more than max_restarts
    restarts within restart_window seconds). The client stops trying: every
    later call raises this error; make a new client to try again."""
    code = "restart_limit"


class ClientClosed(EmbedwatchError):
    """The client was closed before or while the call was made."""
    code = "closed"


_BY_CODE = {cls.code: cls for cls in (
    InvalidRequest, EmbedwatchTimeout, NetworkError, HTTPError, RateLimited,
    BadResponse, WorkerCrashed, ShuttingDown, Cancelled)}


def error_from_answer(answer):
    """The exception for an error answer (a decoded protocol line with
    "ok": false). An unknown code gives a plain EmbedwatchError carrying
    that code, so a newer embedwatch never breaks an older client."""
    err = answer.get("error")
    if not isinstance(err, dict):
        err = {}
    code = err.get("code")
    if not isinstance(code, str):
        code = "error"
    message = err.get("message")
    if not isinstance(message, str):
        message = "embedwatch gave no message"
    status = err.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        status = None
    retryable = err.get("retryable")
    if not isinstance(retryable, bool):
        retryable = None
    attempts = answer.get("attempts")
    if not isinstance(attempts, int) or isinstance(attempts, bool):
        attempts = None
    ms = answer.get("ms")
    if not isinstance(ms, int) or isinstance(ms, bool):
        ms = None
    cls = _BY_CODE.get(code, EmbedwatchError)
    if cls is HTTPError and status is not None:
        cls = _HTTP_BY_STATUS.get(status, InternalServerError
                                  if status >= 500 else HTTPError)
    return cls(message, code=code, attempts=attempts, retryable=retryable,
               status=status, ms=ms)
