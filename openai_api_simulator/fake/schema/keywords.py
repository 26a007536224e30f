"""Reading keyword values: JSON types and equality, counts, numeric bounds, array parts, pointers.

The merge, the static checks and the generator must agree on what a keyword means, including the older
spellings the package accepts (draft 4's boolean ``exclusiveMinimum``, array-form ``items`` with
``additionalItems``), so every module reads keywords through these functions.  Malformed values read as
"absent" here; rejecting them with a message is the static checks' job (`document.py`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from fractions import Fraction
from typing import Any, Final, NamedTuple

TYPE_NAMES: Final = ("string", "number", "integer", "boolean", "null", "object", "array")
SCALARS: Final = frozenset({"string", "number", "integer", "boolean", "null"})
# Keywords that never constrain a value: the merge skips them and a schema made only of them accepts anything.
ANNOTATIONS: Final = frozenset(
    {
        "title", "description", "default", "examples", "$comment", "$schema", "$id", "$anchor",
        "$defs", "definitions", "deprecated", "readOnly", "writeOnly", "$vocabulary",
        "contentMediaType", "contentEncoding", "contentSchema", "$dynamicAnchor",
    }
)  # fmt: skip


def pointer(base: str, *tokens: object) -> str:
    """Extend a JSON pointer (``#/properties/a~1b``) with escaped tokens."""
    parts = [str(token).replace("~", "~0").replace("/", "~1") for token in tokens]
    return "/".join([base, *parts])


def kind(value: Any) -> str:
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


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``True != 1``; lists and objects compare structurally."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def json_key(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value: two keys are equal exactly when `json_equal` says the values are.

    ``("n", 1) == ("n", 1.0)``, as the numbers are; booleans are tagged apart from them, as in JSON.
    """
    if isinstance(value, bool):
        return ("b", value)
    if is_number(value):
        return ("n", value)
    if isinstance(value, (list, tuple)):
        return ("l", tuple(json_key(item) for item in value))
    if isinstance(value, Mapping):
        return ("o", frozenset((name, json_key(item)) for name, item in value.items()))
    return (type(value).__name__, value)


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def count(value: Any) -> int | None:
    """A non-negative integer keyword value (``2`` or ``2.0``), else None."""
    if isinstance(value, bool) or not is_number(value):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if value >= 0 else None


def fraction(value: int | float) -> Fraction:
    # str() gives the decimal the schema author wrote (0.1, not 0.1000000000000000055...).
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def is_multiple(value: int | float, divisor: int | float) -> bool:
    """`value` is a multiple of `divisor`, with the float arithmetic of the ``jsonschema`` package.

    The generator filters its candidates with this, so they pass the validator's ``multipleOf``.
    """
    if isinstance(divisor, float):
        quotient = value / divisor
        try:
            return int(quotient) == quotient
        except OverflowError:
            return (Fraction(value) / Fraction(divisor)).denominator == 1
    return not value % divisor


class Bounds(NamedTuple):
    lo: int | float | None
    lo_exclusive: bool
    hi: int | float | None
    hi_exclusive: bool

    def contains(self, value: int | float) -> bool:
        if self.lo is not None and (value < self.lo or (self.lo_exclusive and value == self.lo)):
            return False
        return not (self.hi is not None and (value > self.hi or (self.hi_exclusive and value == self.hi)))


def bounds(schema: Mapping[str, Any]) -> Bounds:
    """Numeric bounds, accepting both the draft 6+ numeric and the draft 4 boolean ``exclusive*``."""
    lo = schema.get("minimum") if is_number(schema.get("minimum")) else None
    hi = schema.get("maximum") if is_number(schema.get("maximum")) else None
    lo_ex = hi_ex = False
    ex_lo = schema.get("exclusiveMinimum")
    if isinstance(ex_lo, bool):
        lo_ex = ex_lo and lo is not None
    elif is_number(ex_lo) and (lo is None or ex_lo >= lo):
        lo, lo_ex = ex_lo, True
    ex_hi = schema.get("exclusiveMaximum")
    if isinstance(ex_hi, bool):
        hi_ex = ex_hi and hi is not None
    elif is_number(ex_hi) and (hi is None or ex_hi <= hi):
        hi, hi_ex = ex_hi, True
    return Bounds(lo, lo_ex, hi, hi_ex)


def integer_range(limits: Bounds) -> tuple[int | None, int | None]:
    """The smallest and largest integers within `limits` (None: unbounded on that side)."""
    lo = None if limits.lo is None else math.floor(limits.lo) + 1 if limits.lo_exclusive else math.ceil(limits.lo)
    hi = None if limits.hi is None else math.ceil(limits.hi) - 1 if limits.hi_exclusive else math.floor(limits.hi)
    return lo, hi


def is_trivially_true(schema: Any) -> bool:
    return schema is True or (isinstance(schema, Mapping) and all(k in ANNOTATIONS for k in schema))


def array_parts(schema: Mapping[str, Any]) -> tuple[list[Any], Any, str]:
    """(prefix item schemas, schema for the rest, keyword of the rest), for both array spellings."""
    items = schema.get("items", True)
    if isinstance(items, (list, tuple)):  # draft 4-7 tuple form
        return list(items), schema.get("additionalItems", True), "additionalItems"
    return as_list(schema.get("prefixItems")), items, "items"


def contains_needed(schema: Mapping[str, Any]) -> int:
    """How many items must match ``contains`` (``minContains``, 1 by default, 0 without ``contains``)."""
    if "contains" not in schema:
        return 0
    least = count(schema.get("minContains"))
    return 1 if least is None else least
