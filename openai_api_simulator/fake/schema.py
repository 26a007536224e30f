"""JSON values that validate against a JSON Schema, drawn deterministically from a random stream.

The fake model answers tool calls (function ``parameters``) and ``response_format: json_schema``
requests with these values, so the one hard rule is: *the output validates*.  Every generated value is
checked against the original schema by a small built-in validator before it is returned; a draw that
fails a best-effort keyword (``pattern``, ``oneOf``, ``not``, ``uniqueItems``, ``contains``...) is
redrawn from a forked stream, and a schema that no value can satisfy raises `SchemaError` instead of
ever returning an invalid value.

Determinism: the output is a pure function of the schema, the hint and the `Rng` seed.  Each sub-part
draws from its own fork (``prop/<name>``, ``item/<i>``, ...) so that, for example, adding a property to
a schema does not change the values generated for the others.

The validator follows the semantics of the ``jsonschema`` package (draft 2020-12, plus the older
``definitions``/``dependencies``/array-form ``items`` spellings), including its float arithmetic for
``multipleOf``, because that is what clients' test suites will check the output with.
"""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, NamedTuple
from urllib.parse import unquote

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.text import sentence, topic_words

__all__ = ["SchemaError", "generate", "validate_schema_supported"]


class SchemaError(ValueError):
    """The schema cannot be used: it is malformed, has an unresolvable ``$ref``, or nothing satisfies it.

    ``str(error)`` is ``"<JSON pointer>: <reason>"``; the parts are also available as attributes.
    """

    def __init__(self, reason: str, pointer: str = "#") -> None:
        super().__init__(f"{pointer}: {reason}")
        self.reason = reason
        self.pointer = pointer


class _Budget(SchemaError):
    """Generation did too much work.  Never caught by the fallbacks: retrying would only do more."""


class _Unlucky(Exception):
    """A draw failed a best-effort keyword; a draw from another stream may succeed."""

    def __init__(self, reason: str, pointer: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pointer = pointer


class _Conflict(Exception):
    """Two ``allOf`` parts contradict each other (the merge is the ``false`` schema)."""


# Beyond this many `$ref` expansions (or nested containers) on one path, recursion winds down: optional
# properties are dropped, arrays shrink to minItems and anyOf takes its shallowest branch.
_MINIMAL_REFS: Final = 4
_MINIMAL_DEPTH: Final = 8
# A safety net for schemas whose every instance nests forever (caught statically in most cases).
_HARD_DEPTH: Final = 48
# Redraws after a best-effort miss; only mismatching draws pay for them, so be generous.
_ATTEMPTS: Final = 16
_BUDGET: Final = 20_000
_OPTIONAL_P: Final = 0.6

_TYPE_NAMES: Final = ("string", "number", "integer", "boolean", "null", "object", "array")
_SCALARS: Final = frozenset({"string", "number", "integer", "boolean", "null"})
# Keywords that never constrain a value: they are skipped when merging allOf parts.
_ANNOTATIONS: Final = frozenset(
    {
        "title", "description", "default", "examples", "$comment", "$schema", "$id", "$anchor",
        "$defs", "definitions", "deprecated", "readOnly", "writeOnly", "$vocabulary",
        "contentMediaType", "contentEncoding", "contentSchema", "$dynamicAnchor",
    }
)  # fmt: skip
_OBJECT_KEYS: Final = frozenset(
    {
        "properties", "required", "additionalProperties", "patternProperties", "minProperties",
        "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas",
    }
)  # fmt: skip
_ARRAY_KEYS: Final = frozenset(
    {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains"}
)
_STRING_KEYS: Final = frozenset({"minLength", "maxLength", "pattern", "format"})
_NUMBER_KEYS: Final = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
# When a schema allows anything, prefer readable scalars over deep structures.
_ANY_WEIGHTS: Final = {"string": 4, "integer": 2, "number": 1, "boolean": 2, "null": 1}

_ADJECTIVES: Final = (
    "quiet", "bright", "simple", "green", "rapid", "gentle", "silver", "early", "clear", "solid",
    "warm", "bold", "calm", "fresh", "lucky", "amber", "steady", "north", "little", "open",
)  # fmt: skip
_NOUNS: Final = (
    "river", "garden", "signal", "harbor", "engine", "meadow", "lantern", "bridge", "orbit", "forest",
    "canvas", "pixel", "falcon", "summit", "ember", "maple", "anchor", "comet", "valley", "record",
)  # fmt: skip
_FIRST_NAMES: Final = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger", "Radia",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
    "Dijkstra", "Perlman",
)  # fmt: skip
_CITIES: Final = ("Lisbon", "Oslo", "Kyoto", "Denver", "Nairobi", "Montreal", "Porto", "Tallinn", "Auckland")
_COUNTRIES: Final = ("Portugal", "Norway", "Japan", "Canada", "Kenya", "Estonia", "New Zealand", "Chile")
_COLORS: Final = ("red", "blue", "green", "teal", "orange", "purple", "yellow", "gray")
_LANGUAGES: Final = ("English", "Portuguese", "Japanese", "Spanish", "French", "German")
_CURRENCIES: Final = ("USD", "EUR", "JPY", "GBP", "CAD", "CHF")
_STATUSES: Final = ("active", "pending", "completed", "archived")
_PROSE_NAMES: Final = frozenset(
    {
        "description", "summary", "text", "content", "message", "body", "comment", "reason",
        "explanation", "answer", "notes", "note", "details", "bio", "review", "feedback", "response",
        "instructions", "reasoning", "thought", "thoughts", "analysis", "justification", "rationale",
    }
)  # fmt: skip
_WORD_NAMES: Final = frozenset(
    {"tag", "tags", "keyword", "keywords", "category", "categories", "topic", "topics", "label", "labels"}
)

# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def generate(schema: Mapping[str, Any] | bool, rng: Rng, *, hint: str = "") -> Any:
    """A JSON value (dicts, lists, str, int, float, bool, None) that validates against `schema`.

    `hint` is free text (typically the user's prompt); its content words may appear in string values.
    Raises `SchemaError` for the schemas `validate_schema_supported` rejects and for any schema no
    value can be generated for.
    """
    generator = _Generator(schema, hint)
    generator.check()
    return generator.generate(rng)


def validate_schema_supported(schema: Any) -> None:
    """Raise `SchemaError` unless `generate` can produce values for `schema`.

    Checks the structure (objects or booleans all the way down, well-formed keywords, local ``$ref``s
    that resolve, regexes that compile), rejects obvious contradictions anywhere in the schema
    (``enum: []``, ``minimum > maximum``, ``minItems > maxItems``, ``not: {}``...) and finally does a
    trial generation, which catches what only shows up when generating (e.g. an unmatchable pattern).
    """
    generator = _Generator(schema, "")
    generator.check()
    generator.generate(Rng("validate_schema_supported"))


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _ptr(base: str, *tokens: object) -> str:
    """Extend a JSON pointer (``#/properties/a~1b``) with escaped tokens."""
    parts = [str(token).replace("~", "~0").replace("/", "~1") for token in tokens]
    return "/".join([base, *parts])


def _kind(value: Any) -> str:
    """The JSON name of a Python value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_type(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return _is_number(value)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, (list, tuple))
    if name == "object":
        return isinstance(value, Mapping)
    return False


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``True != 1``; lists and objects compare structurally."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int | None:
    """A non-negative integer keyword value (``2`` or ``2.0``), else None."""
    if isinstance(value, bool) or not _is_number(value):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if value >= 0 else None


def _frac(value: int | float) -> Fraction:
    # str() gives the decimal the schema author wrote (0.1, not 0.1000000000000000055...).
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def _is_multiple(value: int | float, divisor: int | float) -> bool:
    """`value` is a multiple of `divisor`, with the float semantics of the ``jsonschema`` package."""
    if isinstance(divisor, float):
        quotient = value / divisor
        try:
            return int(quotient) == quotient
        except OverflowError:
            return (Fraction(value) / Fraction(divisor)).denominator == 1
    return not value % divisor


class _Bounds(NamedTuple):
    lo: int | float | None
    lo_exclusive: bool
    hi: int | float | None
    hi_exclusive: bool

    def contains(self, value: int | float) -> bool:
        if self.lo is not None and (value < self.lo or (self.lo_exclusive and value == self.lo)):
            return False
        return not (self.hi is not None and (value > self.hi or (self.hi_exclusive and value == self.hi)))


def _bounds(schema: Mapping[str, Any]) -> _Bounds:
    """Numeric bounds, accepting both the draft 6+ numeric and the draft 4 boolean ``exclusive*``."""
    lo = schema.get("minimum") if _is_number(schema.get("minimum")) else None
    hi = schema.get("maximum") if _is_number(schema.get("maximum")) else None
    lo_ex = hi_ex = False
    ex_lo = schema.get("exclusiveMinimum")
    if isinstance(ex_lo, bool):
        lo_ex = ex_lo and lo is not None
    elif _is_number(ex_lo) and (lo is None or ex_lo >= lo):
        lo, lo_ex = ex_lo, True
    ex_hi = schema.get("exclusiveMaximum")
    if isinstance(ex_hi, bool):
        hi_ex = ex_hi and hi is not None
    elif _is_number(ex_hi) and (hi is None or ex_hi <= hi):
        hi, hi_ex = ex_hi, True
    return _Bounds(lo, lo_ex, hi, hi_ex)


def _integer_range(bounds: _Bounds) -> tuple[int | None, int | None]:
    lo = None if bounds.lo is None else math.floor(bounds.lo) + 1 if bounds.lo_exclusive else math.ceil(bounds.lo)
    hi = None if bounds.hi is None else math.ceil(bounds.hi) - 1 if bounds.hi_exclusive else math.floor(bounds.hi)
    return lo, hi


def _is_trivially_true(schema: Any) -> bool:
    return schema is True or (isinstance(schema, Mapping) and all(k in _ANNOTATIONS for k in schema))


def _weighted(rng: Rng, options: list[str], weights: Mapping[str, int]) -> str:
    total = sum(weights.get(option, 3) for option in options)
    point = rng.random() * total
    for option in options:
        point -= weights.get(option, 3)
        if point < 0:
            return option
    return options[-1]


def _shuffled(rng: Rng, n: int) -> list[int]:
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


# --------------------------------------------------------------------------------------------------
# allOf merging
# --------------------------------------------------------------------------------------------------


def _intersect_types(a: Any, b: Any) -> list[str]:
    left = [a] if isinstance(a, str) else _list(a)
    right = [b] if isinstance(b, str) else _list(b)
    out: list[str] = []
    for name in left:
        if name in right:
            out.append(name)
        elif {name, *right} >= {"integer", "number"} and name in ("integer", "number"):
            out.append("integer")  # integer is a subset of number
    return list(dict.fromkeys(out))


def _merge_keyword(key: str, a: Any, b: Any) -> Any:
    """One keyword of the merge of two schemas that must both hold (best effort, see `_merge`)."""
    if _json_equal(a, b):
        return a
    if key == "type":
        types = _intersect_types(a, b)
        if not types:
            raise _Conflict
        return types
    if key in ("properties", "patternProperties", "dependentSchemas"):
        merged = dict(_mapping(a))
        for name, sub in _mapping(b).items():
            merged[name] = {"allOf": [merged[name], sub]} if name in merged else sub
        return merged
    if key == "required":
        return list(dict.fromkeys([*_list(a), *_list(b)]))
    if key in ("minimum", "minLength", "minItems", "minProperties", "minContains") and _is_number(a):
        return max(a, b) if _is_number(b) else a
    if key in ("maximum", "maxLength", "maxItems", "maxProperties", "maxContains") and _is_number(a):
        return min(a, b) if _is_number(b) else a
    if key == "exclusiveMinimum" and _is_number(a) and _is_number(b):
        return max(a, b)
    if key == "exclusiveMaximum" and _is_number(a) and _is_number(b):
        return min(a, b)
    if key == "multipleOf" and _is_number(a) and _is_number(b):
        fa, fb = _frac(a), _frac(b)
        lcm = Fraction(math.lcm(fa.numerator, fb.numerator), math.gcd(fa.denominator, fb.denominator))
        return int(lcm) if lcm.denominator == 1 else float(lcm)
    if key == "enum":
        common = [v for v in _list(a) if any(_json_equal(v, w) for w in _list(b))]
        if not common:
            raise _Conflict
        return common
    if key == "const":
        raise _Conflict  # equal consts returned above
    if key == "uniqueItems":
        return bool(a) or bool(b)
    if key in ("items", "additionalProperties", "additionalItems", "contains", "propertyNames"):
        return {"allOf": [a, b]}
    if key == "prefixItems":
        left, right = _list(a), _list(b)
        longer = left if len(left) >= len(right) else right
        return [
            {"allOf": [left[i], right[i]]} if i < len(left) and i < len(right) else longer[i]
            for i in range(len(longer))
        ]
    if key == "not":
        return {"anyOf": [a, b]}  # not A and not B == not (A or B)
    # pattern, format, anyOf, oneOf, if...: keep one; the final check against the original schema
    # enforces the other.
    return a


def _merge(a: Any, b: Any) -> Any:
    """A schema requiring both `a` and `b` (flat, i.e. without top-level $ref/allOf), or False.

    Exact for most keywords; where it is not (two patterns, two anyOfs...), the merge keeps one side and
    relies on the check every generated value goes through.
    """
    if a is False or b is False:
        return False
    if a is True or not isinstance(a, Mapping):
        return dict(b) if isinstance(b, Mapping) else b
    if b is True or not isinstance(b, Mapping):
        return a
    out = dict(a)
    try:
        for key, value in b.items():
            if key in _ANNOTATIONS:
                continue
            out[key] = _merge_keyword(key, out[key], value) if key in out else value
    except _Conflict:
        return False
    return out


# --------------------------------------------------------------------------------------------------
# Regex-driven string generation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chars:
    chars: str  # the characters this atom may produce (never empty)


@dataclass(frozen=True)
class _Seq:
    parts: tuple[_Node, ...]


@dataclass(frozen=True)
class _Alt:
    options: tuple[_Node, ...]


@dataclass(frozen=True)
class _Repeat:
    node: _Node
    lo: int
    hi: int | None


_Node = _Chars | _Seq | _Alt | _Repeat
_EMPTY: Final = _Seq(())
_DOT_CHARS: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_UNIVERSE: Final = "".join(chr(c) for c in range(0x20, 0x7F))
_QUANTIFIER: Final = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_CONTROL_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}


class _Unsupported(Exception):
    """The pattern uses syntax the small generator does not handle (lookarounds, backreferences...)."""


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

    def parse(self) -> _Node:
        node = self._alternation()
        if self.pos != len(self.src):
            raise _Unsupported
        return node

    def _peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def _alternation(self) -> _Node:
        options = [self._sequence()]
        while self._peek() == "|":
            self.pos += 1
            options.append(self._sequence())
        return options[0] if len(options) == 1 else _Alt(tuple(options))

    def _sequence(self) -> _Node:
        parts: list[_Node] = []
        while self._peek() not in ("", "|", ")"):
            parts.append(self._quantified(self._atom()))
        return parts[0] if len(parts) == 1 else _Seq(tuple(parts))

    def _atom(self) -> _Node:
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

    def _class(self) -> _Node:
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

    def _escape(self) -> _Node:
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
            return _Chars(chr(int(digits, 16)))
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

    def _quantified(self, node: _Node) -> _Node:
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


def _width(node: _Node) -> tuple[int, int | None]:
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


def _render(node: _Node, target: int, rng: Rng) -> str:
    """A string the node matches, as close to `target` characters as the node allows."""
    if isinstance(node, _Chars):
        return _pick_char(node.chars, rng)
    if isinstance(node, _Seq):
        sizes = _allocate([_width(part) for part in node.parts], target, rng)
        return "".join(_render(part, size, rng) for part, size in zip(node.parts, sizes, strict=True))
    if isinstance(node, _Alt):

        def distance(option: _Node) -> int:
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


# --------------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------------


def _fixed(value: str, lo: int, hi: int | None) -> str | None:
    return value if len(value) >= lo and (hi is None or len(value) <= hi) else None


def _date(rng: Rng) -> str:
    # Day 1-28 is valid in every month, so no calendar arithmetic is needed.
    return f"{rng.between(2020, 2026):04d}-{rng.between(1, 12):02d}-{rng.between(1, 28):02d}"


def _time(rng: Rng) -> str:
    return f"{rng.between(0, 23):02d}:{rng.between(0, 59):02d}:{rng.between(0, 59):02d}Z"


def _fmt_date_time(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"{_date(rng)}T{_time(rng)}", lo, hi)


def _fmt_date(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(_date(rng), lo, hi)


def _fmt_time(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(_time(rng), lo, hi)


def _fmt_email(rng: Rng, lo: int, hi: int | None) -> str | None:
    local = f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_LAST_NAMES)}".lower()
    domain = "@example.com"
    if len(local) + len(domain) < lo:
        local += "x" * (lo - len(local) - len(domain))
    if hi is not None and len(local) + len(domain) > hi:
        domain = "@x.io"
        room = hi - len(domain)
        if room < 1:
            return None
        local = local[:room]
        if local.endswith("."):
            local = local[:-1] + "x"
    return _fixed(local + domain, lo, hi)


def _fmt_uri(rng: Rng, lo: int, hi: int | None) -> str | None:
    value = f"https://example.com/{rng.choice(_NOUNS)}/{rng.choice(_NOUNS)}"
    if hi is not None and len(value) > hi:
        value = "urn:x"
    if len(value) < lo:
        value += "x" * (lo - len(value))
    return _fixed(value, lo, hi)


def _fmt_hostname(rng: Rng, lo: int, hi: int | None) -> str | None:
    value = f"{rng.choice(_NOUNS)}.example.com"
    if hi is not None and len(value) > hi:
        value = value.split(".")[0][:hi]
    while len(value) < lo:
        value = "x" * min(63, max(1, lo - len(value) - 1)) + "." + value
    return _fixed(value, lo, hi)


def _fmt_uuid(rng: Rng, lo: int, hi: int | None) -> str | None:
    h = rng.hex(32)
    # A version-4, RFC 4122 variant UUID, like uuid.uuid4() would give.
    h = h[:12] + "4" + h[13:16] + "89ab"[rng.below(4)] + h[17:]
    return _fixed(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", lo, hi)


def _fmt_ipv4(rng: Rng, lo: int, hi: int | None) -> str | None:
    parts = (rng.between(1, 223), rng.between(0, 255), rng.between(0, 255), rng.between(1, 254))
    return _fixed(".".join(str(p) for p in parts), lo, hi)


def _fmt_ipv6(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"2001:db8::{rng.hex(4)}:{rng.hex(4)}", lo, hi)


def _fmt_duration(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"P{rng.between(1, 30)}DT{rng.between(1, 23)}H", lo, hi)


def _fmt_json_pointer(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"/{rng.choice(_NOUNS)}/{rng.between(0, 9)}", lo, hi)


def _fmt_relative_json_pointer(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"{rng.between(0, 3)}/{rng.choice(_NOUNS)}", lo, hi)


def _fmt_uri_template(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"https://example.com/{rng.choice(_NOUNS)}/{{id}}", lo, hi)


def _fmt_regex(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(rng.choice(("^[a-z]+$", "^\\d{3}$", "[A-Z][a-z]*")), lo, hi)


_FORMATS: Final[dict[str, Callable[[Rng, int, int | None], str | None]]] = {
    "date-time": _fmt_date_time,
    "date": _fmt_date,
    "time": _fmt_time,
    "email": _fmt_email,
    "idn-email": _fmt_email,
    "uri": _fmt_uri,
    "iri": _fmt_uri,
    "uri-reference": _fmt_uri,
    "iri-reference": _fmt_uri,
    "hostname": _fmt_hostname,
    "idn-hostname": _fmt_hostname,
    "uuid": _fmt_uuid,
    "ipv4": _fmt_ipv4,
    "ipv6": _fmt_ipv6,
    "duration": _fmt_duration,
    "json-pointer": _fmt_json_pointer,
    "relative-json-pointer": _fmt_relative_json_pointer,
    "uri-template": _fmt_uri_template,
    "regex": _fmt_regex,
}

_DATE_RE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME_RE: Final = re.compile(r"(\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_HOST_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_URI_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S*")
_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _valid_date(text: str) -> bool:
    match = _DATE_RE.fullmatch(text)
    if match is None:
        return False
    try:
        dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False
    return True


def _valid_time(text: str) -> bool:
    match = _TIME_RE.fullmatch(text)
    return match is not None and int(match.group(1)) < 24 and int(match.group(2)) < 60 and int(match.group(3)) < 61


def _format_ok(fmt: str, text: str) -> bool:
    """The formats this module generates, checked; any other format is treated as an annotation."""
    if fmt == "date-time":
        return text[10:11] in ("T", "t") and _valid_date(text[:10]) and _valid_time(text[11:])
    if fmt == "date":
        return _valid_date(text)
    if fmt == "time":
        return _valid_time(text)
    if fmt in ("email", "idn-email"):
        return "@" in text
    if fmt == "uuid":
        return _UUID_RE.fullmatch(text) is not None
    if fmt in ("ipv4", "ipv6"):
        try:
            (ipaddress.IPv4Address if fmt == "ipv4" else ipaddress.IPv6Address)(text)
        except ValueError:
            return False
        return True
    if fmt in ("hostname", "idn-hostname"):
        labels = text.split(".")
        return 0 < len(text) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
    if fmt in ("uri", "iri"):
        return _URI_RE.fullmatch(text) is not None
    return True


# --------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------


class _State(NamedTuple):
    depth: int  # nested containers above this value
    refs: int  # $ref expansions on the path to this value

    @property
    def minimal(self) -> bool:
        """Past the recursion threshold: take the shortest, least nested option everywhere."""
        return self.refs > _MINIMAL_REFS or self.depth > _MINIMAL_DEPTH


class _Generator:
    def __init__(self, root: Any, hint: str) -> None:
        self.root = root
        self.topics = topic_words(hint) if hint else []
        self._work = 0
        self._regexes: dict[str, re.Pattern[str]] = {}
        self._patterns: dict[str, _Node | None] = {}
        self._heights: dict[int, tuple[Any, float]] = {}
        self._anchors: dict[str, Any] | None = None

    # ---- references ------------------------------------------------------------------------------

    def _resolve(self, ref: Any, where: str) -> tuple[Any, str]:
        """The schema a local ``$ref`` points to, and its pointer."""
        if not isinstance(ref, str):
            raise SchemaError("$ref must be a string", where)
        root_id = self.root.get("$id") if isinstance(self.root, Mapping) else None
        if isinstance(root_id, str) and root_id and ref.startswith(root_id):
            ref = ref[len(root_id) :] or "#"
        if not ref.startswith("#"):
            raise SchemaError(
                f"$ref {ref!r} cannot be resolved: only local references ('#', '#/$defs/...') are supported",
                where,
            )
        fragment = ref[1:]
        node: Any = self.root
        if fragment and not fragment.startswith("/"):
            node = self._anchor_map().get(fragment)
            if node is None:
                raise SchemaError(f"$ref {ref!r} cannot be resolved: no $anchor {fragment!r}", where)
        elif fragment:
            for raw in fragment[1:].split("/"):
                token = unquote(raw).replace("~1", "/").replace("~0", "~")
                if isinstance(node, Mapping) and token in node:
                    node = node[token]
                elif isinstance(node, (list, tuple)) and token.isdigit() and int(token) < len(node):
                    node = node[int(token)]
                else:
                    raise SchemaError(f"$ref {ref!r} cannot be resolved", where)
        if not isinstance(node, (bool, Mapping)):
            raise SchemaError(f"$ref {ref!r} points to a {_kind(node)}, not a schema", where)
        return node, ref

    def _anchor_map(self) -> dict[str, Any]:
        if self._anchors is None:
            anchors: dict[str, Any] = {}

            def walk(node: Any) -> None:
                if isinstance(node, Mapping):
                    if isinstance(node.get("$anchor"), str):
                        anchors.setdefault(node["$anchor"], node)
                    for value in node.values():
                        walk(value)
                elif isinstance(node, (list, tuple)):
                    for value in node:
                        walk(value)

            walk(self.root)
            self._anchors = anchors
        return self._anchors

    def _regex(self, pattern: Any, where: str) -> re.Pattern[str]:
        if not isinstance(pattern, str):
            raise SchemaError(f"pattern must be a string, not {_kind(pattern)}", where)
        compiled = self._regexes.get(pattern)
        if compiled is None:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise SchemaError(f"pattern {pattern!r} is not a valid regular expression: {exc}", where) from None
            self._regexes[pattern] = compiled
        return compiled

    # ---- static checks ---------------------------------------------------------------------------

    def check(self) -> None:
        self._check(self.root, "#", 0)
        if math.isinf(self._min_height(self.root)):
            raise SchemaError(
                "no finite value satisfies this schema (it is false, contradictory, or requires endless nesting)"
            )

    def _check(self, schema: Any, path: str, nesting: int) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, Mapping):
            raise SchemaError(f"a schema must be a JSON object or a boolean, not {_kind(schema)}", path)
        if nesting > 200:
            raise SchemaError("schema nests too deeply", path)
        if "$ref" in schema:
            self._resolve(schema["$ref"], path)
        self._check_keywords(schema, path)
        for key in ("additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if",
                    "then", "else", "unevaluatedProperties", "unevaluatedItems"):  # fmt: skip
            if key in schema:
                self._check(schema[key], _ptr(path, key), nesting + 1)
        if "items" in schema:
            items = schema["items"]
            if isinstance(items, (list, tuple)):
                for i, sub in enumerate(items):
                    self._check(sub, _ptr(path, "items", i), nesting + 1)
            else:
                self._check(items, _ptr(path, "items"), nesting + 1)
        for key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
            if key in schema:
                if not isinstance(schema[key], Mapping):
                    raise SchemaError(f"{key} must be an object", path)
                for name, sub in schema[key].items():
                    if key == "patternProperties":
                        self._regex(name, _ptr(path, key, name))
                    self._check(sub, _ptr(path, key, name), nesting + 1)
        for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
            if key in schema:
                subs = schema[key]
                if not isinstance(subs, (list, tuple)) or (key != "prefixItems" and not subs):
                    raise SchemaError(f"{key} must be a non-empty array of schemas", path)
                for i, sub in enumerate(subs):
                    self._check(sub, _ptr(path, key, i), nesting + 1)
        for name, sub in _mapping(schema.get("dependencies")).items():
            if isinstance(sub, (bool, Mapping)):
                self._check(sub, _ptr(path, "dependencies", name), nesting + 1)

    def _check_keywords(self, schema: Mapping[str, Any], path: str) -> None:
        """Malformed keyword values and contradictions visible in one schema object."""
        if "type" in schema:
            types = schema["type"]
            names = [types] if isinstance(types, str) else types
            if not isinstance(names, (list, tuple)) or not names:
                raise SchemaError("type must be a type name or a non-empty array of them", _ptr(path, "type"))
            for name in names:
                if name not in _TYPE_NAMES:
                    raise SchemaError(f"unknown type {name!r}", _ptr(path, "type"))
        if "enum" in schema:
            if not isinstance(schema["enum"], (list, tuple)):
                raise SchemaError("enum must be an array", _ptr(path, "enum"))
            if not schema["enum"]:
                raise SchemaError("enum is empty, so no value can match", _ptr(path, "enum"))
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            value: Any = schema.get(key)
            if key not in schema or (isinstance(value, bool) and key.startswith("exclusive")):
                continue
            if not _is_number(value) or not math.isfinite(value):
                raise SchemaError(f"{key} must be a number", _ptr(path, key))
        if "multipleOf" in schema and schema["multipleOf"] <= 0:
            raise SchemaError("multipleOf must be greater than 0", _ptr(path, "multipleOf"))
        bounds = _bounds(schema)
        if bounds.lo is not None and bounds.hi is not None:
            if bounds.lo > bounds.hi or (bounds.lo == bounds.hi and (bounds.lo_exclusive or bounds.hi_exclusive)):
                lo_name = "exclusiveMinimum" if bounds.lo_exclusive else "minimum"
                hi_name = "exclusiveMaximum" if bounds.hi_exclusive else "maximum"
                raise SchemaError(f"{lo_name} ({bounds.lo}) is not below {hi_name} ({bounds.hi}): no number fits", path)
            if schema.get("type") == "integer":
                lo, hi = _integer_range(bounds)
                if lo is not None and hi is not None and lo > hi:
                    raise SchemaError(f"no integer lies between {bounds.lo} and {bounds.hi}", path)
        for low, high in (("minLength", "maxLength"), ("minItems", "maxItems"),
                          ("minProperties", "maxProperties"), ("minContains", "maxContains")):  # fmt: skip
            for key in (low, high):
                if key in schema and _count(schema[key]) is None:
                    raise SchemaError(f"{key} must be a non-negative integer", _ptr(path, key))
            lo_count, hi_count = _count(schema.get(low)), _count(schema.get(high))
            if lo_count is not None and hi_count is not None and lo_count > hi_count:
                raise SchemaError(f"{low} ({lo_count}) is greater than {high} ({hi_count})", path)
        if "required" in schema:
            required = schema["required"]
            if not isinstance(required, (list, tuple)) or not all(isinstance(r, str) for r in required):
                raise SchemaError("required must be an array of strings", _ptr(path, "required"))
            most = _count(schema.get("maxProperties"))
            if most is not None and len(set(required)) > most:
                raise SchemaError(f"{len(set(required))} required properties exceed maxProperties ({most})", path)
        if "pattern" in schema:
            self._regex(schema["pattern"], _ptr(path, "pattern"))
        if "not" in schema and _is_trivially_true(schema["not"]):
            raise SchemaError("'not' of a schema that accepts everything matches nothing", _ptr(path, "not"))
        for name, deps in _mapping(schema.get("dependentRequired")).items():
            if not isinstance(deps, (list, tuple)) or not all(isinstance(d, str) for d in deps):
                raise SchemaError("dependentRequired values must be arrays of strings", _ptr(path, name))

    # ---- minimum nesting (for terminating recursion) ---------------------------------------------

    def _min_height(self, schema: Any) -> float:
        """How many containers deep the shallowest instance must be; infinity when none is finite."""
        return self._height(schema, ())[0]

    def _height(self, schema: Any, stack: tuple[int, ...]) -> tuple[float, bool]:
        """(height, whether a cycle was cut).  Only cycle-free results are memoised: the others depend
        on where the walk entered the cycle."""
        if schema is True:
            return 0.0, False
        if not isinstance(schema, Mapping):
            return math.inf, False
        memo = self._heights.get(id(schema))
        if memo is not None and memo[0] is schema:
            return memo[1], False
        if id(schema) in stack:
            return math.inf, True
        inner = (*stack, id(schema))
        cyclic = False

        def sub(node: Any) -> float:
            nonlocal cyclic
            height, cut = self._height(node, inner)
            cyclic = cyclic or cut
            return height

        result = 0.0
        if "$ref" in schema:
            result = max(result, sub(self._resolve(schema["$ref"], "#")[0]))
        for part in _list(schema.get("allOf")):
            result = max(result, sub(part))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                result = max(result, min([sub(branch) for branch in _list(schema[key])], default=math.inf))
        if "const" not in schema and "enum" not in schema:
            result = max(result, self._own_height(schema, sub))
        if not cyclic:
            self._heights[id(schema)] = (schema, result)
        return result, cyclic

    def _own_height(self, schema: Mapping[str, Any], sub: Callable[[Any], float]) -> float:
        declared = schema.get("type")
        if declared is None:
            return 0.0  # any type is allowed, scalars included
        best = math.inf
        for name in [declared] if isinstance(declared, str) else _list(declared):
            if name in _SCALARS:
                return 0.0
            if name == "object":
                props = _mapping(schema.get("properties"))
                needed = [sub(props[r]) for r in _list(schema.get("required")) if r in props]
                best = min(best, 1.0 + max(needed, default=0.0))
            elif name == "array":
                prefix, items, _ = _array_parts(schema)
                lo = max(_count(schema.get("minItems")) or 0, self._contains_needed(schema))
                if lo == 0:
                    best = min(best, 1.0)
                else:
                    heights = [sub(prefix[i] if i < len(prefix) else items) for i in range(min(lo, len(prefix) + 1))]
                    best = min(best, 1.0 + max(heights))
        return best

    @staticmethod
    def _contains_needed(schema: Mapping[str, Any]) -> int:
        if "contains" not in schema:
            return 0
        least = _count(schema.get("minContains"))
        return 1 if least is None else least

    # ---- flattening ------------------------------------------------------------------------------

    def _flatten(self, schema: Any, path: str, hops: int = 0) -> tuple[Any, int]:
        """Resolve ``$ref`` and merge ``allOf`` into one schema; also returns how many refs were followed."""
        if not isinstance(schema, Mapping) or ("$ref" not in schema and "allOf" not in schema):
            return schema, 0
        if hops > 32:
            raise SchemaError("$ref/allOf chain does not terminate (circular reference)", path)
        parts: list[Any] = []
        refs = 0
        if "$ref" in schema:
            target, target_path = self._resolve(schema["$ref"], path)
            flat, followed = self._flatten(target, target_path, hops + 1)
            parts.append(flat)
            refs += 1 + followed
        for i, sub in enumerate(_list(schema.get("allOf"))):
            flat, followed = self._flatten(sub, _ptr(path, "allOf", i), hops + 1)
            parts.append(flat)
            refs += followed
        # The referenced/base parts come first so their property order leads in the output.
        merged: Any = True
        for part in [*parts, {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}]:
            merged = _merge(merged, part)
        return merged, refs

    # ---- validation ------------------------------------------------------------------------------

    def _error(self, value: Any, schema: Any, path: str, hops: int = 0) -> str | None:
        """Why `value` does not validate against `schema` (None when it does)."""
        if schema is True:
            return None
        if not isinstance(schema, Mapping):
            return f"{path}: the schema accepts nothing"
        if "$ref" in schema:
            if hops > 64:
                raise SchemaError("$ref chain does not terminate (circular reference)", path)
            target, target_path = self._resolve(schema["$ref"], path)
            error = self._error(value, target, target_path, hops + 1)
            if error:
                return error
        if "type" in schema:
            declared = schema["type"]
            names = [declared] if isinstance(declared, str) else _list(declared)
            if not any(_is_type(value, name) for name in names):
                return f"{path}: {_kind(value)} is not of type {declared}"
        if "const" in schema and not _json_equal(value, schema["const"]):
            return f"{path}: value is not the const"
        if "enum" in schema and not any(_json_equal(value, option) for option in _list(schema["enum"])):
            return f"{path}: value is not in the enum"
        if _is_number(value):
            error = self._number_error(value, schema, path)
        elif isinstance(value, str):
            error = self._string_error(value, schema, path)
        elif isinstance(value, (list, tuple)):
            error = self._array_error(value, schema, path)
        elif isinstance(value, Mapping):
            error = self._object_error(value, schema, path)
        else:
            error = None
        if error:
            return error
        return self._combinator_error(value, schema, path, hops)

    def _combinator_error(self, value: Any, schema: Mapping[str, Any], path: str, hops: int) -> str | None:
        for i, sub in enumerate(_list(schema.get("allOf"))):
            error = self._error(value, sub, _ptr(path, "allOf", i), hops)
            if error:
                return error
        if "anyOf" in schema and not any(self._error(value, sub, path, hops) is None for sub in _list(schema["anyOf"])):
            return f"{path}: value matches no anyOf branch"
        if "oneOf" in schema:
            matches = sum(self._error(value, sub, path, hops) is None for sub in _list(schema["oneOf"]))
            if matches != 1:
                return f"{path}: value matches {matches} oneOf branches, not exactly one"
        if "not" in schema and self._error(value, schema["not"], path, hops) is None:
            return f"{path}: value matches the 'not' schema"
        if "if" in schema:
            branch = "then" if self._error(value, schema["if"], path, hops) is None else "else"
            if branch in schema:
                return self._error(value, schema[branch], _ptr(path, branch), hops)
        return None

    def _number_error(self, value: int | float, schema: Mapping[str, Any], path: str) -> str | None:
        if not _bounds(schema).contains(value):
            return f"{path}: {value} is out of bounds"
        divisor: Any = schema.get("multipleOf")
        if _is_number(divisor) and divisor > 0 and not _is_multiple(value, divisor):
            return f"{path}: {value} is not a multiple of {divisor}"
        return None

    def _string_error(self, value: str, schema: Mapping[str, Any], path: str) -> str | None:
        lo, hi = _count(schema.get("minLength")), _count(schema.get("maxLength"))
        if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
            return f"{path}: string length {len(value)} is out of bounds"
        if "pattern" in schema and self._regex(schema["pattern"], path).search(value) is None:
            return f"{path}: string does not match pattern {schema['pattern']!r}"
        fmt = schema.get("format")
        if isinstance(fmt, str) and not _format_ok(fmt, value):
            return f"{path}: string is not a valid {fmt}"
        return None

    def _array_error(self, value: list[Any] | tuple[Any, ...], schema: Mapping[str, Any], path: str) -> str | None:
        prefix, items, items_key = _array_parts(schema)
        has_items = items_key in schema
        for i, item in enumerate(value):
            if i < len(prefix):
                error = self._error(item, prefix[i], _ptr(path, "prefixItems", i))
            elif has_items:
                error = self._error(item, items, _ptr(path, items_key))
            else:
                error = None
            if error:
                return error
        lo, hi = _count(schema.get("minItems")), _count(schema.get("maxItems"))
        if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
            return f"{path}: array length {len(value)} is out of bounds"
        if schema.get("uniqueItems") is True:
            for i in range(len(value)):
                for j in range(i):
                    if _json_equal(value[i], value[j]):
                        return f"{path}: items {j} and {i} are equal but uniqueItems is set"
        if "contains" in schema:
            found = sum(self._error(item, schema["contains"], path) is None for item in value)
            least = self._contains_needed(schema)
            most = _count(schema.get("maxContains"))
            if found < least or (most is not None and found > most):
                return f"{path}: {found} items match 'contains'"
        return None

    def _object_error(self, value: Mapping[str, Any], schema: Mapping[str, Any], path: str) -> str | None:
        props = _mapping(schema.get("properties"))
        patterns = _mapping(schema.get("patternProperties"))
        for key, item in value.items():
            matched = False
            if key in props:
                matched = True
                error = self._error(item, props[key], _ptr(path, "properties", key))
                if error:
                    return error
            for pattern, sub in patterns.items():
                if self._regex(pattern, path).search(key):
                    matched = True
                    error = self._error(item, sub, _ptr(path, "patternProperties", pattern))
                    if error:
                        return error
            if not matched and "additionalProperties" in schema:
                if schema["additionalProperties"] is False:
                    return f"{path}: additional property {key!r} is not allowed"
                error = self._error(item, schema["additionalProperties"], _ptr(path, "additionalProperties"))
                if error:
                    return error
            if "propertyNames" in schema:
                error = self._error(key, schema["propertyNames"], _ptr(path, "propertyNames"))
                if error:
                    return error
        for key in _list(schema.get("required")):
            if key not in value:
                return f"{path}: required property {key!r} is missing"
        lo, hi = _count(schema.get("minProperties")), _count(schema.get("maxProperties"))
        if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
            return f"{path}: {len(value)} properties is out of bounds"
        dependencies = {**_mapping(schema.get("dependencies")), **_mapping(schema.get("dependentRequired"))}
        dependencies.update(_mapping(schema.get("dependentSchemas")))
        for key, dependency in dependencies.items():
            if key not in value:
                continue
            if isinstance(dependency, (list, tuple)):
                missing = [d for d in dependency if d not in value]
                if missing:
                    return f"{path}: {key!r} requires {missing}"
            else:
                error = self._error(value, dependency, path)
                if error:
                    return error
        return None

    # ---- generation ------------------------------------------------------------------------------

    def generate(self, rng: Rng) -> Any:
        return self._gen_node(self.root, rng, _State(0, 0), "#", "")

    def _gen_node(self, schema: Any, rng: Rng, state: _State, path: str, name: str) -> Any:
        """A value for `schema`, checked against it; best-effort misses are redrawn from forked streams."""
        self._work += 1
        if self._work > _BUDGET:
            raise _Budget("schema is too complex to generate a value for", path)
        if state.depth > _HARD_DEPTH:
            raise SchemaError(f"values nest deeper than {_HARD_DEPTH} levels (endless recursion?)", path)
        flat, refs = self._flatten(schema, path)
        if flat is False:
            raise SchemaError("no value satisfies this schema (false, or contradicting allOf/$ref parts)", path)
        flat_map: Mapping[str, Any] = flat if isinstance(flat, Mapping) else {}
        state = state._replace(refs=state.refs + refs)
        failure = _Unlucky("no attempt was made", path)
        for attempt in range(_ATTEMPTS):
            draw = rng if attempt == 0 else rng.fork("again", attempt)
            try:
                value = self._gen_flat(flat_map, draw, state, path, name)
            except _Unlucky as exc:
                failure = exc
                continue
            error = self._error(value, schema, path)
            if error is None:
                return value
            failure = _Unlucky(error, path)
        raise SchemaError(f"could not generate a value satisfying every keyword ({failure.reason})", failure.pointer)

    def _gen_flat(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str, name: str) -> Any:
        if "const" in flat:
            rest = {k: v for k, v in flat.items() if k != "const"}
            if self._error(flat["const"], rest, path) is not None:
                raise SchemaError("the const value does not satisfy the schema's other keywords", path)
            return copy.deepcopy(flat["const"])
        if "enum" in flat:
            rest = {k: v for k, v in flat.items() if k != "enum"}
            options = [option for option in _list(flat["enum"]) if self._error(option, rest, path) is None]
            if not options:
                raise SchemaError("no enum value satisfies the schema's other keywords", _ptr(path, "enum"))
            return copy.deepcopy(rng.choice(options))
        if "anyOf" in flat or "oneOf" in flat:
            return self._gen_choice(flat, rng, state, path, name)
        if "if" in flat and ("then" in flat or "else" in flat):
            return self._gen_conditional(flat, rng, state, path, name)
        kind = self._pick_type(self._types(flat, state), rng.fork("type"), state)
        if kind == "null":
            return None
        if kind == "boolean":
            return rng.chance(0.5)
        if kind == "integer":
            return self._gen_integer(flat, rng, path, name)
        if kind == "number":
            return self._gen_number(flat, rng, path, name)
        if kind == "string":
            return self._gen_string(flat, rng, path, name)
        if kind == "array":
            return self._gen_array(flat, rng, state, path, name)
        return self._gen_object(flat, rng, state, path)

    def _types(self, flat: Mapping[str, Any], state: _State) -> list[str]:
        declared = flat.get("type")
        if declared is not None:
            return list(dict.fromkeys([declared] if isinstance(declared, str) else _list(declared)))
        # Untyped: any type is valid, but the keywords say what the author had in mind.
        kinds: list[str] = []
        if any(key in flat for key in _OBJECT_KEYS):
            kinds.append("object")
        if any(key in flat for key in _ARRAY_KEYS):
            kinds.append("array")
        if any(key in flat for key in _STRING_KEYS):
            kinds.append("string")
        if any(key in flat for key in _NUMBER_KEYS):
            numbers = [flat[key] for key in _NUMBER_KEYS if key in flat]
            kinds.append("number" if any(isinstance(n, float) and not n.is_integer() for n in numbers) else "integer")
        if state.minimal and not any(kind in _SCALARS for kind in kinds):
            # Matches `_own_height`, which counts untyped schemas as satisfiable by a scalar.
            return ["null"]
        return kinds or list(_ANY_WEIGHTS)

    @staticmethod
    def _pick_type(types: list[str], rng: Rng, state: _State) -> str:
        if len(types) == 1:
            return types[0]
        if state.minimal:
            for kind in ("null", "boolean", "integer", "number", "string"):
                if kind in types:
                    return kind
        # null is the dull option of a nullable type: draw it less often than the others.
        return _weighted(rng, types, _ANY_WEIGHTS if set(types) <= set(_ANY_WEIGHTS) else {"null": 1})

    def _branch_order(self, branches: list[Any], rng: Rng, state: _State) -> list[int]:
        order = _shuffled(rng, len(branches))
        heights = [self._min_height(branch) for branch in branches]
        if state.minimal:
            return sorted(order, key=lambda i: heights[i])  # stable: ties keep the random order
        return sorted(order, key=lambda i: math.isinf(heights[i]))

    def _gen_choice(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str, name: str) -> Any:
        """anyOf/oneOf: generate from one branch (merged with the sibling keywords), fall back to others."""
        key = "anyOf" if "anyOf" in flat else "oneOf"
        branches = _list(flat[key])
        rest = {k: v for k, v in flat.items() if k != key}
        unlucky = False
        last: SchemaError | None = None
        for i in self._branch_order(branches, rng.fork(key), state):
            branch_path = _ptr(path, key, i)
            branch, refs = self._flatten(branches[i], branch_path)
            merged = _merge(rest, branch)
            if merged is False:
                continue
            try:
                value = self._gen_node(
                    merged, rng.fork(key, i), state._replace(refs=state.refs + refs), branch_path, name
                )
            except _Budget:
                raise
            except SchemaError as exc:
                last = exc
                continue
            if key == "oneOf" and sum(self._error(value, b, path) is None for b in branches) != 1:
                unlucky = True  # the value also fits another branch; another draw may not
                continue
            return value
        if unlucky:
            raise _Unlucky(f"every {key} value drawn matched more than one branch", path)
        raise SchemaError(f"no {key} branch can be satisfied" + (f" ({last.reason})" if last else ""), path)

    def _gen_conditional(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str, name: str) -> Any:
        """if/then/else (best effort): aim for one side; the final check enforces the real semantics."""
        rest = {k: v for k, v in flat.items() if k not in ("if", "then", "else")}
        condition, _ = self._flatten(flat["if"], _ptr(path, "if"))
        then, _ = self._flatten(flat.get("then", True), _ptr(path, "then"))
        otherwise, _ = self._flatten(flat.get("else", True), _ptr(path, "else"))
        options = [_merge(_merge(rest, condition), then), _merge(rest, otherwise)]
        last: SchemaError | None = None
        for i in _shuffled(rng.fork("if"), 2):
            if options[i] is False:
                continue
            try:
                return self._gen_node(options[i], rng.fork("if", i), state, path, name)
            except _Budget:
                raise
            except SchemaError as exc:
                last = exc
        raise last or SchemaError("neither the then nor the else side of if can be satisfied", path)

    # ---- scalars ---------------------------------------------------------------------------------

    def _gen_integer(self, flat: Mapping[str, Any], rng: Rng, path: str, name: str) -> int:
        lo, hi = _integer_range(_bounds(flat))
        divisor = flat.get("multipleOf")
        # The integer multiples of p/q (in lowest terms) are exactly the multiples of p.
        step = 1 if divisor is None else _frac(divisor).numerator
        if lo is None and hi is None:
            lo, hi = _named_int_range(name) or (0, 100 * step)
        elif lo is None:
            lo = hi - 100 * step  # type: ignore[operator]
        elif hi is None:
            hi = lo + 100 * step
        assert lo is not None and hi is not None
        if lo > hi:
            raise SchemaError(f"no integer lies within the bounds ({lo} > {hi})", path)
        k_lo, k_hi = -(-lo // step), hi // step
        if k_lo > k_hi:
            raise SchemaError(f"no multiple of {divisor} lies within the bounds", path)
        for attempt in range(40):
            k = (k_lo, k_hi)[attempt - 38] if attempt >= 38 else rng.between(k_lo, k_hi)
            value = k * step
            if divisor is None or _is_multiple(value, divisor):
                return value
        raise SchemaError(f"found no integer that is a multiple of {divisor} within the bounds", path)

    def _gen_number(self, flat: Mapping[str, Any], rng: Rng, path: str, name: str) -> int | float:
        bounds = _bounds(flat)
        lo, hi = bounds.lo, bounds.hi
        if lo is None and hi is None:
            lo, hi = _named_float_range(name) or (0, 100)
        elif lo is None:
            lo = hi - 100  # type: ignore[operator]
        elif hi is None:
            hi = lo + 100
        assert lo is not None and hi is not None
        bounds = _Bounds(lo, bounds.lo_exclusive, hi, bounds.hi_exclusive)
        if lo > hi or (lo == hi and (bounds.lo_exclusive or bounds.hi_exclusive)):
            raise SchemaError(f"no number lies within the bounds ({lo}, {hi})", path)
        divisor = flat.get("multipleOf")
        if divisor is not None:
            step = _frac(divisor)
            k_lo, k_hi = math.ceil(Fraction(lo) / step), math.floor(Fraction(hi) / step)
            if bounds.lo_exclusive and k_lo * step == lo:
                k_lo += 1
            if bounds.hi_exclusive and k_hi * step == hi:
                k_hi -= 1
            if k_lo > k_hi:
                raise SchemaError(f"no multiple of {divisor} lies within the bounds", path)
            for attempt in range(40):
                k = (k_lo, k_hi)[attempt - 38] if attempt >= 38 else rng.between(k_lo, k_hi)
                exact = k * step
                value: int | float = int(exact) if exact.denominator == 1 else float(exact)
                if bounds.contains(value) and _is_multiple(value, divisor):
                    return value
            raise SchemaError(f"found no multiple of {divisor} within the bounds", path)
        r = rng.random()
        x = lo * (1 - r) + hi * r  # not lo + (hi - lo) * r: the difference may overflow
        candidates = [round(x, 2), round(x, 4), x, lo / 2 + hi / 2, math.nextafter(lo, hi), math.nextafter(hi, lo)]
        for candidate in candidates:
            if math.isfinite(candidate) and bounds.contains(candidate):
                return float(candidate) + 0.0  # + 0.0 turns -0.0 into 0.0
        raise SchemaError(f"no number lies within the bounds ({lo}, {hi})", path)

    def _gen_string(self, flat: Mapping[str, Any], rng: Rng, path: str, name: str) -> str:
        lo = _count(flat.get("minLength")) or 0
        hi = _count(flat.get("maxLength"))
        if hi is not None and lo > hi:
            raise SchemaError(f"minLength ({lo}) is greater than maxLength ({hi})", path)
        pattern = flat.get("pattern")
        fmt = flat.get("format")
        maker = _FORMATS.get(fmt) if isinstance(fmt, str) else None
        if maker is not None:
            value = maker(rng.fork("format"), lo, hi)
            if value is not None and (pattern is None or self._regex(pattern, path).search(value)):
                return value
            if pattern is None:
                raise SchemaError(f"no {fmt} string has a length between {lo} and {hi}", path)
        if pattern is not None:
            # When a format is present too, the final check tells whether the match also fits it.
            return self._pattern_string(pattern, lo, hi, rng.fork("pattern"), path)
        named = self._named_string(name, rng.fork("named"))
        if named is not None and len(named) >= lo and (hi is None or len(named) <= hi):
            return named
        return self._plain_string(rng.fork("plain"), lo, hi)

    def _word(self, rng: Rng, last: bool) -> str:
        if self.topics and rng.chance(0.3):
            return rng.choice(self.topics)
        return rng.choice(_NOUNS if last else _ADJECTIVES)

    def _plain_string(self, rng: Rng, lo: int, hi: int | None) -> str:
        """One to three lowercase words, stretched or cut to the length bounds."""
        n = rng.between(1, 3)
        text = " ".join(self._word(rng.fork("word", i), i == n - 1) for i in range(n))
        i = 0
        while len(text) < lo:
            filler = self._word(rng.fork("pad", i), True) if lo - len(text) < 40 else self._sentence(rng.fork("pad", i))
            text = f"{text} {filler}"
            i += 1
        if hi is not None and len(text) > hi:
            text = text[:hi].rstrip()
        if len(text) < lo:  # the cut landed on a space
            text += "x" * (lo - len(text))
        return text

    def _sentence(self, rng: Rng) -> str:
        return sentence(rng, self.topics)

    def _named_string(self, name: str, rng: Rng) -> str | None:
        """A value that fits the property's name (``email``, ``city``, ``created_at``...), if it says."""
        if not name:
            return None
        tokens = _name_tokens(name)
        if not tokens:
            return None
        words = set(tokens)
        joined = "_".join(tokens)

        def fmt(format_name: str) -> str | None:
            return _FORMATS[format_name](rng, 0, None)

        if "email" in words or joined.endswith("email"):
            return fmt("email")
        if words & {"url", "uri", "link", "website", "homepage", "href"}:
            return fmt("uri")
        if words & {"uuid", "guid"}:
            return fmt("uuid")
        if tokens[-1] == "id":
            return rng.hex(12)
        if words & {"timestamp", "datetime"} or (len(tokens) > 1 and tokens[-1] == "at"):
            return fmt("date-time")
        if words & {"date", "birthday", "dob", "deadline"}:
            return fmt("date")
        if "time" in words:
            return f"{rng.between(0, 23):02d}:{rng.between(0, 59):02d}"
        if "name" in words and words & {"first", "given"}:
            return rng.choice(_FIRST_NAMES)
        if words & {"surname"} or ("name" in words and words & {"last", "family"}):
            return rng.choice(_LAST_NAMES)
        if joined in ("username", "user_name", "login", "handle"):
            return f"{rng.choice(_FIRST_NAMES)}_{rng.choice(_LAST_NAMES)}".lower()
        if joined in ("name", "full_name", "fullname", "author", "owner", "person", "customer_name", "contact_name"):
            return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        if words & {"city", "town", "location"}:
            return rng.choice(_CITIES)
        if "country" in words:
            return rng.choice(_COUNTRIES)
        if words & {"phone", "telephone", "mobile"}:
            return f"+1-555-01{rng.between(0, 99):02d}"  # 555-01xx is reserved for fiction
        if words & {"color", "colour"}:
            return rng.choice(_COLORS)
        if words & {"address", "street"}:
            return f"{rng.between(1, 999)} {rng.choice(_NOUNS).title()} Street"
        if words & {"zip", "zipcode", "postcode", "postal"}:
            return f"{rng.between(10000, 99999)}"
        if words & {"language", "lang"}:
            return rng.choice(_LANGUAGES)
        if "currency" in words:
            return rng.choice(_CURRENCIES)
        if "status" in words:
            return rng.choice(_STATUSES)
        if "version" in words:
            return f"{rng.between(0, 3)}.{rng.between(0, 20)}.{rng.between(0, 9)}"
        if "ip" in words:
            return fmt("ipv4")
        if words & {"host", "hostname", "domain"}:
            return fmt("hostname")
        if words & {"title", "headline", "subject", "heading"}:
            n = rng.between(2, 4)
            return " ".join(self._word(rng.fork("title", i), i == n - 1) for i in range(n)).title()
        if words & _PROSE_NAMES:
            return self._sentence(rng)
        if "slug" in words:
            return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}"
        if words & _WORD_NAMES:
            return self._word(rng, True)
        return None

    def _pattern_node(self, pattern: str) -> _Node | None:
        if pattern not in self._patterns:
            try:
                self._patterns[pattern] = _PatternParser(pattern).parse()
            except _Unsupported:
                self._patterns[pattern] = None
        return self._patterns[pattern]

    def _pattern_string(self, pattern: str, lo: int, hi: int | None, rng: Rng, path: str) -> str:
        """A string `re.search(pattern, ...)` accepts, within the length bounds."""
        compiled = self._regex(pattern, path)

        def fits(text: str) -> bool:
            return len(text) >= lo and (hi is None or len(text) <= hi) and compiled.search(text) is not None

        node = self._pattern_node(pattern)
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
        # Syntax the generator does not cover: a few stock strings may still match.
        candidates = ["", "a", "x", "0", "1", "example", "test", "A", "a1", "2024-01-01", "hello world"]
        for candidate in candidates + [self._plain_string(rng.fork("stock", i), lo, hi) for i in range(4)]:
            if fits(candidate):
                return candidate
        bounds = f" with length {lo}..{'' if hi is None else hi}" if lo or hi is not None else ""
        raise SchemaError(f"cannot generate a string matching pattern {pattern!r}{bounds}", path)

    # ---- containers ------------------------------------------------------------------------------

    def _gen_array(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str, name: str) -> list[Any]:
        prefix, items, items_key = _array_parts(flat)
        items_path = _ptr(path, items_key)
        lo = _count(flat.get("minItems")) or 0
        hi = _count(flat.get("maxItems"))
        contains = flat.get("contains")
        needed = self._contains_needed(flat)
        lo = max(lo, needed)
        if math.isinf(self._min_height(items)):
            # Items past the prefix are impossible (items: false, or unsatisfiable): stop at the prefix.
            hi = len(prefix) if hi is None else min(hi, len(prefix))
        if hi is not None and lo > hi:
            raise SchemaError(f"the array needs at least {lo} items but at most {hi} are possible", path)
        if state.minimal:
            n = lo
        elif prefix:
            n = max(lo, len(prefix))
        else:
            # Shorter arrays deeper down keep recursive structures (trees) small.
            spread = 3 if state.depth < 2 else 2 if state.depth < 4 else 1
            n = max(lo, 1) + rng.fork("length").below(spread)
        if hi is not None:
            n = min(n, hi)
        positions = set(_shuffled(rng.fork("contains"), n)[:needed]) if contains is not None else set()
        unique = flat.get("uniqueItems") is True
        child = state._replace(depth=state.depth + 1)
        out: list[Any] = []
        for i in range(n):
            sub, sub_path = (prefix[i], _ptr(path, "prefixItems", i)) if i < len(prefix) else (items, items_path)
            if i in positions:
                sub = {"allOf": [sub, contains]}
            value, found = None, False
            for k in range(12 if unique else 1):
                try:
                    value = self._gen_node(sub, rng.fork("item", i, k), child, sub_path, name)
                except _Budget:
                    raise
                except SchemaError:
                    if i < lo:
                        raise
                    break
                if not (unique and any(_json_equal(value, other) for other in out)):
                    found = True
                    break
            if not found:
                if i >= lo:
                    break  # a shorter array is still valid
                raise _Unlucky(f"found only {i} distinct items for uniqueItems (minItems {lo})", path)
            out.append(value)
        return out

    def _property_schema(self, flat: Mapping[str, Any], key: str, path: str) -> tuple[Any, str] | None:
        """The schema(s) a property must satisfy, or None when the object may not have it."""
        subs: list[Any] = []
        sub_path = ""
        props = _mapping(flat.get("properties"))
        if key in props:
            subs.append(props[key])
            sub_path = _ptr(path, "properties", key)
        for pattern, sub in _mapping(flat.get("patternProperties")).items():
            if self._regex(pattern, path).search(key):
                subs.append(sub)
                sub_path = sub_path or _ptr(path, "patternProperties", pattern)
        if not subs:
            additional = flat.get("additionalProperties", True)
            if additional is False:
                return None
            return additional, _ptr(path, "additionalProperties")
        return (subs[0] if len(subs) == 1 else {"allOf": subs}), sub_path

    def _gen_object(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str) -> dict[str, Any]:
        props = _mapping(flat.get("properties"))
        required = list(dict.fromkeys(_list(flat.get("required"))))
        least = _count(flat.get("minProperties")) or 0
        most = _count(flat.get("maxProperties"))
        if most is not None and len(required) > most:
            raise SchemaError(f"{len(required)} required properties exceed maxProperties ({most})", path)
        forced = set(required)
        room = None if most is None else most - len(required)
        chosen: list[str] = []
        for key, sub in props.items():
            if key in forced:
                chosen.append(key)
            elif (
                not state.minimal
                and room != 0
                and rng.fork("optional", key).chance(_OPTIONAL_P)
                and not math.isinf(self._min_height(sub))
            ):
                chosen.append(key)
                room = None if room is None else room - 1
        chosen += [key for key in required if key not in props]
        # dependentRequired: a present property pulls its dependencies in.
        dependencies = {**_mapping(flat.get("dependencies")), **_mapping(flat.get("dependentRequired"))}
        i = 0
        while i < len(chosen):
            dependency = dependencies.get(chosen[i])
            for other in dependency if isinstance(dependency, (list, tuple)) else ():
                if other not in chosen:
                    chosen.append(other)
                    forced.add(other)
            i += 1
        child = state._replace(depth=state.depth + 1)
        out: dict[str, Any] = {}
        for key in chosen:
            found = self._property_schema(flat, key, path)
            if found is None:
                if key in forced:
                    raise SchemaError(f"required property {key!r} is not allowed by additionalProperties", path)
                continue
            try:
                out[key] = self._gen_node(found[0], rng.fork("prop", key), child, found[1], key)
            except _Budget:
                raise
            except SchemaError:
                if key in forced:
                    raise
        if len(out) < least:
            self._fill_properties(flat, out, least, rng, child, path)
        return out

    def _fill_properties(
        self, flat: Mapping[str, Any], out: dict[str, Any], least: int, rng: Rng, child: _State, path: str
    ) -> None:
        """minProperties: add optional properties, then keys matching patternProperties or extra keys."""
        candidates = [key for key in _mapping(flat.get("properties")) if key not in out]
        patterns = list(_mapping(flat.get("patternProperties")))
        for i in range(len(candidates) + 4 * least + 8):
            if len(out) >= least:
                return
            draw = rng.fork("extra", i)
            if i < len(candidates):
                key = candidates[i]
            elif patterns and (flat.get("additionalProperties", True) is False or draw.chance(0.5)):
                pattern = draw.choice(patterns)
                try:
                    key = self._pattern_string(pattern, 1, 24, draw.fork("key"), _ptr(path, "patternProperties"))
                except SchemaError:
                    continue
            else:
                key = f"{draw.choice(_NOUNS)}_{i}"
            found = self._property_schema(flat, key, path)
            if key in out or found is None:
                continue
            try:
                out[key] = self._gen_node(found[0], draw.fork("value"), child, found[1], key)
            except _Budget:
                raise
            except SchemaError:
                continue
        if len(out) < least:
            raise SchemaError(f"could not reach minProperties ({least}) with allowed properties", path)


def _array_parts(schema: Mapping[str, Any]) -> tuple[list[Any], Any, str]:
    """(prefix item schemas, schema for the rest, keyword of the rest), for both array spellings."""
    items = schema.get("items", True)
    if isinstance(items, (list, tuple)):  # draft 4-7 tuple form
        return list(items), schema.get("additionalItems", True), "additionalItems"
    return _list(schema.get("prefixItems")), items, "items"


def _name_tokens(name: str) -> list[str]:
    """``createdAt`` / ``created-at`` / ``created_at`` -> ``["created", "at"]``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return [token for token in re.split(r"[^a-z0-9]+", snake) if token]


def _named_int_range(name: str) -> tuple[int, int] | None:
    words = set(_name_tokens(name))
    for names, bounds in (
        ({"age"}, (18, 90)),
        ({"year"}, (1990, 2030)),
        ({"count", "quantity", "qty", "num"}, (1, 20)),
        ({"rating", "stars"}, (1, 5)),
        ({"percent", "percentage"}, (0, 100)),
        ({"port"}, (1024, 65535)),
    ):
        if words & names:
            return bounds
    return None


def _named_float_range(name: str) -> tuple[float, float] | None:
    words = set(_name_tokens(name))
    for names, bounds in (
        ({"latitude", "lat"}, (-90.0, 90.0)),
        ({"longitude", "lon", "lng"}, (-180.0, 180.0)),
        ({"probability", "confidence", "score", "ratio"}, (0.0, 1.0)),
        ({"price", "amount", "cost", "total"}, (1.0, 500.0)),
        ({"temperature", "temp"}, (-10.0, 35.0)),
    ):
        if words & names:
            return bounds
    return None
