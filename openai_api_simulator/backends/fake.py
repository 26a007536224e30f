"""The built-in fake model `gpt-sim-1` (and its aliases) as a backend: faults, rules, the memo, then the answer.

Per request: the `X-Simulator-*` headers are laid over the server's faults; the scripted rules of the request's
test (`testdouble.matching`) may pick its answer; a request with no fault header and no rule in its scope may
be answered from the memo of whole responses (by exact body bytes); an injected error is decided (every
request counts in the error-rate schedule of its test id, `X-Simulator-Test-Id`, memo hits included); then the
endpoint parses the body and the fake answers, as JSON or as an event stream. Parsing and answering are the
request's CPU work: they run through `api.work.run`, with the request's budget, so a heavy one moves off the
event loop and one over the limits is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Final

from starlette.responses import Response

from openai_api_simulator.api import work
from openai_api_simulator.api.common import RequestContext, first_token_delay, generation_delay, now
from openai_api_simulator.api.conversations import ConversationStore
from openai_api_simulator.api.endpoints import ENDPOINTS
from openai_api_simulator.api.faults import fault_plan, injected_error
from openai_api_simulator.api.http import SSEResponse, dumps
from openai_api_simulator.api.memo import CREATED_PLACEHOLDER, ResponseMemo, completion_tokens, entry_for, prompt_tokens
from openai_api_simulator.backends.base import READY, ModelCard, ModelRequest, ModelStatus
from openai_api_simulator.config import Faults, Settings
from openai_api_simulator.errors import APIError, InvalidRequest
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.caches import size_caches
from openai_api_simulator.fake.chat import ScriptInvalid
from openai_api_simulator.fake.faults import ErrorSchedules
from openai_api_simulator.testdouble.matching import Decision, RuleBook
from openai_api_simulator.testdouble.rules import Answer, ErrorAnswer, load_rules
from openai_api_simulator.testdouble.scope import test_id

# A fixed `created` for the fake models: the project's first release day, so /v1/models is stable.
MODEL_CREATED: Final = 1_763_769_600
OWNER: Final = "openai-api-simulator"
_READY: Final = ModelStatus(READY)


class FakeBackend:
    """`gpt-sim-1` and the aliases in `settings`, answered in process."""

    name = "the built-in fake model"
    capabilities: frozenset[str] = frozenset(endpoint.name for endpoint in ENDPOINTS)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.errors = ErrorSchedules(settings.faults.error_seed)  # one counter per test id
        self.memo = ResponseMemo(settings.cache_bytes("memo"))
        self.conversations = ConversationStore(settings.cache_bytes("responses"))
        # Scripted answers: the server's (`--rules`, checked by the CLI before the server starts) and each test's.
        self.rules = RuleBook(load_rules(settings.rules_file) if settings.rules_file else ())
        size_caches(settings)
        self._cards = tuple(ModelCard(model, OWNER, MODEL_CREATED) for model in settings.fake_models)
        # [prompt, completion] tokens of the JSON answers of each model, for /metrics (`metrics.CountsTokens`):
        # counted here, where they are known, rather than read back from the answer's bytes.
        self.token_counts: dict[str, list[int]] = {model: [0, 0] for model in settings.fake_models}

    def models(self) -> Sequence[ModelCard]:
        return self._cards

    def status(self, model: str) -> ModelStatus:
        return _READY

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield  # nothing to open: the fake lives in this process

    def _check_injected_error(self, faults: Faults, model: str, request: ModelRequest) -> None:
        status = self.errors.for_test(test_id(request.headers.raw)).failure(faults)
        if status is not None:
            raise injected_error(status, model, faults.retry_after)

    def _count_tokens(self, model: str, prompt: int, completion: int) -> None:
        counts = self.token_counts.get(model)
        if counts is not None:
            counts[0] += prompt
            counts[1] += completion

    def _context(self, faults: Faults, model: str, raw: bytes) -> RequestContext:
        budget = Budget()
        budget.off_loop = len(raw) > work.INLINE_MAX_BODY
        return RequestContext(self.settings, faults, model, conversations=self.conversations, budget=budget)

    async def handle(self, request: ModelRequest) -> Response:
        endpoint = request.endpoint
        faults = fault_plan(self.settings.faults, request.headers)
        # Only a request without fault headers may be memoized: its answer depends on the body alone.
        memoizable = faults is self.settings.faults
        decision = None
        if self.rules:  # the common case, no rule anywhere, costs this test alone
            scope = test_id(request.headers.raw)
            if self.rules.has_rules(scope):
                # Its answer depends on the rules and their counters too: never from the memo, nor into it.
                memoizable = False
                decision = self.rules.decide(scope, endpoint.name, request.body, request.headers)
        if decision is not None:
            return await self._scripted(request, faults, decision)
        if memoizable:
            hit = self.memo.get(endpoint.name, request.raw)
            if hit is not None:
                self._check_injected_error(faults, hit.model, request)
                if faults.latency_ms or faults.tokens_per_second:
                    await generation_delay(faults, hit.tokens)
                self._count_tokens(request.model, hit.prompt_tokens, hit.tokens)
                return _json(hit.render(now(self.settings)))
        self._check_injected_error(faults, request.model, request)
        ctx = self._context(faults, request.model, request.raw)
        parsed = await work.run(ctx.budget, endpoint.parse, request.body, ctx)
        if endpoint.stream is not None and parsed.stream:
            # Not counted here: a stream's usage, when the client asked for it, is read from its last event.
            return SSEResponse(await endpoint.stream(parsed, ctx))
        if not memoizable:
            content = await endpoint.respond(parsed, ctx)
            self._count_tokens(request.model, prompt_tokens(content), completion_tokens(content))
            return _json(dumps(content))
        # Rendered with a placeholder for `created`, so the memo can fill in the time of each later hit.
        content = await endpoint.respond(parsed, replace(ctx, created_override=CREATED_PLACEHOLDER))
        prompt, completion = prompt_tokens(content), completion_tokens(content)
        self._count_tokens(request.model, prompt, completion)
        entry = entry_for(request.model, completion, dumps(content), prompt_tokens=prompt, timeless=endpoint.timeless)
        if entry is None:  # the placeholder did not survive rendering: answer without memoizing
            return _json(dumps({**content, **_created_fields(content, ctx.created())}))
        self.memo.put(endpoint.name, request.raw, entry)
        return _json(entry.render(ctx.created()))

    async def _scripted(self, request: ModelRequest, faults: Faults, decision: Decision) -> Response:
        """The answer to a request the rules have looked at: a rule's, or the generator's when none answered."""
        answer = decision.answer or Answer()
        if decision.rule is not None:
            request.rule = decision.rule.id
        if answer.latency_ms is not None:
            faults = replace(faults, latency_ms=answer.latency_ms)
        if answer.tokens_per_second is not None:
            faults = replace(faults, tokens_per_second=answer.tokens_per_second)
        self._check_injected_error(faults, request.model, request)
        endpoint = request.endpoint
        if answer.script is not None and endpoint.name == "embeddings":
            decision.commit()
            raise _invalid(f"Rule '{request.rule}' scripts a text answer, which /v1/embeddings cannot send.")
        ctx = replace(self._context(faults, request.model, request.raw), script=answer.script)
        try:
            parsed = await work.run(ctx.budget, endpoint.parse, request.body, ctx)
            decision.commit()  # a request the endpoint refused uses up no call of a rule
            if answer.error is not None:
                await first_token_delay(faults)
                raise _scripted_error(answer.error, request.model, faults.retry_after)
            if endpoint.stream is not None and parsed.stream:
                return SSEResponse(await endpoint.stream(parsed, ctx))
            content = await endpoint.respond(parsed, ctx)
        except ScriptInvalid as exc:
            raise _invalid(str(exc)) from None
        self._count_tokens(request.model, prompt_tokens(content), completion_tokens(content))
        return _json(dumps(content))


def _invalid(message: str) -> APIError:
    return InvalidRequest(
        message + " (openai-api-simulator: fix the rule, or the request it matched)", code="scripted_answer_invalid"
    )


def _scripted_error(spec: ErrorAnswer, model: str, retry_after: float) -> APIError:
    """A rule's error answer: the injected error for its status (Retry-After with 429/503), as the rule words it."""
    error = injected_error(spec.status, model, spec.retry_after if spec.retry_after is not None else retry_after)
    if spec.message is not None:
        error.message = spec.message
    if spec.type is not None:
        error.type = spec.type
    if spec.code is not None:
        error.code = spec.code
    return error


def _created_fields(content: dict[str, Any], now: int) -> dict[str, Any]:
    return {key: now for key in ("created", "created_at") if content.get(key) == CREATED_PLACEHOLDER}


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")
