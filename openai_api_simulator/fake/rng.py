"""A deterministic random stream derived from request content.

Why not `random.Random.choice`/`randrange`: Python only promises that `random()` keeps its sequence across
versions for a given seed, so every draw here goes through `random()`.  Child streams are derived from
the parent's *seed* and a label (not from its state), so adding a draw in one part of the generator does
not shift the output of another.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
# Integers of up to this many bits convert to a float (the largest float is just under 2**1024).
_FLOAT_BITS = 1023


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal values, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(value: Any) -> str:
    """A stable hex digest of a JSON-like value."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def request_fingerprint(body: Mapping[str, Any], ignore: frozenset[str]) -> str:
    """Digest of a request body minus the fields that must not change the content (e.g. `stream`)."""
    return fingerprint({k: v for k, v in body.items() if k not in ignore})


class Rng:
    """A seeded stream of draws; `fork(label)` gives an independent child stream."""

    __slots__ = ("_random", "seed")

    def __init__(self, seed: str) -> None:
        self.seed = seed
        digest = hashlib.sha256(seed.encode()).digest()
        self._random = random.Random(int.from_bytes(digest[:16], "big"))

    def fork(self, *labels: object) -> Rng:
        return Rng(self.seed + "/" + "/".join(str(label) for label in labels))

    def random(self) -> float:
        return self._random.random()

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        if n <= 0:
            raise ValueError("n must be positive")
        if n.bit_length() > _FLOAT_BITS:
            # random() * n would overflow a float (multipleOf 1e-300 across [0, 1e308] has ~10^616 multiples):
            # draw among the multiples of a power of two instead, still one draw and still below n.
            shift = n.bit_length() - _FLOAT_BITS
            return self.below(n >> shift) << shift
        return min(int(self._random.random() * n), n - 1)

    def between(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi] (inclusive)."""
        if hi < lo:
            lo, hi = hi, lo
        return lo + self.below(hi - lo + 1)

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.below(len(seq))]

    def chance(self, p: float) -> bool:
        return self._random.random() < p

    def weighted(self, options: Sequence[str], weights: Mapping[str, int], default: int = 3) -> str:
        """One of `options`, each as likely as its weight (`default` for those `weights` does not name)."""
        total = sum(weights.get(option, default) for option in options)
        point = self.random() * total
        for option in options:
            point -= weights.get(option, default)
            if point < 0:
                return option
        return options[-1]

    def permutation(self, n: int) -> list[int]:
        """0..n-1 in a random order (Fisher-Yates)."""
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            order[i], order[j] = order[j], order[i]
        return order

    def hex(self, n: int) -> str:
        """`n` hex characters."""
        return "".join("0123456789abcdef"[self.below(16)] for _ in range(n))

    def alnum(self, n: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[self.below(len(alphabet))] for _ in range(n))
