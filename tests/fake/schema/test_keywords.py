"""`fake.schema.keywords`: keyword values read the way jsonschema reads them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from openai_api_simulator.fake.schema.keywords import (
    Bounds,
    bounds,
    count,
    integer_range,
    is_multiple,
    json_equal,
    json_key,
    pointer,
)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        ([1, {"a": 2}], [1.0, {"a": 2.0}], True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ("1", 1, False),
        (None, None, True),
    ],
)
def test_json_equality(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
    assert Draft202012Validator({"const": b}).is_valid(a) is equal


@given(
    value=st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-(10**6), 10**6),
    divisor=st.sampled_from([0.1, 0.01, 0.5, 2.5, 3, 7, 1e-5]),
)
def test_multiple_of_agrees_with_jsonschema(value: float, divisor: float) -> None:
    assert is_multiple(value, divisor) is Draft202012Validator({"multipleOf": divisor}).is_valid(value)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"minimum": 1, "maximum": 5}, Bounds(1, False, 5, False)),
        ({"minimum": 1, "exclusiveMinimum": True}, Bounds(1, True, None, False)),  # draft 4
        ({"exclusiveMinimum": True}, Bounds(None, False, None, False)),  # draft 4 flag without a bound
        ({"minimum": 1, "exclusiveMinimum": 3}, Bounds(3, True, None, False)),  # the tighter one wins
        ({"maximum": 2, "exclusiveMaximum": 5}, Bounds(None, False, 2, False)),
        ({"minimum": "1"}, Bounds(None, False, None, False)),
    ],
)
def test_bounds(schema: dict[str, Any], expected: Bounds) -> None:
    assert bounds(schema) == expected


def test_integer_range() -> None:
    assert integer_range(Bounds(0.5, False, 3, True)) == (1, 2)
    assert integer_range(Bounds(1, True, 2.5, False)) == (2, 2)
    assert integer_range(Bounds(None, False, None, False)) == (None, None)


def test_count_and_pointer() -> None:
    assert [count(v) for v in (2, 2.0, 2.5, -1, True, "2")] == [2, 2, None, None, None, None]
    assert pointer("#", "properties", "a/b~c", 0) == "#/properties/a~1b~0c/0"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 2.5, -1.0]) | st.sampled_from("ab"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, database=None)
@given(a=JSON, b=JSON)
def test_json_keys_are_equal_exactly_when_the_values_are(a: Any, b: Any) -> None:
    assert (json_key(a) == json_key(b)) == json_equal(a, b)
    if json_equal(a, b):
        assert hash(json_key(a)) == hash(json_key(b))
