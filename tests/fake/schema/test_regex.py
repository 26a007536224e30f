"""`fake.schema.regex`: strings built from a pattern's structure match it within the length bounds."""

from __future__ import annotations

import re

import pytest

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema.regex import PATTERNS, matching_string, parse_pattern
from tests.fake.schema.support import SEEDS
from tests.support.memory import held_bytes


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
    assert parse_pattern("(?=x)") is None and len(PATTERNS) > 0  # an unsupported pattern is cached too


@pytest.mark.usefixtures("default_cache_sizes")
def test_the_pattern_cache_is_bounded_by_bytes_and_skips_a_pattern_larger_than_itself() -> None:
    PATTERNS.resize(0)
    PATTERNS.resize(500_000)
    for i in range(100):  # 100 trees of a 1 KB pattern: about 9 MB unbounded
        parse_pattern(f"^id{i}-" + "a" * 1000 + "$")
    assert PATTERNS.nbytes <= 500_000 and len(PATTERNS) < 10
    huge = "x" * 10_000 + "y?"
    tree = parse_pattern(huge)
    assert tree is not None and tree is not parse_pattern(huge)  # parsed each time, never kept


@pytest.mark.usefixtures("default_cache_sizes")
@pytest.mark.parametrize("unit", ["a", "\\w", ".", "(a|b)", "[^x]", "é", "\\d?", "[\\u4e00-\\u9fff]"])
def test_the_pattern_cache_counts_at_least_what_it_holds(unit: str) -> None:
    PATTERNS.resize(0)
    PATTERNS.resize(100_000_000)
    held = held_bytes(lambda: [parse_pattern(f"{i}:" + unit * 20) for i in range(10)])
    assert held <= PATTERNS.nbytes
