"""POST /v1/completions — the legacy text completion endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from openai_api_simulator import limits
from openai_api_simulator.api import caps, work
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
from openai_api_simulator.fake.budget import Budget
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
        prompts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        caps.array_length("prompt", raw, limits.MAX_PROMPTS)
        prompts = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        prompts = [" ".join(f"t{x}" for x in raw)]
    elif isinstance(raw, list) and raw and all(isinstance(x, list) and all(isinstance(t, int) for t in x) for x in raw):
        caps.array_length("prompt", raw, limits.MAX_PROMPTS)
        prompts = [" ".join(f"t{t}" for t in x) for x in raw]
    else:
        raise v.wrong_type("prompt", "a string, an array of strings, or an array of token arrays", raw)
    size = caps.InputSize("prompt")
    for prompt in prompts:
        size.add(prompt)
    return prompts


class CompletionRequest:
    def __init__(self, body: dict[str, Any], budget: Budget | None = None, script: chat.Script | None = None) -> None:
        self.budget = budget if budget is not None else Budget()
        self.script = script
        self.model = v.require_str(body, "model")
        self.prompts = _prompts(body)
        self.stream = v.get_bool(body, "stream", False)
        self.include_usage = v.get_stream_options(body, self.stream)
        self.n = v.get_int(body, "n", default=1, lo=1, hi=limits.MAX_N) or 1
        if len(self.prompts) * self.n > limits.MAX_CHOICES:
            raise InvalidRequest(
                f"Invalid 'n': {len(self.prompts)} prompts with n={self.n} make {len(self.prompts) * self.n:,} "
                f"choices, more than the simulator's limit of {limits.MAX_CHOICES:,} per request.",
                param="n",
                code="invalid_value",
            )
        best_of = v.get_int(body, "best_of", lo=1, hi=20)
        if best_of is not None and best_of < self.n:
            raise InvalidRequest("best_of must be greater than or equal to n.", param="best_of", code="invalid_value")
        self.max_tokens = (
            v.get_int(body, "max_tokens", default=DEFAULT_MAX_TOKENS, lo=0, hi=limits.MAX_OUTPUT_TOKENS) or 0
        )
        self.stop = v.get_stop(body)
        self.echo = v.get_bool(body, "echo", False)
        self.logprobs = v.get_int(body, "logprobs", lo=0, hi=limits.MAX_COMPLETION_LOGPROBS)
        for key, lo, hi in (("temperature", 0, 2), ("top_p", 0, 1)):
            v.get_number(body, key, lo=lo, hi=hi)
        self.seed = chat.content_seed(body)
        self.prompt_tokens = 0
        for prompt in self.prompts:
            self.budget.check()
            self.prompt_tokens += count_tokens(prompt)


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
        req.budget.check()
        conv = chat.Conversation(
            model=req.model,
            messages=(chat.Message("user", prompt),),
            content_seed=fingerprint([req.seed, p]),
            script=req.script,
        )
        if req.max_tokens == 0:  # allowed with echo: the answer is the prompt alone
            out.extend(TextChoice(p * req.n + k, prompt, "", (), "length") for k in range(req.n))
            continue
        # A continuation of a prompt that ends mid-line starts with a space, as a model's would (a scripted
        # answer is sent as written).
        space = bool(prompt) and not prompt[-1].isspace() and req.script is None
        for c in chat.complete(conv, n=req.n, max_tokens=req.max_tokens, stop=req.stop, budget=req.budget):
            tokens = c.tokens
            if space and tokens and not tokens[0][0].isspace():
                tokens = (" " + tokens[0], *tokens[1:])
            out.append(TextChoice(p * req.n + c.index, prompt, "".join(tokens), tokens, c.finish_reason))
    total = sum(len(c.tokens) for c in out)
    logprobs = total * (1 + req.logprobs) if req.logprobs is not None else 0
    caps.answer_size(total, logprobs, tokens_param="max_tokens", logprobs_param="logprobs")
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


def _answer(req: CompletionRequest, ctx: RequestContext) -> tuple[dict[str, Any], int]:
    """The JSON answer and the tokens of its longest choice: the work `respond` does off the loop."""
    choices = _choices(req)
    data = []
    for c in choices:
        req.budget.check()
        prefix = c.prompt if req.echo else ""
        data.append(
            {
                "text": prefix + c.text,
                "index": c.index,
                "logprobs": _logprobs(req, c, len(prefix)),
                "finish_reason": c.finish_reason,
            }
        )
    content = {
        "id": make_id("cmpl-", req.seed),
        "object": "text_completion",
        "created": ctx.created(),
        "model": ctx.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": data,
        "usage": _usage(req, choices),
    }
    return content, max((len(c.tokens) for c in choices), default=0)


async def respond(req: CompletionRequest, ctx: RequestContext) -> dict[str, Any]:
    content, longest = await work.run(ctx.budget, _answer, req, ctx)
    await generation_delay(ctx.faults, longest)
    return content


async def stream(req: CompletionRequest, ctx: RequestContext) -> AsyncIterator[bytes | CutConnection]:
    """The answer's work, done before the response starts (so a refusal is still a plain 400), then its events."""
    return _events(req, ctx, await work.run(ctx.budget, _choices, req))


async def _events(
    req: CompletionRequest, ctx: RequestContext, choices: list[TextChoice]
) -> AsyncIterator[bytes | CutConnection]:
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
    pacing = FailAfter(ctx.faults)
    try:
        for c in choices:
            if req.echo:
                yield chunk(c.index, c.prompt)
            async for token in pacing.paced(c.tokens):
                yield chunk(c.index, token)
            yield chunk(c.index, "", finish=c.finish_reason)
        pacing.end()
    except StreamCut:
        yield stream_failure(ctx)
        return
    if req.include_usage:
        yield sse_data({**base, "choices": [], "usage": _usage(req, choices)})
    yield DONE


def parse(body: dict[str, Any], ctx: RequestContext) -> CompletionRequest:
    return CompletionRequest(body, ctx.budget, ctx.script)


ENDPOINT: Endpoint[CompletionRequest] = Endpoint("completions", parse, respond, stream)
