"""`fake.schema.validate`: values are checked by jsonschema (2020-12 plus the older spellings), cached per root."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema import SchemaError, generate, validate_schema_supported
from openai_api_simulator.fake.schema.validate import VALIDATORS, Checker, root_validator
from tests.fake.schema.support import SEEDS, assert_valid
from tests.support.memory import held_bytes

TREE: dict[str, Any] = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "label": {"type": "string", "maxLength": 3},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
            "required": ["label"],
        }
    },
    "$ref": "#/$defs/node",
}


def test_a_recursive_ref_is_followed_into_nested_values() -> None:
    deep = {"label": "a", "children": [{"label": "b", "children": [{"label": "too long"}]}]}
    checker = Checker(TREE)
    assert checker.is_valid({"label": "a", "children": [{"label": "b", "children": [{"label": "c"}]}]}, TREE)
    error = checker.error(deep, TREE, "#")
    assert error is not None and "'too long' is too long" in error


def test_a_subschema_check_resolves_refs_against_the_root() -> None:
    # On its own, "#/$defs/node" means nothing inside the node schema: only the root has $defs.
    node = TREE["$defs"]["node"]
    checker = Checker(TREE)
    assert checker.is_valid({"label": "a", "children": [{"label": "b"}]}, node)
    error = checker.error({"label": "a", "children": [{"label": "long"}]}, node, "#/$defs/node")
    assert error is not None and error.startswith("#/$defs/node/properties/children/items")


def test_schemas_the_generator_builds_are_checked_against_the_same_root() -> None:
    checker = Checker(TREE)
    merged = {"allOf": [{"$ref": "#/$defs/node"}, {"required": ["children"]}]}
    assert not checker.is_valid({"label": "a"}, merged)
    assert checker.is_valid({"label": "a", "children": []}, merged)


def test_validators_are_reused_for_an_equal_schema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}
    validator = root_validator(schema)
    assert root_validator(copy.deepcopy(schema)) is validator
    assert root_validator({**schema, "required": ["n"]}) is not validator


def test_a_cached_validator_does_not_follow_later_changes_to_the_callers_dict() -> None:
    schema: dict[str, Any] = {"type": "string", "maxLength": 3, "title": "cache-isolation"}
    validator = root_validator(schema)
    schema["maxLength"] = 100
    assert root_validator({"type": "string", "maxLength": 3, "title": "cache-isolation"}) is validator
    assert not validator.is_valid("abcd")


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date", "2024-02-29", "2023-02-29"),
        ("time", "23:59:60+02:00", "12:00"),
        ("date-time", "2024-01-01T12:00:00Z", "2024-01-01 12:00:00"),
        ("email", "ada@example.com", "ada.example.com"),
        ("uri", "https://example.com/a", "/relative/path"),
        ("uuid", "123e4567-e89b-42d3-a456-426614174000", "123e4567e89b42d3a456426614174000"),
        ("ipv4", "192.0.2.1", "256.0.0.1"),
        ("ipv6", "2001:db8::1", "2001:db8::g"),
        ("hostname", "api.example.com", "-api.example.com"),
    ],
)
def test_formats_are_checked(fmt: str, good: str, bad: str) -> None:
    schema = {"type": "string", "format": fmt}
    checker = Checker(schema)
    assert checker.is_valid(good, schema)
    error = checker.error(bad, schema, "#")
    assert error is not None and error.startswith("#/format:")


def test_a_format_constrains_only_strings_and_unknown_formats_are_annotations() -> None:
    checker = Checker({"format": "date"})
    assert checker.is_valid(20240101, {"format": "date"})
    assert checker.is_valid("anything", {"format": "color"})


@pytest.mark.parametrize(
    ("schema", "valid", "invalid"),
    [
        (
            {"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": False},
            ["a", 1],
            ["a", 1, True],
        ),
        ({"type": "array", "items": [{"type": "string"}]}, ["a", 1], [1]),
        ({"type": "object", "dependencies": {"card": ["billing"]}}, {"card": 1, "billing": 2}, {"card": 1}),
        ({"type": "object", "dependencies": {"card": {"required": ["cvv"]}}}, {"cvv": 1}, {"card": 1}),
        ({"type": "number", "minimum": 0, "exclusiveMinimum": True}, 0.5, 0),
        ({"type": "number", "maximum": -1, "exclusiveMaximum": True}, -2, -1),
        ({"type": "number", "exclusiveMinimum": 0}, 0.5, 0),
    ],
)
def test_older_spellings_are_enforced(schema: dict[str, Any], valid: Any, invalid: Any) -> None:
    checker = Checker(schema)
    assert checker.is_valid(valid, schema)
    assert not checker.is_valid(invalid, schema)
    for seed in SEEDS[:10]:
        assert checker.is_valid(generate(schema, Rng(seed)), schema)


def test_schema_keyword_does_not_switch_drafts() -> None:
    # Draft 7 ignores the siblings of $ref; every schema gets the same (stricter) 2020-12 rules here.
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"code": {"type": "string"}},
        "$ref": "#/definitions/code",
        "maxLength": 3,
    }
    assert not Checker(schema).is_valid("abcdef", schema)
    for seed in SEEDS[:10]:
        assert len(generate(schema, Rng(seed))) <= 3


def test_unevaluated_properties_are_enforced() -> None:
    # The hand-written validator ignored unevaluatedProperties and returned {"river_0": ...} here.
    with pytest.raises(SchemaError, match="unevaluatedProperties"):
        validate_schema_supported({"type": "object", "unevaluatedProperties": False, "minProperties": 1})
    schema = {"allOf": [{"properties": {"a": {"type": "integer"}}}], "unevaluatedProperties": False, "minProperties": 1}
    for seed in SEEDS[:10]:
        assert_valid(schema, generate(schema, Rng(seed)))


def test_a_ref_cycle_that_consumes_nothing_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="does not terminate"):
        validate_schema_supported({"anyOf": [{"$ref": "#"}, {"type": "null"}]})


@pytest.mark.parametrize("ref", ["https://example.com/schemas/other.json", "#missing-anchor"])
def test_an_unresolvable_dynamic_ref_is_a_schema_error_not_a_fetch(ref: str) -> None:
    with pytest.raises(SchemaError, match="cannot be resolved"):
        validate_schema_supported({"type": "string", "$dynamicRef": ref})


TAGGED: dict[str, Any] = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}


def test_a_containers_check_skips_subtrees_this_checker_already_passed() -> None:
    # Changing a value after its check breaks the generator's rule (checked values are final); it shows here
    # that the container's check did not walk the subtree again.
    tags = ["a"]
    checker = Checker(TAGGED)
    assert checker.is_valid(tags, TAGGED["properties"]["tags"])
    tags.append(5)  # type: ignore[arg-type]
    assert checker.is_valid({"tags": tags}, TAGGED)
    assert not Checker(TAGGED).is_valid({"tags": tags}, TAGGED)


def test_nothing_is_skipped_where_a_verdict_can_depend_on_the_path() -> None:
    schema = copy.deepcopy(TAGGED)
    schema["properties"]["tags"]["$id"] = "https://example.com/tags"
    tags = ["a"]
    checker = Checker(schema)
    assert checker.is_valid(tags, schema["properties"]["tags"])
    tags.append(5)  # type: ignore[arg-type]
    assert not checker.is_valid({"tags": tags}, schema)


def wide_schema(tag: str, properties: int) -> dict[str, Any]:
    props = {f"{tag}_{k}": {"type": "string", "description": "d" * 50} for k in range(properties)}
    return {"type": "object", "properties": props, "required": [f"{tag}_0"]}


@pytest.mark.usefixtures("default_cache_sizes")
def test_the_validator_cache_is_bounded_by_bytes() -> None:
    VALIDATORS.resize(0)
    VALIDATORS.resize(1_000_000)
    for i in range(40):  # 40 schemas of 25 KB: about 8 MB as counted, unbounded
        Checker(wide_schema(f"s{i}", 300)).is_valid({f"s{i}_0": "x"}, wide_schema(f"s{i}", 300))
    assert VALIDATORS.nbytes <= 1_000_000 and len(VALIDATORS) < 8


@pytest.mark.usefixtures("default_cache_sizes")
def test_the_validator_cache_counts_at_least_what_it_holds() -> None:
    VALIDATORS.resize(0)
    VALIDATORS.resize(100_000_000)
    schemas = [wide_schema(f"h{i}", 100) for i in range(10)]

    def build_and_use() -> None:
        for schema in schemas:
            assert Checker(schema).is_valid({schema["required"][0]: "x"}, schema)

    assert held_bytes(build_and_use) <= VALIDATORS.nbytes
