"""`fake.schema.words`: plain strings read as words, take words from the prompt and fit length bounds."""

from __future__ import annotations

import pytest

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema import generate
from openai_api_simulator.fake.schema.words import Words
from tests.fake.schema.support import SEEDS


def test_hint_words_appear_in_strings() -> None:
    outputs = [generate({"type": "string"}, Rng(seed), hint="tell me about volcanoes") for seed in SEEDS]
    assert any("volcanoes" in output for output in outputs)


@pytest.mark.parametrize(("lo", "hi"), [(0, None), (0, 1), (5, 8), (39, 41), (120, None), (300, 300)])
def test_plain_strings_fit_the_bounds(lo: int, hi: int | None) -> None:
    words = Words("")
    for seed in SEEDS:
        text = words.plain_string(Rng(seed), lo, hi)
        assert len(text) >= lo
        assert hi is None or len(text) <= hi


def test_plain_strings_are_lowercase_words() -> None:
    texts = [Words("").plain_string(Rng(seed), 0, None) for seed in SEEDS]
    assert all(text and text == text.lower() and all(word.isalpha() for word in text.split()) for text in texts)
