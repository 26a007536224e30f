"""Merging the parts of an ``allOf`` (and a ``$ref`` with its siblings) into one schema to generate from.

A generator can only aim at one schema at a time, so ``{"allOf": [A, B]}`` becomes one schema that asks for
both.  The merge is exact for the keywords that narrow a value (types, bounds, ``required``, ``enum``...) and
keeps one side where two values cannot be combined (two patterns, two ``anyOf``s): the validator checks
every generated value against the original schema, so an inexact merge costs a redraw, never a wrong value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from openai_api_simulator.fake.schema.keywords import ANNOTATIONS, as_list, as_mapping, fraction, is_number, json_equal


class _Conflict(Exception):
    """Two parts contradict each other (the merge is the ``false`` schema)."""


def merge(a: Any, b: Any) -> Any:
    """A schema requiring both `a` and `b` (flat, i.e. without top-level $ref/allOf), or False."""
    if a is False or b is False:
        return False
    if a is True or not isinstance(a, Mapping):
        return dict(b) if isinstance(b, Mapping) else b
    if b is True or not isinstance(b, Mapping):
        return a
    out = dict(a)
    try:
        for key, value in b.items():
            if key in ANNOTATIONS:
                continue
            out[key] = _merge_keyword(key, out[key], value) if key in out else value
    except _Conflict:
        return False
    return out


def _intersect_types(a: Any, b: Any) -> list[str]:
    left = [a] if isinstance(a, str) else as_list(a)
    right = [b] if isinstance(b, str) else as_list(b)
    out: list[str] = []
    for name in left:
        if name in right:
            out.append(name)
        elif {name, *right} >= {"integer", "number"} and name in ("integer", "number"):
            out.append("integer")  # integer is a subset of number
    return list(dict.fromkeys(out))


def _merge_keyword(key: str, a: Any, b: Any) -> Any:
    """One keyword of the merge of two schemas that must both hold (best effort, see `merge`)."""
    if json_equal(a, b):
        return a
    if key == "type":
        types = _intersect_types(a, b)
        if not types:
            raise _Conflict
        return types
    if key in ("properties", "patternProperties", "dependentSchemas"):
        merged = dict(as_mapping(a))
        for name, sub in as_mapping(b).items():
            merged[name] = {"allOf": [merged[name], sub]} if name in merged else sub
        return merged
    if key == "required":
        return list(dict.fromkeys([*as_list(a), *as_list(b)]))
    if key in ("minimum", "minLength", "minItems", "minProperties", "minContains") and is_number(a):
        return max(a, b) if is_number(b) else a
    if key in ("maximum", "maxLength", "maxItems", "maxProperties", "maxContains") and is_number(a):
        return min(a, b) if is_number(b) else a
    if key == "exclusiveMinimum" and is_number(a) and is_number(b):
        return max(a, b)
    if key == "exclusiveMaximum" and is_number(a) and is_number(b):
        return min(a, b)
    if key == "multipleOf" and is_number(a) and is_number(b):
        fa, fb = fraction(a), fraction(b)
        lcm = Fraction(math.lcm(fa.numerator, fb.numerator), math.gcd(fa.denominator, fb.denominator))
        return int(lcm) if lcm.denominator == 1 else float(lcm)
    if key == "enum":
        common = [v for v in as_list(a) if any(json_equal(v, w) for w in as_list(b))]
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
        left, right = as_list(a), as_list(b)
        longer = left if len(left) >= len(right) else right
        return [
            {"allOf": [left[i], right[i]]} if i < len(left) and i < len(right) else longer[i]
            for i in range(len(longer))
        ]
    if key == "not":
        return {"anyOf": [a, b]}  # not A and not B == not (A or B)
    # pattern, format, anyOf, oneOf, if...: keep one; the check against the original schema enforces the other.
    return a
