"""Result types: what embed_result returns and the OpenAI-shaped objects
that client.embeddings.create returns.

The OpenAI-shaped classes mirror the attributes of the OpenAI SDK's
CreateEmbeddingResponse, Embedding and Usage (data[i].embedding, .index,
.object, .model, .usage.prompt_tokens, .usage.total_tokens) and the
pydantic methods a user of the SDK calls on them (model_dump(),
model_dump_json(), to_dict(), to_json()), so code that reads an OpenAI
response reads these unchanged. They are plain dataclasses, not pydantic
models. RawResponse is what `with_raw_response` gives: .parse(), .headers,
.status_code.
"""
import base64
import dataclasses
import json
import struct
from typing import List, Union

__all__ = ["Usage", "EmbedResult", "Embedding", "CreateEmbeddingResponse",
           "RawResponse"]


class _Model:
    """The pydantic-style methods of the SDK's response models."""

    def model_dump(self, *, exclude_none=False, **_ignored):
        """The object as a dict of plain values, like pydantic's."""
        d = dataclasses.asdict(self)
        return _drop_none(d) if exclude_none else d

    def model_dump_json(self, *, indent=None, exclude_none=False,
                        **_ignored):
        """The object as a JSON string, like pydantic's (compact unless
        indent is given)."""
        return json.dumps(self.model_dump(exclude_none=exclude_none),
                          indent=indent, ensure_ascii=False,
                          separators=None if indent else (",", ":"))

    def to_dict(self):
        """As the SDK's to_dict(): model_dump()."""
        return self.model_dump()

    def to_json(self, *, indent=2):
        """As the SDK's to_json(): indented JSON."""
        return self.model_dump_json(indent=indent)


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Usage(_Model):
    prompt_tokens: int
    total_tokens: int


@dataclasses.dataclass(frozen=True)
class EmbedResult:
    """One successful answer: vectors in input order, the model that made
    them, token usage, API attempts made and milliseconds spent."""
    embeddings: List[List[float]]
    model: str
    usage: Usage
    attempts: int
    ms: int


@dataclasses.dataclass
class Embedding(_Model):
    embedding: Union[List[float], str]
    index: int
    object: str = "embedding"


@dataclasses.dataclass
class CreateEmbeddingResponse(_Model):
    data: List[Embedding]
    model: str
    usage: Usage
    object: str = "list"


class RawResponse:
    """with_raw_response's result, shaped like the SDK's: parse() gives
    the CreateEmbeddingResponse. embedwatch answers for the API, so
    status_code is 200 and headers carries embedwatch's own figures
    (x-embedwatch-attempts, x-embedwatch-ms), not the API's headers."""

    def __init__(self, parsed, result):
        self._parsed = parsed
        self.status_code = 200
        self.headers = {"x-embedwatch-attempts": str(result.attempts),
                        "x-embedwatch-ms": str(result.ms)}
        self.http_request = None

    def parse(self):
        return self._parsed


def facade_response(result, encoding_format):
    """The OpenAI-shaped response for an EmbedResult. encoding_format
    "base64" gives each vector as base64 of little-endian float32, as the
    OpenAI API does when asked for it."""
    data = []
    for i, vec in enumerate(result.embeddings):
        if encoding_format == "base64":
            raw = struct.pack(f"<{len(vec)}f", *vec)
            vec = base64.b64encode(raw).decode("ascii")
        data.append(Embedding(embedding=vec, index=i))
    return CreateEmbeddingResponse(data=data, model=result.model,
                                   usage=result.usage)
