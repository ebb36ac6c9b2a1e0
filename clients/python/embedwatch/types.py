"""Result types: what embed_result returns and the OpenAI-shaped objects
that client.embeddings.create returns.

The OpenAI-shaped classes mirror the attributes of the OpenAI SDK's
CreateEmbeddingResponse, Embedding and Usage (data[i].embedding, .index,
.object, .model, .usage.prompt_tokens, .usage.total_tokens), so code that
reads an OpenAI response reads these unchanged. They are plain dataclasses,
not pydantic models; model_dump() returns the same dict shape.
"""
import base64
import dataclasses
import struct
from typing import List, Union

__all__ = ["Usage", "EmbedResult", "Embedding", "CreateEmbeddingResponse"]


@dataclasses.dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    total_tokens: int

    def model_dump(self):
        return dataclasses.asdict(self)


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
class Embedding:
    embedding: Union[List[float], str]
    index: int
    object: str = "embedding"

    def model_dump(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class CreateEmbeddingResponse:
    data: List[Embedding]
    model: str
    usage: Usage
    object: str = "list"

    def model_dump(self):
        return dataclasses.asdict(self)

    to_dict = model_dump


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
