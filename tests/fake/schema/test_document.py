"""`fake.schema.document`: malformed and contradictory schemas are rejected with a message naming the spot."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
