"""`fake.schema.regex`: strings built from a pattern's structure match it within the length bounds."""

from __future__ import annotations

import re

import pytest

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema.regex import matching_string, parse_pattern
from tests.fake.schema.support import SEEDS


@pytest.mark.parametrize(
    ("pattern", "lo", "hi"),
    [
        ("^[a-z]+$", 0, None),
        ("^[a-z]+$", 10, 12),
        (r"^\d{3}-\d{4}$", 0, None),
        ("^(foo|bar)-[0-9a-f]{4}$", 0, None),
        (r"^v\d+(\.\d+){0,2}(-rc\d)?$", 0, 6),
        (r"^[^@\s]+@example\.org$", 0, None),
        ("abc", 8, 8),
        ("^id", 8, None),
        (r"^\u00e9\x41[\]\-]{2}$", 0, None),
        ("^(a|bb|ccc){2,3}$", 7, 9),
    ],
)
def test_strings_match_and_fit(pattern: str, lo: int, hi: int | None) -> None:
    compiled = re.compile(pattern)
    for seed in SEEDS:
        text = matching_string(pattern, compiled, lo, hi, Rng(seed), list)
        assert text is not None
        assert compiled.search(text) and len(text) >= lo and (hi is None or len(text) <= hi), text


@pytest.mark.parametrize("pattern", [r"^(?=.*\d)[a-z]+$", r"^(a)\1$", r"^\p{L}+$", "^a{2}{3}$"])
def test_syntax_outside_the_subset_is_not_parsed(pattern: str) -> None:
    assert parse_pattern(pattern) is None


def test_unparsed_patterns_fall_back_to_stock_strings_and_the_callers_candidates() -> None:
    assert matching_string("^(?!b)a$", re.compile("^(?!b)a$"), 0, None, Rng("s"), list) == "a"
    fallback = matching_string("^(?=q)qq$", re.compile("^(?=q)qq$"), 0, None, Rng("s"), lambda: ["zz", "qq"])
    assert fallback == "qq"
    assert matching_string("^(?=q)qq$", re.compile("^(?=q)qq$"), 0, None, Rng("s"), list) is None


def test_lengths_the_pattern_cannot_reach_give_none() -> None:
    assert matching_string("^[a-z]{3}$", re.compile("^[a-z]{3}$"), 5, None, Rng("s"), list) is None


def test_parsed_patterns_are_cached() -> None:
    assert parse_pattern("^[A-Z]{2}[0-9]{4}$") is parse_pattern("^[A-Z]{2}[0-9]{4}$")
