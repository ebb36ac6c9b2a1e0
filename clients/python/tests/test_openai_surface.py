"""The OpenAI-shaped surface: the facade's public names against a list
taken from openai-python's documented API, and what those names do
against the real embedwatch and the fake API (user and extra_body reach
the API, model_dump_json, with_raw_response, await client.close()), plus
how the client finds the embedwatch binary.

The lists below come from openai-python (github.com/openai/openai-python):
the exception classes and their bases from src/openai/_exceptions.py
(commit 02cc689325386fb3e8b06d245707123a300f0f69), exported at the top
level as `openai.X`; the embeddings resource, its create() parameters and
its types from api.md, section "Embeddings" (commit 43a2f01aa9cc):
`client.embeddings.create(**params) -> CreateEmbeddingResponse`, types
CreateEmbeddingResponse and Embedding; the request options every method
takes (extra_headers, extra_query, extra_body, timeout) and
`.with_raw_response` from the README ("Accessing raw response data").
"""
import asyncio
import inspect
import json
import os
import shutil
import tempfile
import unittest

import support as s
import embedwatch
from embedwatch import _config

# name -> its direct base in openai-python's _exceptions.py.
OPENAI_EXCEPTIONS = {
    "OpenAIError": "Exception",
    "APIError": "OpenAIError",
    "APIStatusError": "APIError",
    "APIConnectionError": "APIError",
    "APITimeoutError": "APIConnectionError",
    "APIResponseValidationError": "APIError",
    "BadRequestError": "APIStatusError",
    "AuthenticationError": "APIStatusError",
    "PermissionDeniedError": "APIStatusError",
    "NotFoundError": "APIStatusError",
    "ConflictError": "APIStatusError",
    "UnprocessableEntityError": "APIStatusError",
    "RateLimitError": "APIStatusError",
    "InternalServerError": "APIStatusError",
}
# Attributes the SDK documents on them.
API_ERROR_ATTRS = ("message", "request", "body", "code", "param", "type")
STATUS_ERROR_ATTRS = ("status_code", "response", "request_id")
# openai.types names for embeddings.
OPENAI_TYPES = ("CreateEmbeddingResponse", "Embedding")
# embeddings.create's parameters (EmbeddingCreateParams and the request
# options).
CREATE_PARAMS = ("input", "model", "dimensions", "encoding_format", "user",
                 "extra_headers", "extra_query", "extra_body", "timeout")
# Methods of the SDK's response models (pydantic BaseModel, and the SDK's
# own to_dict/to_json).
MODEL_METHODS = ("model_dump", "model_dump_json", "to_dict", "to_json")
# Not provided on purpose: OAuthError (no OAuth), the chat-only and
# webhook/websocket errors, EmbeddingModel (a Literal of model names).

setUpModule = s.start_api
tearDownModule = s.stop_api


class Names(unittest.TestCase):
    def test_exceptions_and_hierarchy(self):
        for name, base in OPENAI_EXCEPTIONS.items():
            cls = getattr(embedwatch, name, None)
            self.assertTrue(inspect.isclass(cls), f"embedwatch.{name}")
            self.assertIn(name, embedwatch.__all__)
            want = Exception if base == "Exception" else getattr(embedwatch,
                                                                 base)
            self.assertTrue(issubclass(cls, want), f"{name} < {base}")
        # Today's classes stay, each one of the SDK's.
        for ours, theirs in (("EmbedwatchError", "APIError"),
                             ("HTTPError", "APIStatusError"),
                             ("RateLimited", "RateLimitError"),
                             ("EmbedwatchTimeout", "APITimeoutError"),
                             ("NetworkError", "APIConnectionError"),
                             ("TransportError", "APIConnectionError"),
                             ("WorkerCrashed", "APIConnectionError"),
                             ("BadResponse", "APIResponseValidationError")):
            self.assertTrue(issubclass(getattr(embedwatch, ours),
                                       getattr(embedwatch, theirs)),
                            f"{ours} < {theirs}")

    def test_error_attributes(self):
        for code, status, cls in (
                ("http", 400, "BadRequestError"),
                ("http", 401, "AuthenticationError"),
                ("http", 403, "PermissionDeniedError"),
                ("http", 404, "NotFoundError"),
                ("http", 409, "ConflictError"),
                ("http", 422, "UnprocessableEntityError"),
                ("http", 503, "InternalServerError"),
                ("rate_limited", 429, "RateLimitError")):
            e = embedwatch.error_from_answer({
                "ok": False, "attempts": 1,
                "error": {"code": code, "status": status, "message": "m"}})
            self.assertIsInstance(e, getattr(embedwatch, cls))
            self.assertIsInstance(e, embedwatch.EmbedwatchError)
            for attr in API_ERROR_ATTRS + STATUS_ERROR_ATTRS:
                self.assertTrue(hasattr(e, attr), f"{cls}.{attr}")
            self.assertEqual(e.status_code, status)
            self.assertEqual(e.response.status_code, status)
            self.assertEqual(e.message, "m")
        e = embedwatch.error_from_answer({"ok": False, "error": {
            "code": "timeout", "message": "t"}})
        self.assertIsInstance(e, embedwatch.APITimeoutError)

    def test_types_methods_and_params(self):
        for name in OPENAI_TYPES:
            cls = getattr(embedwatch, name)
            for method in MODEL_METHODS:
                self.assertTrue(callable(getattr(cls, method, None)),
                                f"{name}.{method}")
        for cls in (embedwatch.Embeddings, embedwatch.AsyncEmbeddings):
            params = inspect.signature(cls.create).parameters
            for p in CREATE_PARAMS:
                self.assertIn(p, params, f"{cls.__name__}.create({p}=)")
        self.assertTrue(callable(embedwatch.Embedwatch.close))
        self.assertTrue(inspect.iscoroutinefunction(
            embedwatch.AsyncEmbedwatch.close))


def kwargs(**kw):
    return s.client_kwargs(s.api, **kw)


class Behaviour(unittest.TestCase):
    def test_user_and_extra_body_reach_the_api(self):
        with embedwatch.Embedwatch(**kwargs()) as client:
            resp = client.embeddings.create(
                model="m", input=["x"], user="user-42",
                extra_body={"metadata": {"team": "search"}}, timeout=10,
                extra_headers={}, extra_query=None)
            self.assertEqual(len(resp.data), 1)
            body = s.api.stats()["last_body"]
            self.assertEqual(body["user"], "user-42")
            self.assertEqual(body["metadata"], {"team": "search"})
            for bad in ({"extra_headers": {"X-A": "1"}},
                        {"extra_query": {"q": "1"}}):
                with self.assertRaises(ValueError):
                    client.embeddings.create(input="x", **bad)
            with self.assertRaises(embedwatch.InvalidRequest):
                client.embeddings.create(input="x",
                                         extra_body={"model": "other"})

    def test_dumps_and_raw_response(self):
        with embedwatch.Embedwatch(**kwargs()) as client:
            resp = client.embeddings.create(input=["a", "b"])
            d = resp.model_dump()
            self.assertEqual(d["object"], "list")
            self.assertEqual([e["index"] for e in d["data"]], [0, 1])
            self.assertEqual(json.loads(resp.model_dump_json()), d)
            self.assertEqual(json.loads(resp.to_json()), d)
            self.assertIn("\n", resp.to_json())
            self.assertEqual(resp.to_dict(), d)
            self.assertEqual(json.loads(resp.usage.model_dump_json()),
                             d["usage"])
            raw = client.embeddings.with_raw_response.create(input="c")
            self.assertEqual(raw.status_code, 200)
            self.assertEqual(raw.headers["x-embedwatch-attempts"], "1")
            parsed = raw.parse()
            self.assertEqual(s.as_float32(parsed.data[0].embedding),
                             s.expected(["c"])[0])

    def test_async_close_and_raw(self):
        async def main():
            client = embedwatch.AsyncEmbedwatch(**kwargs())
            resp = await client.embeddings.create(input="x", user="u")
            self.assertEqual(s.api.stats()["last_body"]["user"], "u")
            raw = await client.embeddings.with_raw_response.create(
                input="y")
            self.assertEqual(len(raw.parse().data), 1)
            pid = client.pid
            await client.close()
            s.wait_until(lambda: not s.alive(pid), 10 * s.SLACK,
                         "the child to exit")
            with self.assertRaises(embedwatch.ClientClosed):
                await client.embeddings.create(input="x")
            return resp
        resp = asyncio.run(main())
        self.assertEqual(len(resp.data), 1)


class FindBinary(unittest.TestCase):
    """EMBEDWATCH_BIN, then PATH, then the install prefixes."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ew-find-")
        self.saved = (os.environ.get("EMBEDWATCH_BIN"),
                      os.environ.get("PATH"), _config.INSTALLED)
        os.environ.pop("EMBEDWATCH_BIN", None)
        os.environ["PATH"] = self.tmp

    def tearDown(self):
        bin_, path, _config.INSTALLED = self.saved
        if bin_ is not None:
            os.environ["EMBEDWATCH_BIN"] = bin_
        os.environ["PATH"] = path
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_message_names_all_three(self):
        _config.INSTALLED = (os.path.join(self.tmp, "none", "embedwatch"),)
        with self.assertRaises(embedwatch.TransportError) as cm:
            _config.Options().resolve_binary()
        text = str(cm.exception)
        for part in ("EMBEDWATCH_BIN", "PATH", self.tmp,
                     _config.INSTALLED[0]):
            self.assertIn(part, text)

    def test_order(self):
        prefix = os.path.join(self.tmp, "prefix", "embedwatch")
        os.makedirs(os.path.dirname(prefix))
        shutil.copy(s.EMBEDWATCH, prefix)
        _config.INSTALLED = (prefix,)
        self.assertEqual(_config.Options().resolve_binary(), prefix)
        on_path = os.path.join(self.tmp, "embedwatch")
        shutil.copy(s.EMBEDWATCH, on_path)
        self.assertEqual(_config.Options().resolve_binary(), on_path)
        os.environ["EMBEDWATCH_BIN"] = "/somewhere/embedwatch"
        self.assertEqual(_config.Options().resolve_binary(),
                         "/somewhere/embedwatch")
        # The one found in the prefix runs.
        os.environ.pop("EMBEDWATCH_BIN")
        os.unlink(on_path)
        with embedwatch.Embedwatch(**{k: v for k, v in kwargs().items()
                                      if k != "binary"}) as client:
            self.assertEqual(s.as_float32(client.embed_one("p")),
                             s.expected(["p"])[0])


if __name__ == "__main__":
    unittest.main()
