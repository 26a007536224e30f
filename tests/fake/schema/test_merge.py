"""`fake.schema.merge`: two schemas that must both hold become one, or False when they contradict."""

from __future__ import annotations

from typing import Any

import pytest

from openai_api_simulator.fake.schema.merge import merge


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [
        ({"type": ["string", "null"]}, {"type": "string"}, {"type": ["string"]}),
        ({"type": "number"}, {"type": "integer"}, {"type": ["integer"]}),
        ({"minimum": 1, "maximum": 9}, {"minimum": 3, "maximum": 20}, {"minimum": 3, "maximum": 9}),
        ({"exclusiveMinimum": 1}, {"exclusiveMinimum": 2}, {"exclusiveMinimum": 2}),
        ({"multipleOf": 4}, {"multipleOf": 6}, {"multipleOf": 12}),
        ({"multipleOf": 0.5}, {"multipleOf": 0.75}, {"multipleOf": 1.5}),
        ({"enum": [1, 2, 3]}, {"enum": [3, 2.0, "x"]}, {"enum": [2, 3]}),
        ({"required": ["a"]}, {"required": ["b", "a"]}, {"required": ["a", "b"]}),
        (
            {"properties": {"a": {"type": "integer"}}},
            {"properties": {"a": {"minimum": 0}, "b": {}}},
            {"properties": {"a": {"allOf": [{"type": "integer"}, {"minimum": 0}]}, "b": {}}},
        ),
        ({"not": {"const": 1}}, {"not": {"const": 2}}, {"not": {"anyOf": [{"const": 1}, {"const": 2}]}}),
        ({"type": "string"}, {"title": "ignored", "description": "ignored"}, {"type": "string"}),
        (True, {"type": "string"}, {"type": "string"}),
        ({"type": "string"}, True, {"type": "string"}),
    ],
)
def test_merges(a: Any, b: Any, merged: Any) -> None:
    assert merge(a, b) == merged


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"type": "string"}, {"type": "integer"}),
        ({"enum": [1, 2]}, {"enum": [3]}),
        ({"enum": [True]}, {"enum": [1]}),
        ({"const": "a"}, {"const": "b"}),
        (False, {"type": "string"}),
        ({"type": "string"}, False),
    ],
)
def test_contradictions_merge_to_false(a: Any, b: Any) -> None:
    assert merge(a, b) is False


def test_neither_side_is_mutated() -> None:
    a = {"properties": {"x": {"type": "integer"}}, "required": ["x"]}
    b = {"properties": {"x": {"minimum": 1}}, "required": ["y"]}
    merge(a, b)
    assert a == {"properties": {"x": {"type": "integer"}}, "required": ["x"]}
    assert b == {"properties": {"x": {"minimum": 1}}, "required": ["y"]}
