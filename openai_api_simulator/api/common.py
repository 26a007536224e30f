"""Pieces every endpoint shares: the per-request context, ids, usage objects and token pacing."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from openai_api_simulator import __version__
from openai_api_simulator.config import Faults, Settings
from openai_api_simulator.errors import ModelNotFound
from openai_api_simulator.fake.rng import fingerprint

T = TypeVar("T")

# Stable per release: OpenAI changes `system_fingerprint` when the serving configuration changes.
SYSTEM_FINGERPRINT: Final = "fp_sim" + fingerprint(__version__)[:8]


@dataclass(frozen=True)
class RequestContext:
    settings: Settings
    faults: Faults
    model: str

    created_override: int | None = None  # the memo renders responses with a placeholder here

    def created(self) -> int:
        if self.created_override is not None:
            return self.created_override
        fixed = self.settings.fixed_created
        return fixed if fixed is not None else int(time.time())


def check_model(settings: Settings, model: str) -> None:
    if model not in settings.fake_models:
        raise ModelNotFound(model)


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
    """Non-stream answers take as long as streaming them would have."""
    await first_token_delay(faults)
    if faults.tokens_per_second > 0 and tokens:
        await asyncio.sleep(tokens / faults.tokens_per_second)


async def paced(items: Iterable[T], faults: Faults) -> AsyncIterator[T]:
    """Yield `items` at `tokens_per_second`, scheduled from the start so sleeps do not drift."""
    rate = faults.tokens_per_second
    loop = asyncio.get_running_loop()
    start = loop.time()
    for k, item in enumerate(items):
        if rate > 0 and k:
            delay = start + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        yield item
