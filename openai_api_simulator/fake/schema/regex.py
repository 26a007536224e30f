"""Strings that match a ``pattern``: a parser for the common regex subset and a length-aware renderer.

Patterns in tool schemas are mostly simple (``^[A-Z]{2}\\d{4}$``, ``^(foo|bar)-[0-9a-f]+$``), and
rejection sampling almost never hits them, so the generator builds matching strings from the pattern's
structure, aiming at a length the schema allows.  Syntax outside the subset (lookarounds, backreferences,
``\\p{...}``) falls back to stock strings; whatever is produced is still checked with `re.search`, the
way the validator checks it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from openai_api_simulator.fake.rng import Rng


@dataclass(frozen=True)
class _Chars:
    chars: str  # the characters this atom may produce (never empty)


@dataclass(frozen=True)
class _Seq:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class _Alt:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class _Repeat:
    node: Node
    lo: int
    hi: int | None


Node = _Chars | _Seq | _Alt | _Repeat
_EMPTY: Final = _Seq(())
_DOT_CHARS: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_UNIVERSE: Final = "".join(chr(c) for c in range(0x20, 0x7F))
_QUANTIFIER: Final = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_CONTROL_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
# Tried when the pattern's syntax is not covered: simple patterns of unusual syntax often accept one.
_STOCK: Final = ("", "a", "x", "0", "1", "example", "test", "A", "a1", "2024-01-01", "hello world")


class _Unsupported(Exception):
    """The pattern uses syntax the small generator does not handle (lookarounds, backreferences...)."""


def matching_string(
    pattern: str, compiled: re.Pattern[str], lo: int, hi: int | None, rng: Rng, fallbacks: Callable[[], list[str]]
) -> str | None:
    """A string `compiled.search` accepts with a length in [lo, hi], or None when none was found.

    `fallbacks` gives extra candidates (plain words) for when the pattern's syntax is not covered.
    """

    def fits(text: str) -> bool:
        return len(text) >= lo and (hi is None or len(text) <= hi) and compiled.search(text) is not None

    node = parse_pattern(pattern)
    if node is not None:
        node_lo, node_hi = _width(node)
        target_lo = max(node_lo, lo)
        target_hi = node_hi if hi is None else hi if node_hi is None else min(node_hi, hi)
        for attempt in range(12):
            draw = rng.fork("try", attempt)
            top = target_lo + 8 if target_hi is None else target_hi
            target = draw.between(target_lo, top) if target_lo <= top else target_lo
            text = _render(node, target, draw)
            # JSON Schema patterns are unanchored: an unanchored side can take filler.
            if len(text) < lo and not pattern.endswith("$"):
                text += "x" * (lo - len(text))
            elif len(text) < lo and not pattern.startswith("^"):
                text = "x" * (lo - len(text)) + text
            if fits(text):
                return text
    for candidate in [*_STOCK, *fallbacks()]:
        if fits(candidate):
            return candidate
    return None


@functools.lru_cache(maxsize=1024)
def parse_pattern(source: str) -> Node | None:
    """The pattern as a tree of nodes, or None when it uses syntax outside the subset.

    Cached across requests: tool schemas repeat, and the nodes are immutable.
    """
    try:
        return _PatternParser(source).parse()
    except _Unsupported:
        return None


def _class_chars(source: str) -> str:
    """The characters a character class (``[a-z]``, ``\\w``...) matches, found by asking `re` itself.

    Testing candidates against the compiled class gets every detail of class syntax right (ranges,
    negation, escapes) without reimplementing it.  Candidates are printable ASCII plus the
    neighbourhood of any non-ASCII character the class mentions.
    """
    try:
        compiled = re.compile(source)
    except re.error as exc:
        raise _Unsupported from exc
    codes = {ord(ch) for ch in source if ord(ch) > 0x7E}
    for escaped in re.findall(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})", source):
        codes.add(int("".join(escaped), 16))
    extra = sorted({c + i for c in codes for i in range(32)} - set(range(0x20, 0x7F)) - set(range(0xD800, 0xE000)))
    pool = _UNIVERSE + "".join(chr(c) for c in extra if c < 0x110000)
    chars = "".join(ch for ch in pool if compiled.fullmatch(ch))
    if not chars:
        raise _Unsupported
    return chars


class _PatternParser:
    """Parses the common subset of regex syntax: literals, classes, groups, alternation, quantifiers."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0

    def parse(self) -> Node:
        node = self._alternation()
        if self.pos != len(self.src):
            raise _Unsupported
        return node

    def _peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def _alternation(self) -> Node:
        options = [self._sequence()]
        while self._peek() == "|":
            self.pos += 1
            options.append(self._sequence())
        return options[0] if len(options) == 1 else _Alt(tuple(options))

    def _sequence(self) -> Node:
        parts: list[Node] = []
        while self._peek() not in ("", "|", ")"):
            parts.append(self._quantified(self._atom()))
        return parts[0] if len(parts) == 1 else _Seq(tuple(parts))

    def _atom(self) -> Node:
        src, c = self.src, self.src[self.pos]
        if c == "(":
            self.pos += 1
            if src.startswith("?:", self.pos):
                self.pos += 2
            elif src.startswith("?P<", self.pos) or (
                src.startswith("?<", self.pos) and src[self.pos + 2 : self.pos + 3] not in ("=", "!")
            ):
                end = src.find(">", self.pos)
                if end < 0:
                    raise _Unsupported
                self.pos = end + 1
            elif src.startswith("?", self.pos):
                raise _Unsupported  # lookarounds, inline flags, conditionals
            node = self._alternation()
            if self._peek() != ")":
                raise _Unsupported
            self.pos += 1
            return node
        if c == "[":
            return self._class()
        if c in "^$":
            self.pos += 1
            return _EMPTY
        if c == ".":
            self.pos += 1
            return _Chars(_DOT_CHARS)
        if c == "\\":
            return self._escape()
        if c in "*+?" or (c == "{" and self._quantifier_at(self.pos) is not None):
            raise _Unsupported  # nothing to repeat
        self.pos += 1
        return _Chars(c)

    def _class(self) -> Node:
        src, start = self.src, self.pos
        i = start + 1
        if src[i : i + 1] == "^":
            i += 1
        if src[i : i + 1] == "]":
            i += 1  # a leading ']' is literal
        while i < len(src) and src[i] != "]":
            i += 2 if src[i] == "\\" else 1
        if i >= len(src):
            raise _Unsupported
        self.pos = i + 1
        return _Chars(_class_chars(src[start : self.pos]))

    def _escape(self) -> Node:
        if self.pos + 1 >= len(self.src):
            raise _Unsupported
        d = self.src[self.pos + 1]
        self.pos += 2
        if d in "dwsDWS":
            return _Chars(_class_chars("\\" + d))
        if d in "bBAZ":
            return _EMPTY  # zero-width; whether it holds is left to the final re.search check
        if d in _CONTROL_ESCAPES:
            return _Chars(_CONTROL_ESCAPES[d])
        if d in "xu":
            width = 2 if d == "x" else 4
            digits = self.src[self.pos : self.pos + width]
            if len(digits) != width or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                raise _Unsupported
            self.pos += width
            code = int(digits, 16)
            if 0xD800 <= code < 0xE000:
                raise _Unsupported  # a lone surrogate: no string an answer can carry (UTF-8 has none)
            return _Chars(chr(code))
        if d.isalnum():
            raise _Unsupported  # backreferences, \p{...} and other escapes
        return _Chars(d)

    def _quantifier_at(self, pos: int) -> tuple[int, int | None, int] | None:
        match = _QUANTIFIER.match(self.src, pos)
        if match is None or not (match.group(1) or match.group(2)):
            return None  # Python reads '{' without a valid quantifier as a literal
        lo = int(match.group(1) or 0)
        hi: int | None = lo if match.group(2) is None else int(match.group(3)) if match.group(3) else None
        return lo, hi, match.end()

    def _quantified(self, node: Node) -> Node:
        c = self._peek()
        if c == "*":
            lo, hi, end = 0, None, self.pos + 1
        elif c == "+":
            lo, hi, end = 1, None, self.pos + 1
        elif c == "?":
            lo, hi, end = 0, 1, self.pos + 1
        elif c == "{" and (quantifier := self._quantifier_at(self.pos)) is not None:
            lo, hi, end = quantifier
        else:
            return node
        self.pos = end
        if self._peek() in ("?", "+"):
            self.pos += 1  # lazy / possessive: the same strings match
        return _Repeat(node, lo, hi)


def _width(node: Node) -> tuple[int, int | None]:
    """Shortest and longest (None: unbounded) string a node produces."""
    if isinstance(node, _Chars):
        return 1, 1
    if isinstance(node, _Seq):
        widths = [_width(part) for part in node.parts]
        highs = [hi for _, hi in widths]
        return sum(lo for lo, _ in widths), None if None in highs else sum(h for h in highs if h is not None)
    if isinstance(node, _Alt):
        widths = [_width(option) for option in node.options]
        highs = [hi for _, hi in widths]
        return min(lo for lo, _ in widths), None if None in highs else max(h for h in highs if h is not None)
    child_lo, child_hi = _width(node.node)
    if node.hi == 0 or child_hi == 0:
        return 0, 0
    hi = None if node.hi is None or child_hi is None else node.hi * child_hi
    return node.lo * child_lo, hi


def _allocate(widths: list[tuple[int, int | None]], target: int, rng: Rng) -> list[int]:
    """Split `target` characters among parts, each within its (min, max) width."""
    sizes = [lo for lo, _ in widths]
    remaining = target - sum(sizes)
    while remaining > 0:
        open_parts = [i for i, (_, hi) in enumerate(widths) if hi is None or sizes[i] < hi]
        if not open_parts:
            break
        i = rng.choice(open_parts)
        hi = widths[i][1]
        room = remaining if hi is None else min(remaining, hi - sizes[i])
        step = rng.between(1, room)
        sizes[i] += step
        remaining -= step
    return sizes


def _pick_char(chars: str, rng: Rng) -> str:
    if len(chars) == 1:
        return chars
    # Prefer letters and digits where the class allows more: values then look like identifiers.
    nice = [c for c in chars if c.isascii() and c.isalnum()]
    if nice and len(nice) < len(chars) and rng.chance(0.9):
        return rng.choice(nice)
    return rng.choice(chars)


def _render(node: Node, target: int, rng: Rng) -> str:
    """A string the node matches, as close to `target` characters as the node allows."""
    if isinstance(node, _Chars):
        return _pick_char(node.chars, rng)
    if isinstance(node, _Seq):
        sizes = _allocate([_width(part) for part in node.parts], target, rng)
        return "".join(_render(part, size, rng) for part, size in zip(node.parts, sizes, strict=True))
    if isinstance(node, _Alt):

        def distance(option: Node) -> int:
            lo, hi = _width(option)
            return max(lo - target, 0, target - hi if hi is not None else 0)

        fitting = [option for option in node.options if distance(option) == 0]
        option = rng.choice(fitting) if fitting else min(node.options, key=distance)
        return _render(option, target, rng)
    child_lo, child_hi = _width(node.node)
    if child_hi == 0:
        return ""
    n_min = node.lo if child_hi is None else max(node.lo, -(-target // child_hi))
    n_max = target // child_lo if child_lo > 0 else n_min + 3
    if node.hi is not None:
        n_max = min(n_max, node.hi)
    if n_min <= n_max:
        n = rng.between(n_min, min(n_max, n_min + 4))
    else:  # the target is out of reach: get as close as the bounds allow
        n = n_min if node.hi is None else min(n_min, node.hi)
    sizes = _allocate([(child_lo, child_hi)] * n, target, rng)
    return "".join(_render(node.node, size, rng) for size in sizes)
