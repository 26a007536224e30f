"""Deterministic embeddings with meaningful similarity.

A vector is the normalised sum of one pseudo-random vector per (lower-cased) word of the input plus a small
component from the whole text: equal inputs give equal vectors, texts sharing words have a higher cosine
similarity than unrelated ones — enough for retrieval code to behave plausibly in tests.  Components are
drawn in order, so a vector with `dimensions=d` is the first d components of the full one, renormalised,
which is how OpenAI's shortened embeddings behave.
"""

from __future__ import annotations

import math
import operator
import re
import sys
from array import array
from typing import Final

from openai_api_simulator.config import DEFAULT_CACHE_MB, cache_bytes
from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.lru import LRU

_WORD = re.compile(r"\w+")
_WHOLE_TEXT_WEIGHT = 0.35
# The draws of each word (and whole text) seen, by (key, dims): words repeat across a corpus, and drawing
# 1,536 components costs far more than adding them. Stored as float64 arrays, 8 bytes a component: the same
# values as Python floats, but a tuple of floats costs 32 bytes each (8,192 cached 3,072-dim tuples were
# 800 MB). Process-wide; `fake.caches` sizes it from --cache-mb.
VECTORS: LRU[tuple[str, int], array[float]] = LRU(cache_bytes(DEFAULT_CACHE_MB, "word_vectors"))
_ARRAY_OVERHEAD: Final = 128  # the array object (64 bytes) and the (key, dims) tuple (56)


def _unit_draws(key: str, dims: int) -> array[float]:
    cache_key = (key, dims)
    draws = VECTORS.get(cache_key)
    if draws is None:
        rng = Rng(key)
        draws = array("d", [rng.random() - 0.5 for _ in range(dims)])
        VECTORS.put(cache_key, draws, sys.getsizeof(key) + 8 * dims + _ARRAY_OVERHEAD)
    return draws


def word_count(text: str) -> int:
    """How many word vectors `embed` adds up for `text`: its cost is this times the dimensions."""
    return max(1, sum(1 for _ in _WORD.finditer(text.lower())))


def embed(text: str, dims: int, model: str) -> list[float]:
    words = _WORD.findall(text.lower()) or [text]
    acc = [0.0] * dims
    for word in words:
        draws = _unit_draws(f"{model}/w/{word}", dims)
        acc = list(map(operator.add, acc, draws))  # the same sums as a comprehension, in C
    scale = _WHOLE_TEXT_WEIGHT * math.sqrt(len(words))
    whole = _unit_draws(f"{model}/t/{text}", dims)
    acc = [a + scale * d for a, d in zip(acc, whole, strict=True)]
    norm = math.sqrt(sum(a * a for a in acc)) or 1.0
    return [a / norm for a in acc]
