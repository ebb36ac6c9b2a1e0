"""embedwatch: embeddings for Python applications through embedwatch, the
supervisor that runs every API call in a worker process SIGKILLed at its
deadline, so no call can hang the application.

    import embedwatch

    with embedwatch.Embedwatch(model="text-embedding-3-small") as ew:
        vectors = ew.embed(["first text", "second text"])

    async with embedwatch.AsyncEmbedwatch() as ew:
        vector = await ew.embed_one("some text", timeout=2)

Both clients also offer the OpenAI SDK's shape,
`client.embeddings.create(model=..., input=...)`, and its exception
classes (`except embedwatch.RateLimitError`). Licence: MIT.
"""
from ._async import AsyncEmbeddings, AsyncEmbedwatch
from ._sync import Embeddings, Embedwatch
from .errors import (APIConnectionError, APIError,
                     APIResponseValidationError, APIStatusError,
                     APITimeoutError, AuthenticationError, BadRequestError,
                     BadResponse, Cancelled, ChildDied, ClientClosed,
                     ConflictError, ConnectionLost, EmbedwatchError,
                     EmbedwatchTimeout, HTTPError, InternalServerError,
                     InvalidRequest, NetworkError, NotFoundError,
                     OpenAIError, PermissionDeniedError, RateLimited,
                     RateLimitError, RestartLimitExceeded, ShuttingDown,
                     TransportError, UnprocessableEntityError,
                     WorkerCrashed, error_from_answer)
from .types import (CreateEmbeddingResponse, EmbedResult, Embedding,
                    RawResponse, Usage)

__version__ = "0.1.0"

__all__ = [
    "Embedwatch", "AsyncEmbedwatch", "Embeddings", "AsyncEmbeddings",
    "EmbedResult", "CreateEmbeddingResponse", "Embedding", "Usage",
    "EmbedwatchError", "InvalidRequest", "EmbedwatchTimeout", "NetworkError",
    "HTTPError", "RateLimited", "BadResponse", "WorkerCrashed",
    "ShuttingDown", "Cancelled", "TransportError", "ChildDied",
    "ConnectionLost", "RestartLimitExceeded", "ClientClosed",
    "error_from_answer", "RawResponse",
    # The OpenAI SDK's exception names (see errors.py).
    "OpenAIError", "APIError", "APIStatusError", "APIConnectionError",
    "APITimeoutError", "APIResponseValidationError", "BadRequestError",
    "AuthenticationError", "PermissionDeniedError", "NotFoundError",
    "ConflictError", "UnprocessableEntityError", "RateLimitError",
    "InternalServerError",
]
