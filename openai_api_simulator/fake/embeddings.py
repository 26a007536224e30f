"""Deterministic embeddings with meaningful similarity.

A vector is the normalised sum of one pseudo-random vector per (lower-cased) word of the input plus a small
component from the whole text: equal inputs give equal vectors, texts sharing words have a higher cosine
similarity than unrelated ones — enough for retrieval code to behave plausibly in tests.  Components are
drawn in order, so a vector with `dimensions=d` is the first d components of the full one, renormalised,
which is how OpenAI's shortened embeddings behave.
"""

from __future__ import annotations

import functools
import math
import re

from openai_api_simulator.fake.rng import Rng

_WORD = re.compile(r"\w+")
_WHOLE_TEXT_WEIGHT = 0.35


@functools.lru_cache(maxsize=8192)
def _unit_draws(key: str, dims: int) -> tuple[float, ...]:
    rng = Rng(key)
    return tuple(rng.random() - 0.5 for _ in range(dims))


def word_count(text: str) -> int:
    """How many word vectors `embed` adds up for `text`: its cost is this times the dimensions."""
    return max(1, sum(1 for _ in _WORD.finditer(text.lower())))


def embed(text: str, dims: int, model: str) -> list[float]:
    words = _WORD.findall(text.lower()) or [text]
    acc = [0.0] * dims
    for word in words:
        draws = _unit_draws(f"{model}/w/{word}", dims)
        acc = [a + d for a, d in zip(acc, draws, strict=True)]
    scale = _WHOLE_TEXT_WEIGHT * math.sqrt(len(words))
    whole = _unit_draws(f"{model}/t/{text}", dims)
    acc = [a + scale * d for a, d in zip(acc, whole, strict=True)]
    norm = math.sqrt(sum(a * a for a in acc)) or 1.0
    return [a / norm for a in acc]
