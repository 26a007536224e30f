"""POST /v1/completions — the legacy text completion endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from openai_api_simulator.api import validate as v
from openai_api_simulator.api.chat import stream_failure
from openai_api_simulator.api.common import (
    SYSTEM_FINGERPRINT,
    FailAfter,
    RequestContext,
    StreamCut,
    first_token_delay,
    generation_delay,
    make_id,
)
from openai_api_simulator.api.endpoint import Endpoint
from openai_api_simulator.api.http import DONE, CutConnection, sse_data
from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.fake import chat
from openai_api_simulator.fake.logprobs import token_logprobs
from openai_api_simulator.fake.rng import Rng, fingerprint
from openai_api_simulator.fake.tokens import count_tokens

# OpenAI's default for this endpoint: without max_tokens an answer stops ("length") after 16 tokens.
DEFAULT_MAX_TOKENS: Final = 16


def _prompts(body: dict[str, Any]) -> list[str]:
    raw = body.get("prompt")
    if raw is None:
        raise v.missing("prompt")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw:
        if all(isinstance(x, str) for x in raw):
            return list(raw)
        if all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
            return [" ".join(f"t{x}" for x in raw)]
        if all(isinstance(x, list) and all(isinstance(t, int) for t in x) for x in raw):
            return [" ".join(f"t{t}" for t in x) for x in raw]
    raise v.wrong_type("prompt", "a string, an array of strings, or an array of token arrays", raw)


class CompletionRequest:
    def __init__(self, body: dict[str, Any]) -> None:
        self.model = v.require_str(body, "model")
        self.prompts = _prompts(body)
        self.stream = v.get_bool(body, "stream", False)
        self.include_usage = v.get_stream_options(body, self.stream)
        self.n = v.get_int(body, "n", default=1, lo=1, hi=128) or 1
        best_of = v.get_int(body, "best_of", lo=1, hi=20)
        if best_of is not None and best_of < self.n:
            raise InvalidRequest("best_of must be greater than or equal to n.", param="best_of", code="invalid_value")
        self.max_tokens = v.get_int(body, "max_tokens", default=DEFAULT_MAX_TOKENS, lo=0) or 0
        self.stop = v.get_stop(body)
        self.echo = v.get_bool(body, "echo", False)
        self.logprobs = v.get_int(body, "logprobs", lo=0, hi=5)
        for key, lo, hi in (("temperature", 0, 2), ("top_p", 0, 1)):
            v.get_number(body, key, lo=lo, hi=hi)
        self.seed = chat.content_seed(body)
        self.prompt_tokens = sum(count_tokens(p) for p in self.prompts)


@dataclass(frozen=True)
class TextChoice:
    index: int
    prompt: str
    text: str
    tokens: tuple[str, ...]
    finish_reason: str


def _choices(req: CompletionRequest) -> list[TextChoice]:
    """The choices of each prompt in order: prompt p, choice k has index p * n + k (as OpenAI numbers them)."""
    out: list[TextChoice] = []
    for p, prompt in enumerate(req.prompts):
        conv = chat.Conversation(
            model=req.model,
            messages=(chat.Message("user", prompt),),
            content_seed=fingerprint([req.seed, p]),
        )
        if req.max_tokens == 0:  # allowed with echo: the answer is the prompt alone
            out.extend(TextChoice(p * req.n + k, prompt, "", (), "length") for k in range(req.n))
            continue
        # A continuation of a prompt that ends mid-line starts with a space, as a model's would.
        space = bool(prompt) and not prompt[-1].isspace()
        for c in chat.complete(conv, n=req.n, max_tokens=req.max_tokens, stop=req.stop):
            tokens = c.tokens
            if space and tokens and not tokens[0][0].isspace():
                tokens = (" " + tokens[0], *tokens[1:])
            out.append(TextChoice(p * req.n + c.index, prompt, "".join(tokens), tokens, c.finish_reason))
    return out


def _logprobs(req: CompletionRequest, choice: TextChoice, offset: int) -> dict[str, Any] | None:
    if req.logprobs is None:
        return None
    lps = token_logprobs(Rng(req.seed).fork("logprobs", choice.index), choice.tokens, req.logprobs)
    offsets: list[int] = []
    position = offset
    for token in choice.tokens:
        offsets.append(position)
        position += len(token)
    return {
        "tokens": [lp.token for lp in lps],
        "token_logprobs": [lp.logprob for lp in lps],
        # logprobs 0: no alternatives, but still one (empty) map per token, as OpenAI's spec types the field.
        "top_logprobs": [dict(lp.top) if req.logprobs > 0 else {} for lp in lps],
        "text_offset": offsets,
    }


def _usage(req: CompletionRequest, choices: list[TextChoice]) -> dict[str, int]:
    completion = sum(len(c.tokens) for c in choices)
    return {
        "prompt_tokens": req.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": req.prompt_tokens + completion,
    }


async def respond(req: CompletionRequest, ctx: RequestContext) -> dict[str, Any]:
    choices = _choices(req)
    await generation_delay(ctx.faults, max((len(c.tokens) for c in choices), default=0))
    data = []
    for c in choices:
        prefix = c.prompt if req.echo else ""
        data.append(
            {
                "text": prefix + c.text,
                "index": c.index,
                "logprobs": _logprobs(req, c, len(prefix)),
                "finish_reason": c.finish_reason,
            }
        )
    return {
        "id": make_id("cmpl-", req.seed),
        "object": "text_completion",
        "created": ctx.created(),
        "model": ctx.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": data,
        "usage": _usage(req, choices),
    }


async def stream(req: CompletionRequest, ctx: RequestContext) -> AsyncIterator[bytes | CutConnection]:
    choices = _choices(req)
    base = {
        "id": make_id("cmpl-", req.seed),
        "object": "text_completion",
        "created": ctx.created(),
        "model": ctx.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }

    def chunk(index: int, text: str, finish: str | None = None, logprobs: Any = None) -> bytes:
        return sse_data(
            {**base, "choices": [{"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}]}
        )

    await first_token_delay(ctx.faults)
    budget = FailAfter(ctx.faults)
    try:
        for c in choices:
            if req.echo:
                yield chunk(c.index, c.prompt)
            async for token in budget.paced(c.tokens):
                yield chunk(c.index, token)
            yield chunk(c.index, "", finish=c.finish_reason)
        budget.end()
    except StreamCut:
        yield stream_failure(ctx)
        return
    if req.include_usage:
        yield sse_data({**base, "choices": [], "usage": _usage(req, choices)})
    yield DONE


def parse(body: dict[str, Any], ctx: RequestContext) -> CompletionRequest:
    return CompletionRequest(body)


ENDPOINT: Endpoint[CompletionRequest] = Endpoint("completions", parse, respond, stream)
