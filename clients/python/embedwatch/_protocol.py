"""The pipe protocol, without I/O: request and cancel lines out, answer
lines in. Both clients and both transports share it.

A request line is {"id": N, "input": [...], "deadline": S, optional
"model", "dimensions", "timeout", "user", "extra_body"}; ids are integers unique within one
client. Every request carries an explicit deadline so that the client
knows how long embedwatch may take before it must have answered.
"""
import json
import math
import re

from .errors import InvalidRequest, TransportError, error_from_answer
from .types import EmbedResult, Usage

# embedwatch's own defaults, which the client mirrors.
DEFAULT_DEADLINE = 120.0
DEFAULT_MAX_LINE = 16 * 1024 * 1024
MAX_SECONDS = 86400.0


def normalize_texts(texts):
    """texts as a list of str; a lone str is one text. Raises TypeError
    for anything else (including token arrays, which embedwatch does not
    take); emptiness is for embedwatch to judge."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError("texts must be str, not bytes")
    try:
        items = list(texts)
    except TypeError:
        raise TypeError("texts must be a str or a sequence of str, not "
                        f"{type(texts).__name__}") from None
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be str, not "
                            f"{type(t).__name__}")
    return items


def check_seconds(name, value, allow_none=True):
    """value as a float number of seconds embedwatch accepts, or None."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds")
    value = float(value)
    if not math.isfinite(value) or value < 0.001 or value > MAX_SECONDS:
        raise ValueError(f"{name} must be from 0.001 to {MAX_SECONDS:g} "
                         "seconds")
    return value


def encode_request(call_id, texts, *, model, dimensions, timeout, deadline,
                   max_line, user=None, extra_body=None):
    """One request line as bytes (newline included). Raises InvalidRequest,
    without sending anything, for a line embedwatch could not attribute to
    this call (not UTF-8-encodable or longer than max_line: embedwatch
    answers such lines with a null id)."""
    req = {"id": call_id, "input": texts, "deadline": deadline}
    if model is not None:
        if not isinstance(model, str):
            raise TypeError("model must be str")
        req["model"] = model
    if dimensions is not None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int):
            raise TypeError("dimensions must be int")
        req["dimensions"] = dimensions
    if timeout is not None:
        req["timeout"] = timeout
    if user is not None:
        if not isinstance(user, str):
            raise TypeError("user must be str")
        req["user"] = user
    if extra_body:
        if not isinstance(extra_body, dict):
            raise TypeError("extra_body must be a dict")
        req["extra_body"] = extra_body
    try:
        line = (json.dumps(req, ensure_ascii=False, separators=(",", ":"))
                + "\n").encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidRequest(f"input is not valid Unicode: {e.reason} at "
                             f"position {e.start}", attempts=0) from None
    if len(line) > max_line + 1:
        raise InvalidRequest(f"request of {len(line)} bytes is longer than "
                             f"embedwatch's line limit ({max_line} bytes)",
                             attempts=0)
    return line


def encode_cancel(call_id):
    return (json.dumps({"op": "cancel", "id": call_id},
                       separators=(",", ":")) + "\n").encode()


def decode_answer(line):
    """(id, answer dict) for one answer line, its vectors already lists of
    float. Raises ValueError if the line is not a JSON object with an id
    field (the id may be None)."""
    answer = json.loads(line)
    if not isinstance(answer, dict) or "id" not in answer:
        raise ValueError("answer is not a JSON object with an 'id'")
    embs = answer.get("embeddings")
    if isinstance(embs, list):
        # embedwatch prints integral values (0, 1) as JSON integers; the
        # vectors are floats. About 35 ns a value.
        answer["embeddings"] = [list(map(float, e)) if isinstance(e, list)
                                else e for e in embs]
    return answer["id"], answer


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_FLOAT_DECODER = json.JSONDecoder(parse_int=float)


def decode_answer_in_steps(line):
    """A generator doing decode_answer's work in small steps, for answers
    too large to decode in one go on an event loop (json.loads takes about
    20 ms per MB): it yields after each vector and returns (through
    StopIteration) what decode_answer returns, or raises what it raises.
    Only the top-level object is walked by hand; every value, each vector
    included, is decoded by json's C scanner."""
    text = line.decode("utf-8") if isinstance(line, bytes) else line
    answer = {}
    try:
        i = _WS.match(text, 0).end()
        if text[i] != "{":
            raise ValueError("answer is not a JSON object")
        i = _WS.match(text, i + 1).end()
        if text[i] == "}":
            i += 1
        while text[i - 1] != "}":
            key, i = _DECODER.raw_decode(text, i)
            if not isinstance(key, str):
                raise ValueError("answer has a key that is not a string")
            i = _WS.match(text, i).end()
            if text[i] != ":":
                raise ValueError(f"expected ':' at column {i}")
            i = _WS.match(text, i + 1).end()
            if key == "embeddings" and text[i] == "[":
                value = []
                i = _WS.match(text, i + 1).end()
                while text[i] != "]":
                    vector, i = _FLOAT_DECODER.raw_decode(text, i)
                    value.append(vector)
                    yield
                    i = _WS.match(text, i).end()
                    if text[i] == ",":
                        i = _WS.match(text, i + 1).end()
                        if text[i] == "]":
                            raise ValueError(f"trailing ',' at column {i}")
                    elif text[i] != "]":
                        raise ValueError(f"expected ',' or ']' at column "
                                         f"{i}")
                i += 1
            else:
                value, i = _DECODER.raw_decode(text, i)
            answer[key] = value
            i = _WS.match(text, i).end()
            if text[i] == ",":
                i = _WS.match(text, i + 1).end()
            elif text[i] == "}":
                i += 1
            else:
                raise ValueError(f"expected ',' or '}}' at column {i}")
        if text[_WS.match(text, i).end():]:
            raise ValueError("extra data after the answer")
    except IndexError:
        raise ValueError("answer is cut short") from None
    if "id" not in answer:
        raise ValueError("answer is not a JSON object with an 'id'")
    return answer["id"], answer


def result_from_answer(answer, n_texts):
    """The EmbedResult of an answer, or raise the error it reports."""
    if answer.get("ok") is not True:
        raise error_from_answer(answer)
    embs = answer.get("embeddings")
    if (not isinstance(embs, list) or len(embs) != n_texts or
            not all(isinstance(e, list) for e in embs)):
        raise TransportError("embedwatch sent an answer without "
                             f"{n_texts} embeddings")
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    return EmbedResult(
        embeddings=embs,
        model=answer.get("model") or "",
        usage=Usage(prompt_tokens=usage.get("prompt_tokens", 0),
                    total_tokens=usage.get("total_tokens", 0)),
        attempts=answer.get("attempts", 0),
        ms=answer.get("ms", 0))
