"""The fake tokenizer: lossless splitting, and a counter that agrees with it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from openai_api_simulator.fake.tokens import count_tokens, split_tokens


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_split_is_lossless_and_count_agrees(text: str) -> None:
    tokens = split_tokens(text)
    assert "".join(tokens) == text
    assert all(tokens)
    assert count_tokens(text) == len(tokens)


def test_words_carry_their_leading_space_and_long_words_split() -> None:
    assert split_tokens("Hello, world!") == ["Hello", ",", " world", "!"]
    assert split_tokens(" extraordinarily") == [" extra", "ordina", "rily"]
    assert split_tokens("12345") == ["123", "45"]
