"""`fake.logprobs`: logprobs in range, `top` lists sorted and headed by the sampled token, no repeats."""

from __future__ import annotations

import itertools
import math

import pytest

from openai_api_simulator.fake.logprobs import token_logprobs
from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.tokens import split_tokens

# " the", ",", "." and " a" are also in the alternatives pool: they must not be listed twice.
TOKENS = split_tokens("The cat, a dog and the bird sat on the mat. It was fine.")


@pytest.mark.parametrize("seed", ["a", "b", "c"])
def test_sampled_logprobs_are_log_probabilities_in_range(seed: str) -> None:
    out = token_logprobs(Rng(seed), TOKENS, top_n=3)
    assert [t.token for t in out] == TOKENS
    assert all(math.log(0.08) - 1e-9 <= t.logprob <= 0 for t in out)
    assert len({t.logprob for t in out}) > len(out) // 2  # drawn, not a constant


@pytest.mark.parametrize("top_n", [1, 2, 5, 20])
def test_top_lists_are_sorted_headed_by_the_sampled_token_without_repeats(top_n: int) -> None:
    for t in token_logprobs(Rng("top"), TOKENS, top_n=top_n):
        assert len(t.top) == top_n
        assert t.top[0] == (t.token, t.logprob)
        values = [lp for _, lp in t.top]
        assert all(a > b for a, b in itertools.pairwise(values)), t.top
        names = [tok for tok, _ in t.top]
        assert len(set(names)) == len(names), t.top


def test_top_zero_lists_nothing_but_keeps_the_logprob() -> None:
    with_top = token_logprobs(Rng("z"), TOKENS, top_n=4)
    without = token_logprobs(Rng("z"), TOKENS, top_n=0)
    assert all(t.top == () for t in without)
    assert [t.logprob for t in without] == [t.logprob for t in with_top]


def test_logprobs_are_deterministic_and_a_prefix_keeps_its_values() -> None:
    full = token_logprobs(Rng("p"), TOKENS, top_n=3)
    assert token_logprobs(Rng("p"), TOKENS, top_n=3) == full
    assert token_logprobs(Rng("p"), TOKENS[:4], top_n=3) == full[:4]  # a `max_tokens` cut changes nothing before it
    assert token_logprobs(Rng("q"), TOKENS, top_n=3) != full


def test_bytes_are_the_utf8_encoding_of_the_token() -> None:
    [t] = token_logprobs(Rng("b"), [" café"], top_n=0)
    assert t.bytes() == [32, 99, 97, 102, 195, 169]
