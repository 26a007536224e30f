"""Matching ``pattern`` regexes in bounded time: Python's `re` where its backtracking is cheap, a
linear-time automaton where it is not, a clear refusal where neither can.

Python's `re` backtracks. ``^(a+)+$`` takes twice as long for every ``a`` more of a string that almost
matches, and even ``\\d+x`` is quadratic in a run of digits. The generator and the validator match the
request's patterns against strings that may come from the request too (a ``const``, an ``enum`` value, a
property name), and a match holds the interpreter until it ends, so one slow match would stall the server.

Each pattern is looked at once (`safe_pattern`, cached across requests):

* its worst case under backtracking, as a bound on the steps for a string of n characters: ``W·(n+1)^(k+1)``
  for k variable repeats and W ways through its alternations (``+1``: a search starts at every position),
  and infinite when a repeated part can itself vary (``(a+)+``, ``(a|ab)*``), which can match the same text
  in exponentially many ways;
* an automaton for it (Thompson's construction over `regex`'s tree), which decides a search in
  characters × states steps whatever the pattern.

`search` uses `re` for the strings its bound is small for, the automaton for the others, and refuses
(`UnsafePattern`) a string that is too long for the one it has. A pattern the automaton cannot take
(lookarounds, backreferences, possessive quantifiers, too many states) and whose bound is infinite even for
an empty string is refused up front: no string would be safe to match it against.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from openai_api_simulator import limits
from openai_api_simulator.config import DEFAULT_CACHE_MB, cache_bytes
from openai_api_simulator.fake.schema.regex import Alt, Assert, Chars, Node, Seq, parsed
from openai_api_simulator.lru import LRU

_CHAR: Final = 0
_SPLIT: Final = 1
_ASSERT: Final = 2
_MATCH: Final = 3
_WORD: Final = re.compile(r"\w")
# Before Python 3.14, \B never matches an empty string (the docs say so); asked of `re`, not of the version.
_B_IN_EMPTY: Final = re.search(r"\B", "") is not None
_VALID_QUANTIFIER: Final = re.compile(r"\{(\d+(,\d*)?|,\d+)\}")
_LOG_INFINITY: Final = 700.0  # math.exp overflows a little above 709


class UnsafePattern(ValueError):
    """The pattern, or this string for it, would take the simulator too long to match."""


class _Shape(NamedTuple):
    repeats: int  # variable repeats (lo < hi), a fixed repeat's counted as often as it repeats
    ways: float  # paths through the alternations
    nested: bool  # a variable repeat of a part that itself varies: exponential backtracking


def _power(x: float, n: int) -> float:
    return math.inf if n and n * math.log(x) > _LOG_INFINITY else x**n


def _shape(node: Node) -> _Shape:
    if isinstance(node, (Chars, Assert)):
        return _Shape(0, 1.0, False)
    if isinstance(node, Seq):
        parts = [_shape(part) for part in node.parts]
        return _Shape(sum(p.repeats for p in parts), math.prod(p.ways for p in parts), any(p.nested for p in parts))
    if isinstance(node, Alt):
        options = [_shape(option) for option in node.options]
        return _Shape(max(o.repeats for o in options), sum(o.ways for o in options), any(o.nested for o in options))
    body = _shape(node.node)
    if node.hi == node.lo:  # {n}: the body n times over, no choice of count
        return _Shape(body.repeats * node.lo, _power(body.ways, node.lo), body.nested)
    varies = body.repeats > 0 or body.ways > 1
    return _Shape(body.repeats + 1, body.ways, body.nested or (varies and (node.hi is None or node.hi > 1)))


def _text_shape(source: str) -> _Shape:
    """A conservative `_Shape` read off the text, for syntax `regex` does not parse (lookarounds...).

    Every quantifier counts as a variable repeat and every ``|`` doubles the ways; a quantifier right after
    a group that holds a quantifier or a ``|`` is a nested repeat. A backreference counts as a repeat: it
    matches its group's text again.
    """
    repeats, bars, nested = 0, 0, False
    groups: list[bool] = []  # per open group: whether it holds a quantifier or an alternation
    after_group: bool | None = None  # the token just read was a group (and whether it varies)
    after_quantifier = False
    i = 0
    while i < len(source):
        c = source[i]
        token_group: bool | None = None
        quantifier = False
        if c == "\\":
            if source[i + 1 : i + 2] in tuple("123456789") or source.startswith("g<", i + 1):
                repeats += 1
            i += 2
        elif c == "[":
            j = i + 1 + (source[i + 1 : i + 2] == "^")
            j += source[j : j + 1] == "]"
            while j < len(source) and source[j] != "]":
                j += 2 if source[j] == "\\" else 1
            i = j + 1
        elif c == "(":
            if source.startswith("(?P=", i):  # a named backreference, not a group
                repeats += 1
                i = source.find(")", i) + 1 or len(source)
            else:
                groups.append(False)
                i += 2 if source.startswith("(?", i) else 1
        elif c == ")":
            token_group = groups.pop() if groups else False
            if groups and token_group:
                groups[-1] = True
            i += 1
        elif c == "|":
            bars += 1
            if groups:
                groups[-1] = True
            i += 1
        elif c in "*+?" or (c == "{" and _VALID_QUANTIFIER.match(source, i)):
            quantifier = not after_quantifier  # else a lazy or possessive modifier
            match = _VALID_QUANTIFIER.match(source, i) if c == "{" else None
            i = match.end() if match else i + 1
            if quantifier:
                repeats += 1
                nested = nested or bool(after_group)
                if groups:
                    groups[-1] = True
        else:
            i += 1
        after_group, after_quantifier = token_group, quantifier
    return _Shape(repeats, _power(2.0, bars), nested)


def _nesting(source: str) -> int:
    """How deep the pattern's groups nest (escapes and character classes skipped)."""
    deepest = depth = i = 0
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 1
        elif c == "[":
            i += 1 + (source[i + 1 : i + 2] == "^")
            i += source[i : i + 1] == "]"
            while i < len(source) and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
        elif c == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif c == ")":
            depth -= 1
        i += 1
    return deepest


def _longest_safe(shape: _Shape) -> int:
    """The longest string `re` may be handed: its bound stays within `MAX_BACKTRACKING_STEPS` (-1: none)."""
    if shape.nested or math.isinf(shape.ways):
        return -1
    room = math.log(limits.MAX_BACKTRACKING_STEPS) - math.log(shape.ways)
    if room < 0:
        return -1
    return int(math.exp(room / (shape.repeats + 1))) - 1


class _TooLarge(Exception):
    pass


def _predicate(chars: Chars) -> Callable[[str], bool]:
    if chars.source == ".":
        return lambda ch: ch != "\n"
    if not chars.source:
        literal = chars.chars
        return lambda ch: ch == literal
    # A class is tested with `re` itself on one character: exact, and a one-character match cannot backtrack.
    compiled = re.compile(chars.source)
    known: dict[str, bool] = {}

    def test(ch: str) -> bool:
        hit = known.get(ch)
        if hit is None:
            hit = known[ch] = compiled.fullmatch(ch) is not None
        return hit

    return test


class _Automaton:
    """A Thompson NFA: each state tests one character, splits, asserts (``^ $ \\A \\Z \\b \\B``) or accepts."""

    def __init__(self, node: Node) -> None:
        self.kinds: list[int] = []
        self.args: list[Any] = []  # a predicate, the targets of a split, or an assertion's kind
        self.nexts: list[int] = []
        self.start = self._build(node, self._state(_MATCH, None, -1))

    @property
    def size(self) -> int:
        return len(self.kinds)

    def _state(self, kind: int, arg: Any, following: int) -> int:
        if len(self.kinds) >= limits.MAX_PATTERN_STATES:
            raise _TooLarge
        self.kinds.append(kind)
        self.args.append(arg)
        self.nexts.append(following)
        return len(self.kinds) - 1

    def _build(self, node: Node, following: int) -> int:
        """The state that matches `node` and then goes on to `following` (built back to front)."""
        if isinstance(node, Chars):
            return self._state(_CHAR, _predicate(node), following)
        if isinstance(node, Assert):
            return self._state(_ASSERT, node.kind, following)
        if isinstance(node, Seq):
            for part in reversed(node.parts):
                following = self._build(part, following)
            return following
        if isinstance(node, Alt):
            return self._state(_SPLIT, [self._build(option, following) for option in node.options], -1)
        start = following
        if node.hi is None:
            loop = self._state(_SPLIT, [], -1)
            self.args[loop] = [self._build(node.node, loop), following]
            start = loop
        else:
            for _ in range(node.hi - node.lo):  # x{0,2} is (x(x)?)?
                start = self._state(_SPLIT, [self._build(node.node, start), following], -1)
        for _ in range(node.lo):
            start = self._build(node.node, start)
        return start

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in `text` (what `re.search` answers), in len × states steps."""
        kinds, args, nexts, n = self.kinds, self.args, self.nexts, len(text)

        def holds(kind: str, pos: int) -> bool:
            if kind in "^A":
                return pos == 0
            if kind == "Z":
                return pos == n
            if kind == "$":
                return pos == n or (pos == n - 1 and text[pos] == "\n")
            if n == 0 and kind == "B":
                return _B_IN_EMPTY
            before = pos > 0 and _WORD.fullmatch(text[pos - 1]) is not None
            after = pos < n and _WORD.fullmatch(text[pos]) is not None
            return (before != after) == (kind == "b")

        def close(state: int, pos: int, into: list[int], seen: set[int]) -> bool:
            """Add the character-testing states reachable from `state` at `pos`; True once one accepts."""
            stack = [state]
            while stack:
                s = stack.pop()
                if s in seen:
                    continue
                seen.add(s)
                kind = kinds[s]
                if kind == _CHAR:
                    into.append(s)
                elif kind == _SPLIT:
                    stack.extend(args[s])
                elif kind == _ASSERT:
                    if holds(args[s], pos):
                        stack.append(nexts[s])
                else:
                    return True
            return False

        current: list[int] = []
        if close(self.start, 0, current, set()):
            return True
        for pos in range(n):
            ch = text[pos]
            following: list[int] = []
            seen: set[int] = set()
            for s in current:
                if args[s](ch) and close(nexts[s], pos + 1, following, seen):
                    return True
            # search, not match: a match may also start after this character
            if close(self.start, pos + 1, following, seen):
                return True
            current = following
        return False


class SafePattern:
    """A compiled pattern whose `search` never backtracks for long (see the module docstring)."""

    __slots__ = ("_automaton", "_compiled", "longest_safe", "source")

    def __init__(self, source: str) -> None:
        if len(source) > limits.MAX_PATTERN_CHARS:
            raise UnsafePattern(
                f"pattern is {len(source):,} characters long; the simulator's limit is {limits.MAX_PATTERN_CHARS:,}"
            )
        if _nesting(source) > limits.MAX_PATTERN_NESTING:
            raise UnsafePattern(
                f"pattern {source[:40]!r}... nests groups more than {limits.MAX_PATTERN_NESTING} deep, "
                "the simulator's limit"
            )
        self.source = source
        self._compiled = re.compile(source)  # re.error for a malformed pattern: the caller says so
        node, exact = parsed(source)
        shape = _shape(node) if node is not None else _text_shape(source)
        # The longest string Python's `re` may match it against (-1: none).
        self.longest_safe = _longest_safe(shape)
        self._automaton: _Automaton | None = None
        failure = "uses syntax the simulator's linear-time matcher does not take (lookarounds, backreferences...)"
        if node is not None and exact:
            try:
                self._automaton = _Automaton(node)
            except _TooLarge:
                failure = f"expands to more than {limits.MAX_PATTERN_STATES:,} states, the simulator's limit"
            except RecursionError:
                failure = "nests its groups too deeply for the simulator's linear-time matcher"
        if self._automaton is None and self.longest_safe < 0:
            raise UnsafePattern(
                f"pattern {source!r} can backtrack catastrophically (a repeated part that can match the same "
                f"text in more than one way, as in (a+)+ or (a|ab)*), and it {failure}; rewrite it so that "
                "each repeated part matches its text one way only"
            )

    @property
    def states(self) -> int:
        """The states of its linear-time automaton (0 when `re` alone matches it)."""
        return self._automaton.size if self._automaton is not None else 0

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in `text`; `UnsafePattern` when that would take too long."""
        n = len(text)
        if n <= self.longest_safe:
            return self._compiled.search(text) is not None
        automaton = self._automaton
        if automaton is None:
            raise UnsafePattern(
                f"matching pattern {self.source!r} against a string of {n:,} characters could take Python's "
                f"regex engine more than {limits.MAX_BACKTRACKING_STEPS:,} steps (the simulator's limit); "
                f"it is only matched against strings of up to {self.longest_safe:,} characters"
            )
        if n * automaton.size > limits.MAX_AUTOMATON_STEPS:
            raise UnsafePattern(
                f"matching pattern {self.source!r} against a string of {n:,} characters needs more than "
                f"{limits.MAX_AUTOMATON_STEPS:,} steps (characters × {automaton.size:,} states), "
                "the simulator's limit"
            )
        return automaton.search(text)


# Checked patterns by source, across requests (tool schemas repeat). Bounded by bytes: an automaton costs ~270
# bytes a state (measured with tracemalloc; up to `limits.MAX_PATTERN_STATES` states, ~2.7 MB), the compiled
# `re` pattern and the source a few hundred bytes a character. Process-wide, sized by `fake.caches`.
MATCHERS: LRU[str, SafePattern] = LRU(cache_bytes(DEFAULT_CACHE_MB, "matchers"))
_BYTES_PER_STATE: Final = 300
_BYTES_PER_SOURCE_CHAR: Final = 256


def safe_pattern(source: str) -> SafePattern:
    """The `SafePattern` for `source`, built once while it stays in `MATCHERS` (tool schemas repeat).

    Raises `re.error` for a malformed pattern and `UnsafePattern` for one the simulator refuses; neither
    is cached, so the error is raised again for every request that sends it.
    """
    hit = MATCHERS.get(source)
    if hit is not None:
        return hit
    matcher = SafePattern(source)
    MATCHERS.put(source, matcher, _BYTES_PER_STATE * matcher.states + _BYTES_PER_SOURCE_CHAR * len(source))
    return matcher
