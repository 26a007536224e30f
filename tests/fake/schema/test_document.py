"""`fake.schema.document`: malformed and contradictory schemas are rejected with a message naming the spot."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema import SchemaError, generate, validate_schema_supported


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"$ref": "#/$defs/missing"}, "cannot be resolved"),
        ({"type": "object", "properties": {"a": {"$ref": "#/definitions/nope"}}}, "#/properties/a"),
        ({"$ref": "https://example.com/other.json"}, "only local references"),
        ({"enum": []}, "enum is empty"),
        ({"type": "object", "properties": {"x": {"enum": []}}}, "#/properties/x"),
        ({"type": "integer", "minimum": 5, "maximum": 3}, "minimum (5)"),
        ({"type": "number", "exclusiveMinimum": 1, "maximum": 1}, "exclusiveMinimum"),
        ({"type": "integer", "minimum": 1.2, "maximum": 1.8}, "no integer"),
        ({"type": "integer", "minimum": 1, "maximum": 4, "multipleOf": 5}, "multiple of 5"),
        ({"type": "array", "minItems": 3, "maxItems": 1}, "minItems (3)"),
        ({"type": "string", "minLength": 4, "maxLength": 2}, "minLength (4)"),
        ({"not": {}}, "#/not"),
        ({"type": "strange"}, "unknown type"),
        ({"type": "string", "pattern": "["}, "not a valid regular expression"),
        ({"type": "string", "pattern": r"^(?=.*\d)[a-z]{3}$"}, r"^(?=.*\\d)[a-z]{3}$"),
        ({"type": "object", "required": ["x"], "additionalProperties": False}, "'x'"),
        ({"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]}, "no finite value"),
        ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "no value"),
        ({"type": "array", "items": {"type": "boolean"}, "uniqueItems": True, "minItems": 3}, "uniqueItems"),
        ({"type": "object", "properties": {"a": 1}}, "#/properties/a"),
        ({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, "#"),
        (False, "#"),
    ],
)
def test_schema_errors(schema: Any, fragment: str) -> None:
    with pytest.raises(SchemaError) as caught:
        validate_schema_supported(schema)
    assert fragment in str(caught.value)
    with pytest.raises(SchemaError):
        generate(schema, Rng("seed"))


@pytest.mark.parametrize("schema", [[], "string", 42, None, [{"type": "string"}]])
def test_non_schema_values_are_rejected(schema: Any) -> None:
    with pytest.raises(SchemaError, match="must be a JSON object or a boolean"):
        validate_schema_supported(schema)


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"type": "string", "format": ["date"]}, "#/format: format must be a string, not array"),
        ({"$id": 5}, "#/$id: $id must be a string"),
        ({"type": "object", "properties": {"a": {"$schema": 7}}}, "#/properties/a/$schema: $schema must be a string"),
        ({"$dynamicRef": None}, "#/$dynamicRef: $dynamicRef must be a string"),
        ({"type": "object", "dependentRequired": ["a"]}, "#/dependentRequired: dependentRequired must be an object"),
        ({"type": "object", "dependentRequired": {"a": "b"}}, "#/dependentRequired/a: dependentRequired values"),
        ({"type": "object", "dependencies": {"a": 5}}, "#/dependencies/a: dependencies values must be arrays"),
    ],
)
def test_keywords_the_validator_cannot_apply_are_named(schema: Any, fragment: str) -> None:
    with pytest.raises(SchemaError) as caught:
        validate_schema_supported(schema)
    assert fragment in str(caught.value)


KEYWORDS = [
    "type", "properties", "required", "items", "prefixItems", "additionalItems", "additionalProperties", "enum",
    "const", "minimum", "exclusiveMinimum", "multipleOf", "minLength", "pattern", "format", "minItems",
    "uniqueItems", "contains", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$ref", "$defs",
    "dependencies", "dependentRequired", "propertyNames", "patternProperties", "unevaluatedProperties", "$id",
    "$schema", "$anchor", "$dynamicRef", "a",
]  # fmt: skip
WORDS = ["string", "integer", "object", "array", "null", "#", "#/$defs/a", "^a", "date", "email", "a", "#a"]
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.floats(-2, 5), st.sampled_from(WORDS))
VALUES = st.recursive(
    LEAVES, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.sampled_from(KEYWORDS), c, max_size=4))
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=st.dictionaries(st.sampled_from(KEYWORDS), VALUES, max_size=5))
def test_any_json_as_a_schema_gives_a_value_or_a_schema_error(schema: dict[str, Any]) -> None:
    try:
        validate_schema_supported(schema)
        generate(schema, Rng("seed"))
    except SchemaError:
        pass


def deep(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        (deep(65), "schema nests more than 64 levels deep, the simulator's limit"),
        (
            {"type": "string", "minLength": 50_001},
            "#/minLength: minLength (50,001) is above the simulator's limit of 50,000",
        ),
        (
            {"type": "array", "minItems": 10**20},
            "minItems (1e+20) is above the simulator's limit",
        ),
        ({"type": "object", "minProperties": 20_000}, "limit of 10,000 properties"),
        ({"type": "string", "pattern": "a" * 1_001}, "#/pattern: pattern is 1,001 characters long"),
        ({"type": "string", "pattern": r"^(?=x)(a+)+$"}, "#/pattern: pattern '^(?=x)(a+)+$' can backtrack"),
        ({"type": "string", "pattern": "(" * 101 + ")" * 101}, "nests groups more than 100 deep"),
        ({"type": "integer", "minimum": 10**400}, "#/minimum: minimum must be a number"),
        (
            {"patternProperties": {r"^(\w+_?)+$": {}}, "unevaluatedProperties": False},
            "could backtrack for too long on property names",
        ),
    ],
)
def test_schemas_over_the_limits_are_refused_naming_the_spot_and_the_limit(schema: Any, fragment: str) -> None:
    with pytest.raises(SchemaError) as caught:
        validate_schema_supported(schema)
    assert fragment in str(caught.value)


def test_the_limits_admit_what_they_name() -> None:
    validate_schema_supported(deep(64))
    validate_schema_supported({"type": "string", "minLength": 50_000})
    validate_schema_supported({"type": "string", "pattern": "a" * 1_000})
    # Without unevaluatedProperties the same pattern meets property names through the linear-time matcher.
    validate_schema_supported({"patternProperties": {r"^(\w+_?)+$": {}}, "additionalProperties": False})


def test_the_request_s_schemas_are_counted_together() -> None:
    budget = Budget(deadline_s=600)  # the count refuses it, not the clock of a busy machine
    props = {f"p{i}": {"type": "integer"} for i in range(999)}
    for _ in range(20):  # 20 schemas of 1,000 subschemas: exactly the limit
        validate_schema_supported({"type": "object", "properties": props}, budget)
    with pytest.raises(SchemaError, match="the request's schemas have more than 20,000 subschemas"):
        validate_schema_supported({"type": "string"}, budget)
    validate_schema_supported({"type": "string"})  # another request, another count
