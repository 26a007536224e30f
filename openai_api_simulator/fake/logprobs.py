"""Deterministic log-probabilities for generated tokens.

Each sampled token gets a logprob in (-2.5, 0]; its alternatives are other tokens of the vocabulary with
strictly lower logprobs, so `top_logprobs` lists are sorted and headed by the sampled token, as OpenAI's are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from openai_api_simulator.fake.rng import Rng

_ALTERNATIVES = (
    " the",
    " a",
    ",",
    ".",
    " and",
    " of",
    " to",
    " in",
    " is",
    " that",
    " it",
    " for",
    " on",
    " with",
    " as",
    " was",
    " this",
    " one",
    " each",
    " which",
    " or",
    " by",
    "\n",
    " an",
)


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]  # (token, logprob), sampled token first

    def bytes(self) -> list[int]:
        return list(self.token.encode())


def token_logprobs(rng: Rng, tokens: Sequence[str], top_n: int) -> list[TokenLogprob]:
    out: list[TokenLogprob] = []
    for i, token in enumerate(tokens):
        r = rng.fork(i)
        logprob = round(math.log(0.08 + 0.92 * r.random()), 6)
        top: list[tuple[str, float]] = [(token, logprob)] if top_n > 0 else []
        current = logprob
        pool = [t for t in _ALTERNATIVES if t != token]
        start = r.below(len(pool))  # consecutive pool entries: alternatives never repeat within a list
        for k in range(max(0, top_n - 1)):
            current = round(current - 0.2 - 3.0 * r.random(), 6)
            top.append((pool[(start + k) % len(pool)], current))
        out.append(TokenLogprob(token, logprob, tuple(top)))
    return out
