"""POST /v1/embeddings."""

from __future__ import annotations

import base64
import struct
from typing import Any, Final

from openai_api_simulator import limits
from openai_api_simulator.api import caps, work
from openai_api_simulator.api import validate as v
from openai_api_simulator.api.common import RequestContext
from openai_api_simulator.api.endpoint import Endpoint
from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.embeddings import embed, word_count
from openai_api_simulator.fake.tokens import count_tokens

DEFAULT_DIMENSIONS: Final = 1536  # text-embedding-3-small's size, what most clients expect
MAX_DIMENSIONS: Final = limits.MAX_DIMENSIONS
MAX_INPUTS: Final = limits.MAX_EMBEDDING_INPUTS


def _inputs(body: dict[str, Any], budget: Budget) -> list[tuple[str, int]]:
    """Each input as (text to embed, its token count), within OpenAI's limits per input and per request."""
    raw = body.get("input")
    if raw is None:
        raise v.missing("input")
    if isinstance(raw, str):
        items: list[Any] = [raw]
    elif isinstance(raw, list):
        if not raw:
            raise InvalidRequest(
                "'$.input' is invalid. Please check the API reference: an empty array is not allowed.",
                param="input",
                code="invalid_value",
            )
        # A flat list of integers is one tokenised input; a list of lists is several.
        items = [raw] if all(isinstance(x, int) and not isinstance(x, bool) for x in raw) else raw
    else:
        raise v.wrong_type("input", "a string, an array of strings or an array of token arrays", raw)
    if len(items) > MAX_INPUTS:
        raise v.invalid_value("input", f"array too long. Expected at most {MAX_INPUTS} inputs, got {len(items)}.")
    texts: list[tuple[str, int]] = []
    size = caps.InputSize("input")
    total = 0
    for i, item in enumerate(items):
        budget.check()
        param = f"input[{i}]" if isinstance(raw, list) and items is raw else "input"
        if isinstance(item, str):
            if not item:
                raise InvalidRequest(
                    f"'{param}' is invalid: input cannot be an empty string.", param=param, code="invalid_value"
                )
            size.add(item)
            text, tokens = item, count_tokens(item)
        elif isinstance(item, list) and item and all(isinstance(x, int) and not isinstance(x, bool) for x in item):
            # Token ids stand for text the simulator cannot decode; they embed as their own "words".
            text, tokens = " ".join(f"t{x}" for x in item), len(item)
        else:
            raise v.wrong_type(param, "a non-empty string or an array of integers", item)
        if tokens > limits.MAX_EMBEDDING_INPUT_TOKENS:
            raise InvalidRequest(
                f"Invalid '{param}': it has {tokens:,} tokens; the limit per input is "
                f"{limits.MAX_EMBEDDING_INPUT_TOKENS:,} tokens.",
                param=param,
                code="context_length_exceeded",
            )
        total += tokens
        if total > limits.MAX_EMBEDDING_TOKENS:
            raise InvalidRequest(
                f"Invalid 'input': the inputs have more than {limits.MAX_EMBEDDING_TOKENS:,} tokens, the limit "
                "per request.",
                param="input",
                code="max_tokens_per_request",
            )
        texts.append((text, tokens))
    return texts


def _check_work(texts: list[tuple[str, int]], dims: int) -> None:
    """Every word of an input adds a vector of `dims` components: refuse a request over `MAX_EMBEDDING_WORK`."""
    words = sum(word_count(text) for text, _ in texts)
    if words * dims > limits.MAX_EMBEDDING_WORK:
        raise InvalidRequest(
            f"Invalid 'input': {words:,} words at {dims} dimensions are {words * dims:,} vector components, more "
            f"than the simulator's limit of {limits.MAX_EMBEDDING_WORK:,} per request (words × dimensions). Send "
            "fewer or shorter inputs, or ask for fewer 'dimensions'.",
            param="input",
            code="invalid_value",
        )


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


class EmbeddingRequest:
    stream = False  # embeddings have no streaming form

    def __init__(self, body: dict[str, Any], budget: Budget | None = None) -> None:
        self.budget = budget if budget is not None else Budget()
        self.model = v.require_str(body, "model")
        self.texts = _inputs(body, self.budget)
        dims = v.get_int(body, "dimensions", default=DEFAULT_DIMENSIONS, lo=1, hi=MAX_DIMENSIONS)
        self.dims = dims or DEFAULT_DIMENSIONS
        self.encoding = v.get_str(body, "encoding_format", default="float") or "float"
        if self.encoding not in ("float", "base64"):
            raise v.invalid_value("encoding_format", f"'{self.encoding}'. Supported values are: 'float' and 'base64'.")
        _check_work(self.texts, self.dims)


def _answer(req: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
    texts, dims, encoding = req.texts, req.dims, req.encoding
    data = []
    for i, (text, _) in enumerate(texts):
        req.budget.check()
        data.append({"object": "embedding", "index": i, "embedding": _encode(embed(text, dims, ctx.model), encoding)})
    tokens = sum(n for _, n in texts)
    return {
        "object": "list",
        "data": data,
        "model": ctx.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


async def respond(req: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
    return await work.run(ctx.budget, _answer, req, ctx)


def parse(body: dict[str, Any], ctx: RequestContext) -> EmbeddingRequest:
    return EmbeddingRequest(body, ctx.budget)


ENDPOINT: Endpoint[EmbeddingRequest] = Endpoint("embeddings", parse, respond)
