"""`fake.schema.graph`: nesting heights as a walk that cuts cycles finds them, without walking every cycle;
expansion counts that refuse an allOf fan-out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_api_simulator import limits
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema import SchemaError, generate, validate_schema_supported
from openai_api_simulator.fake.schema.document import Document
from tests.fake.schema.support import assert_valid


def cut_walk_height(doc: Document, schema: Any, stack: tuple[int, ...] = ()) -> float:
    """The definition, followed literally: depth first, a schema met again on the path counts as endless."""
    if schema is True:
        return 0.0
    if not isinstance(schema, Mapping) or id(schema) in stack:
        return math.inf
    inner = (*stack, id(schema))
    result = 0.0
    if "$ref" in schema:
        result = max(result, cut_walk_height(doc, doc.resolve(schema["$ref"], "#")[0], inner))
    for part in schema.get("allOf", []):
        result = max(result, cut_walk_height(doc, part, inner))
    if "anyOf" in schema:
        result = max(result, min(cut_walk_height(doc, b, inner) for b in schema["anyOf"]))
    if "enum" in schema:
        return result
    if schema.get("type") == "object":
        props = schema.get("properties", {})
        needed = [cut_walk_height(doc, props[r], inner) for r in schema.get("required", []) if r in props]
        result = max(result, 1.0 + max(needed, default=0.0))
    elif schema.get("type") == "array":
        result = max(result, 1.0 + (cut_walk_height(doc, schema["items"], inner) if schema.get("minItems") else 0))
    return result


def ref(i: int) -> dict[str, Any]:
    return {"$ref": f"#/$defs/d{i}"}


def definitions(size: int) -> st.SearchStrategy[dict[str, Any]]:
    """Mutually recursive $defs: objects, arrays, anyOf and allOf of references to one another."""
    target = st.integers(0, size - 1)
    body = st.one_of(
        st.lists(target, min_size=1, max_size=3).map(
            lambda ts: {
                "type": "object",
                "properties": {f"p{k}": ref(t) for k, t in enumerate(ts)},
                "required": [f"p{k}" for k in range(len(ts)) if k % 2 == 0],
            }
        ),
        st.tuples(target, st.integers(0, 1)).map(lambda t: {"type": "array", "items": ref(t[0]), "minItems": t[1]}),
        st.lists(target, min_size=1, max_size=3).map(lambda ts: {"anyOf": [ref(t) for t in ts]}),
        st.lists(target, min_size=1, max_size=2).map(lambda ts: {"anyOf": [*[ref(t) for t in ts], {"enum": [1]}]}),
        st.lists(target, min_size=1, max_size=2).map(lambda ts: {"allOf": [ref(t) for t in ts]}),
        st.just({"type": "string"}),
    )
    return st.lists(body, min_size=size, max_size=size).map(lambda bodies: {f"d{i}": b for i, b in enumerate(bodies)})


@settings(max_examples=150, deadline=None, database=None)
@given(defs=st.integers(2, 6).flatmap(definitions))
def test_heights_are_those_of_the_walk_that_cuts_cycles(defs: dict[str, Any]) -> None:
    root = {"$defs": defs, "anyOf": [ref(i) for i in range(len(defs))]}
    doc = Document(root)
    for schema in [root, *defs.values()]:
        assert doc.min_height(schema) == cut_walk_height(doc, schema)


def mutually_recursive(size: int) -> dict[str, Any]:
    """The issue's schema: every definition refers to the next three, each reference nullable and required."""
    defs = {
        f"d{i}": {
            "type": "object",
            "properties": {f"p{j}": {"anyOf": [ref((i + j + 1) % size), {"type": "null"}]} for j in range(3)},
            "required": ["p0", "p1", "p2"],
        }
        for i in range(size)
    }
    return {"type": "object", "$defs": defs, "properties": {"root": ref(0)}, "required": ["root"]}


def test_a_few_kilobytes_of_mutually_recursive_defs_are_worked_out_and_generated() -> None:
    # A walk of every cycle is exponential in the definitions: seconds at 12, far beyond the test timeout at 30.
    schema = mutually_recursive(30)
    validate_schema_supported(schema)
    assert_valid(schema, generate(schema, Rng("seed")))
    assert Document(schema).min_height(schema) == 2.0  # root, then a d0 whose properties are all null


def fan_out(levels: int) -> dict[str, Any]:
    defs: dict[str, Any] = {f"a{i}": {"allOf": [{"$ref": f"#/$defs/a{i + 1}"}] * 2} for i in range(levels)}
    defs[f"a{levels}"] = {"type": "string"}
    return {"$defs": defs, "type": "object", "properties": {"x": {"$ref": "#/$defs/a0"}}, "required": ["x"]}


def test_an_allof_fan_out_through_refs_is_refused_where_it_explodes() -> None:
    # k levels above the string, a value is checked against 2^(k+2) - 3 subschemas (the $ref objects count).
    validate_schema_supported(fan_out(7))  # 509: within the limit
    with pytest.raises(SchemaError) as caught:
        validate_schema_supported(fan_out(20))  # four million: the validator would walk every one
    assert f"more than {limits.MAX_SCHEMA_EXPANSION:,} subschemas" in caught.value.reason
    assert caught.value.pointer == "#/$defs/a12"  # 8 levels up, the first past the limit


def test_a_shared_definition_counts_once_per_use_not_once_per_path_below_it() -> None:
    # 300 properties that each use one small shared definition: 300 uses, each checked on its own value.
    item = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    props = {f"p{i}": {"$ref": "#/$defs/item"} for i in range(300)}
    schema = {"$defs": {"item": item}, "type": "object", "properties": props}
    validate_schema_supported(schema, Budget())
