"""`fake.schema.pattern`: every search answers as `re.search` does, and none of them backtracks for long.

There are no timings here: a pattern that backtracked catastrophically would not end within the test run's
timeout (``^(a+)+$`` against 5,000 ``a``s and a ``!`` is about 2^5000 steps), and which engine a pattern is
given is asserted directly.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_api_simulator import limits
from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema.pattern import MATCHERS, SafePattern, UnsafePattern, safe_pattern
from openai_api_simulator.fake.schema.regex import matching_string

ATOMS = ["a", "b", ".", "[ab]", "[^a]", r"\d", r"\w", r"\s", r"\b", r"\B", "^", "$", r"\A", r"\Z", "\n", "é", "_"]
QUANTIFIERS = ["*", "+", "?", "{2}", "{1,3}", "{,2}", "{2,}", "*?", "+?", "{0,1}"]


def patterns() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.lists(inner, min_size=2, max_size=3).map("".join),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + "|".join(xs) + ")"),
            st.tuples(inner, st.sampled_from(QUANTIFIERS)).map(lambda t: f"(?:{t[0]}){t[1]}"),
            st.tuples(inner, st.sampled_from(QUANTIFIERS)).map(lambda t: f"({t[0]}){t[1]}"),
        )

    return st.recursive(st.sampled_from(ATOMS), extend, max_leaves=8)


@settings(max_examples=250, deadline=None, database=None)
@given(pattern=patterns(), texts=st.lists(st.text(alphabet="ab1 _\né", max_size=8), min_size=1, max_size=6))
def test_the_automaton_answers_as_re_does(pattern: str, texts: list[str]) -> None:
    try:
        expected = re.compile(pattern)
    except re.error:
        return
    compiled = SafePattern(pattern)
    compiled.longest_safe = -1  # every search through the automaton, however cheap `re` would be
    for text in texts:
        assert compiled.search(text) == (expected.search(text) is not None), (pattern, text)


@pytest.mark.parametrize("pattern", [r"^(a+)+$", r"^(a|a)*$", r"(a*)*b", r"^(\w+\s?)+$", r"^(a|ab)*c$", r"((a?){2})*x"])
def test_patterns_that_backtrack_exponentially_are_never_given_to_re(pattern: str) -> None:
    compiled = safe_pattern(pattern)
    assert compiled.longest_safe == -1
    almost = "a" * 5_000 + "!"
    assert compiled.search(almost) == (re.search(pattern, "a" * 8 + "!") is not None)  # re: short only


def test_re_takes_the_strings_its_worst_case_is_small_for_and_the_automaton_the_rest() -> None:
    linear = safe_pattern(r"^[A-Z]{2}\d{4}$")  # no variable repeat: linear for re
    assert linear.longest_safe >= limits.MAX_BACKTRACKING_STEPS - 1
    quadratic = safe_pattern(r"\d+x")  # one repeat, tried from every start: (n + 1)^2 steps
    assert quadratic.longest_safe == int(limits.MAX_BACKTRACKING_STEPS**0.5) - 1
    assert quadratic.search("1" * 20_000) is False  # 4·10^8 steps for re
    assert quadratic.search("1" * 20_000 + "x") is True


def test_a_nested_repeat_the_automaton_cannot_take_is_refused_up_front() -> None:
    with pytest.raises(UnsafePattern, match=r"can backtrack catastrophically .* \(lookarounds"):
        SafePattern(r"^(?=x)(a+)+$")
    with pytest.raises(UnsafePattern, match=r"more than 10,000 states"):
        SafePattern(r"^(a{1,100}b){1,200}$")


def test_syntax_outside_the_automaton_is_matched_by_re_on_strings_short_enough() -> None:
    lookahead = safe_pattern(r"^(?=.*\d)[a-z0-9]{3,8}$")
    assert lookahead.search("abc1") and not lookahead.search("abcd")
    assert 0 < lookahead.longest_safe < 1_000
    with pytest.raises(UnsafePattern, match=r"only matched against strings of up to"):
        lookahead.search("a" * 1_000)


def test_long_patterns_and_long_matches_are_refused_with_the_limit() -> None:
    with pytest.raises(UnsafePattern, match="1,001 characters long; the simulator's limit is 1,000"):
        SafePattern("a" * 1_001)
    nested = safe_pattern(r"^(a+)+$")
    with pytest.raises(UnsafePattern, match=r"more than 2,000,000 steps"):
        nested.search("a" * (limits.MAX_AUTOMATON_STEPS // 5))


def test_an_empty_string_has_no_word_boundaries_as_re_sees_them() -> None:
    for pattern in (r"\B", r"\b", r"^\B$"):
        compiled = SafePattern(pattern)
        compiled.longest_safe = -1
        assert compiled.search("") == (re.search(pattern, "") is not None)


def test_a_string_too_long_to_check_is_redrawn_shorter_rather_than_failing_the_request() -> None:
    # 6,305 states: a 1,200-character candidate is over the automaton's budget, a shorter one is not.
    source = r"^(ab|cd|[0-9]){0,900}x0$"
    compiled = safe_pattern(source)
    with pytest.raises(UnsafePattern):
        compiled.search("ab" * 600 + "x0")

    texts = [matching_string(source, compiled, 0, None, Rng(f"long{i}"), list) for i in range(20)]
    assert all(t is not None and re.fullmatch(source.strip("^$"), t) for t in texts)


def test_checked_patterns_are_kept_within_their_byte_budget() -> None:
    for i in range(40):  # ~1.7 MB each: the default budget (1.3 MB) keeps none of them, and the small ones stay
        safe_pattern(rf"^(ab|cd|[0-9]){{0,900}}y{i}$")
        safe_pattern(rf"^[a-z]+{i}$")
    assert MATCHERS.nbytes <= MATCHERS.max_bytes
    assert MATCHERS.get(r"^[a-z]+39$") is not None and MATCHERS.get(r"^(ab|cd|[0-9]){0,900}y39$") is None
