"""Pieces every endpoint shares: the per-request context, ids, usage objects, token pacing, stream failure."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from openai_api_simulator import __version__, limits
from openai_api_simulator.api.conversations import ConversationStore
from openai_api_simulator.config import Faults, Settings
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.chat import Script
from openai_api_simulator.fake.rng import fingerprint

T = TypeVar("T")

# Stable per release: OpenAI changes `system_fingerprint` when the serving configuration changes.
SYSTEM_FINGERPRINT: Final = "fp_sim" + fingerprint(__version__)[:8]


@dataclass(frozen=True)
class RequestContext:
    """What the fake knows about one request besides its body: settings, faults, the model, shared state."""

    settings: Settings
    faults: Faults
    model: str
    conversations: ConversationStore = field(default_factory=ConversationStore, compare=False)
    budget: Budget = field(default_factory=Budget, compare=False)  # the request's work (`api.work.run`)

    created_override: int | None = None  # the memo renders responses with a placeholder here
    script: Script | None = None  # a scripted answer (`testdouble.rules`), served instead of the generator's

    def created(self) -> int:
        if self.created_override is not None:
            return self.created_override
        return now(self.settings)


def now(settings: Settings) -> int:
    """The `created` of an answer sent now: the wall clock, or `--fixed-created`."""
    fixed = settings.fixed_created
    return fixed if fixed is not None else int(time.time())


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def make_id(prefix: str, seed: str, length: int = 29) -> str:
    """An id derived from the request (a digest in base62 letters), so the same request gives the same bytes."""
    digest = hashlib.sha512(("id/" + seed).encode()).digest()  # 64 bytes: ids are at most 48 characters
    return prefix + "".join(_ALPHABET[b % 62] for b in digest[:length])


def chat_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


async def first_token_delay(faults: Faults) -> None:
    if faults.latency_ms > 0:
        await asyncio.sleep(faults.latency_ms / 1000)


async def generation_delay(faults: Faults, tokens: int) -> None:
    """Non-stream answers take as long as streaming them would have (at most `limits.MAX_PACING_S`)."""
    await first_token_delay(faults)
    if faults.tokens_per_second > 0 and tokens:
        await asyncio.sleep(min(tokens / faults.tokens_per_second, limits.MAX_PACING_S))


async def paced(items: Iterable[T], faults: Faults) -> AsyncIterator[T]:
    """Yield `items` at `tokens_per_second`, scheduled from the start so sleeps do not drift.

    The schedule ends at `limits.MAX_PACING_S`: whatever the rate (the --tokens-per-second flag takes any),
    an answer is never paced for longer than the longest latency a header may ask for.
    """
    rate = faults.tokens_per_second
    loop = asyncio.get_running_loop()
    start = loop.time()
    for k, item in enumerate(items):
        if rate > 0 and k:
            delay = start + min(k / rate, limits.MAX_PACING_S) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        yield item


class StreamCut(Exception):
    """Raised by `FailAfter` when an injected mid-stream failure is due; the stream then sends its failure."""


class FailAfter:
    """Counts the content chunks of one stream and says when `stream_fail_after` of them have gone out.

    Content chunks go through `paced`, which applies the token rate and raises `StreamCut` instead of the
    chunk that would exceed the budget; `end` raises it for an answer with no content chunk at all when the
    budget is 0 ("fail after 0 chunks" must fail even then).
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.limit = faults.stream_fail_after
        self.sent = 0

    async def paced(self, items: Iterable[T]) -> AsyncIterator[T]:
        async for item in paced(items, self.faults):
            if self.limit is not None and self.sent >= self.limit:
                raise StreamCut
            self.sent += 1
            yield item

    def end(self) -> None:
        if self.limit == 0:
            raise StreamCut
