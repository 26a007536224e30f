"""`fake.schema.generator`: generated values validate (checked with the real `jsonschema`), deterministically."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_api_simulator.fake.budget import Budget, BudgetExceeded
from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema import SchemaError, generate, recharge, validate_schema_supported
from tests.fake.schema.support import SEEDS, assert_valid


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


TREE: dict[str, Any] = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "label": {"type": "string", "maxLength": 12},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
            "required": ["label", "children"],
            "additionalProperties": False,
        }
    },
    "$ref": "#/$defs/node",
}

LINKED_LIST: dict[str, Any] = {
    "type": "object",
    "properties": {"value": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
    "required": ["value", "next"],
    "additionalProperties": False,
}

OPENAI_STRICT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City and country"},
        "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
        "days": {"type": "integer"},
        "hourly": {"type": "boolean"},
        "stations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "elevation": {"type": ["number", "null"]}},
                "required": ["id", "elevation"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["location", "unit", "days", "hourly", "stations"],
    "additionalProperties": False,
}

CASES: dict[str, Any] = {
    "string": {"type": "string"},
    "string-lengths": {"type": "string", "minLength": 5, "maxLength": 8},
    "string-one-char": {"type": "string", "maxLength": 1},
    "string-long": {"type": "string", "minLength": 300},
    "integer-exclusive-multiple": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 100, "multipleOf": 7},
    "integer-float-bounds": {"type": "integer", "minimum": -2.5, "maximum": 2.5},
    "number-bounds": {"type": "number", "minimum": -1.5, "maximum": 2.25},
    "number-tight-exclusive": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.001},
    "number-multiple-decimal": {"type": "number", "minimum": 0, "maximum": 10, "multipleOf": 0.01},
    "number-multiple-half": {"type": "number", "exclusiveMinimum": -3, "maximum": 3, "multipleOf": 0.5},
    "scalars": {
        "type": "object",
        "properties": {"flag": {"type": "boolean"}, "nothing": {"type": "null"}},
        "required": ["flag", "nothing"],
    },
    "enum-mixed": {"enum": ["red", 1, None, {"a": [1, 2]}, [True]]},
    "const": {"const": {"version": 2, "tags": ["x"]}},
    "nullable": {"type": ["string", "null"], "minLength": 2},
    "type-list": {"type": ["integer", "string", "array"], "items": {"type": "boolean"}},
    "formats": {
        "type": "object",
        "properties": {
            name: {"type": "string", "format": name}
            for name in ("date-time", "date", "time", "email", "uri", "uuid", "ipv4", "ipv6", "hostname")
        },
        "required": ["date-time", "date", "time", "email", "uri", "uuid", "ipv4", "ipv6", "hostname"],
    },
    "patterns": {
        "type": "object",
        "properties": {
            "lower": {"type": "string", "pattern": "^[a-z]+$"},
            "phone": {"type": "string", "pattern": r"^\d{3}-\d{4}$"},
            "code": {"type": "string", "pattern": "^[A-Z]{2,4}$"},
            "alt": {"type": "string", "pattern": "^(foo|bar)-[0-9a-f]{4}$"},
            "mail": {"type": "string", "pattern": r"^[^@\s]+@example\.org$"},
            "dotted": {"type": "string", "pattern": r"^\w+(\.\w+)*$"},
            "unanchored": {"type": "string", "pattern": "abc"},
            "optional-group": {"type": "string", "pattern": r"^v\d+(\.\d+){0,2}(-rc\d)?$"},
            "escapes": {"type": "string", "pattern": r"^\u00e9\x41[\]\-]{2}$"},
        },
        "required": ["lower", "phone", "code", "alt", "mail", "dotted", "unanchored", "optional-group", "escapes"],
    },
    "pattern-and-lengths": {"type": "string", "pattern": "^[a-z]+$", "minLength": 10, "maxLength": 12},
    "pattern-unanchored-padding": {"type": "string", "pattern": "^id", "minLength": 8},
    "nested-objects": {
        "type": "object",
        "properties": {
            "user": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "address": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": r"^\d{5}$"}},
                        "required": ["city", "zip"],
                    },
                },
                "required": ["name", "address"],
            }
        },
        "required": ["user"],
    },
    "array-of-objects": {
        "type": "array",
        "minItems": 2,
        "maxItems": 4,
        "items": {
            "type": "object",
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
            "required": ["sku", "qty"],
            "additionalProperties": False,
        },
    },
    "unique-items": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True, "maxItems": 3},
    "unique-integers": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 9},
        "uniqueItems": True,
        "minItems": 5,
    },
    "prefix-items": {
        "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}],
        "items": False,
        "minItems": 2,
    },
    "contains": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 100},
        "contains": {"type": "integer", "minimum": 90},
        "minContains": 2,
        "maxItems": 5,
    },
    "defs-ref": {
        "$defs": {
            "address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                "required": ["street", "city"],
            }
        },
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/address"}, "work": {"$ref": "#/$defs/address"}},
        "required": ["home", "work"],
    },
    "definitions-ref": {
        "definitions": {"color": {"enum": ["red", "green", "blue"]}},
        "type": "array",
        "items": {"$ref": "#/definitions/color"},
        "minItems": 1,
    },
    "recursive-tree": TREE,
    "root-recursion": LINKED_LIST,
    "any-of": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 1000}, {"type": "null"}]},
    "one-of-discriminated": {
        "oneOf": [
            {
                "type": "object",
                "properties": {"kind": {"const": "circle"}, "radius": {"type": "number", "exclusiveMinimum": 0}},
                "required": ["kind", "radius"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"kind": {"const": "square"}, "side": {"type": "number", "exclusiveMinimum": 0}},
                "required": ["kind", "side"],
                "additionalProperties": False,
            },
        ]
    },
    "one-of-overlapping": {"oneOf": [{"type": "number"}, {"type": "integer"}]},
    "all-of-merge": {
        "allOf": [
            {"type": "object", "properties": {"id": {"type": "integer", "minimum": 0}}, "required": ["id"]},
            {"properties": {"id": {"maximum": 10}, "name": {"type": "string"}}, "required": ["name"]},
        ]
    },
    "openai-strict": OPENAI_STRICT,
    "pydantic-optional": {
        "type": "object",
        "title": "Model",
        "properties": {
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Note"},
            "tags": {"type": "array", "items": {"type": "string"}, "title": "Tags"},
        },
        "required": ["tags"],
    },
    "empty-schema": {},
    "true-schema": True,
    "additional-properties-schema": {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 2},
    "pattern-properties": {
        "type": "object",
        "patternProperties": {"^x_[a-z]+$": {"type": "string"}},
        "additionalProperties": False,
        "minProperties": 1,
    },
    "property-count": {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in "abcdefgh"},
        "minProperties": 3,
        "maxProperties": 4,
    },
    "not": {"type": "integer", "minimum": 0, "maximum": 5, "not": {"enum": [0, 1, 2]}},
    "if-then-else": {
        "type": "object",
        "properties": {"kind": {"enum": ["a", "b"]}, "n": {"type": "integer"}},
        "required": ["kind", "n"],
        "if": {"properties": {"kind": {"const": "a"}}},
        "then": {"properties": {"n": {"minimum": 100}}},
        "else": {"properties": {"n": {"maximum": -100}}},
    },
    "dependent-required": {
        "type": "object",
        "properties": {"card": {"type": "string"}, "billing": {"type": "string"}},
        "dependentRequired": {"card": ["billing"]},
    },
    "untyped-keywords": {"properties": {"a": {"minimum": 3, "maximum": 4}}, "required": ["a"]},
}


@pytest.mark.parametrize("name", list(CASES))
def test_generated_values_validate(name: str) -> None:
    schema = CASES[name]
    validate_schema_supported(schema)
    for seed in SEEDS:
        value = generate(schema, Rng(seed), hint="What is the weather in Lisbon this weekend?")
        assert_valid(schema, value)


@pytest.mark.parametrize("name", list(CASES))
def test_deterministic(name: str) -> None:
    schema = CASES[name]
    for seed in SEEDS[:5]:
        assert generate(schema, Rng(seed)) == generate(schema, Rng(seed))


@pytest.mark.parametrize("name", ["string", "array-of-objects", "openai-strict", "recursive-tree", "empty-schema"])
def test_different_seeds_differ(name: str) -> None:
    outputs = {json.dumps(generate(CASES[name], Rng(seed)), sort_keys=True) for seed in SEEDS[:20]}
    assert len(outputs) > 5


def test_schema_is_not_mutated() -> None:
    for schema in CASES.values():
        before = copy.deepcopy(schema)
        generate(schema, Rng("x"))
        assert schema == before


def test_recursion_terminates_and_stays_small() -> None:
    for seed in SEEDS:
        assert depth(generate(TREE, Rng(seed))) <= 14
        assert depth(generate(LINKED_LIST, Rng(seed))) <= 8


def test_strict_mode_objects_have_every_property() -> None:
    for seed in SEEDS:
        value = generate(OPENAI_STRICT, Rng(seed))
        assert set(value) == set(OPENAI_STRICT["properties"])
        for station in value["stations"]:
            assert set(station) == {"id", "elevation"}


def test_optional_properties_sometimes_present_sometimes_not() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
    shapes = {tuple(sorted(generate(schema, Rng(seed)))) for seed in SEEDS}
    assert ("a", "b") in shapes
    assert len(shapes) > 1


def test_no_undeclared_properties() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    for seed in SEEDS:
        assert set(generate(schema, Rng(seed))) == {"a"}


# --------------------------------------------------------------------------------------------------
# Property test: random (satisfiable) schemas always get a valid value.
# --------------------------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(st.text(max_size=5), st.integers(-5, 5), st.booleans(), st.none())
PATTERNS = ["^[a-z]+$", r"^\d{3}-\d{4}$", "^[A-Z]{2,4}$", "^(ab|cd)+x?$", r"^[a-f0-9]{8}$", "^item-[0-9]+$"]
FORMATS = ["date-time", "date", "time", "email", "uuid", "ipv4", "hostname", "uri"]


@st.composite
def string_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    flavour = draw(st.sampled_from(["plain", "lengths", "pattern", "format"]))
    if flavour == "lengths":
        lo = draw(st.integers(0, 20))
        schema["minLength"] = lo
        if draw(st.booleans()):
            schema["maxLength"] = draw(st.integers(max(lo, 0), 40))
    elif flavour == "pattern":
        schema["pattern"] = draw(st.sampled_from(PATTERNS))
    elif flavour == "format":
        schema["format"] = draw(st.sampled_from(FORMATS))
    return schema


@st.composite
def integer_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    step = draw(st.sampled_from([1, 2, 3, 5, 7, 10]))
    if step > 1:
        schema["multipleOf"] = step
    # Bounds are multiples of the step, so at least one value always fits.
    lo = draw(st.integers(-100, 100)) * step
    hi = lo + draw(st.integers(0, 20)) * step
    exclusive = draw(st.booleans())
    if draw(st.booleans()):
        schema["exclusiveMinimum" if exclusive else "minimum"] = lo - 1 if exclusive else lo
    if draw(st.booleans()):
        schema["exclusiveMaximum" if exclusive else "maximum"] = hi + 1 if exclusive else hi
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    step = draw(st.sampled_from([None, 0.5, 0.25, 2.5, 0.1, 0.01]))
    lo = draw(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
    width = draw(st.floats(0, 1e4, allow_nan=False, allow_infinity=False))
    if step is not None:
        schema["multipleOf"] = step
        width += 50 * step  # room for plenty of multiples
    exclusive = draw(st.booleans())
    if exclusive:
        width += 1.0
    if draw(st.booleans()):
        schema["exclusiveMinimum" if exclusive else "minimum"] = lo
    if draw(st.booleans()):
        schema["exclusiveMaximum" if exclusive else "maximum"] = lo + width
    return schema


LEAVES = st.one_of(
    string_schemas(),
    integer_schemas(),
    number_schemas(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(JSON_SCALARS, min_size=1, max_size=4).map(lambda values: {"enum": values}),
    st.builds(lambda value: {"const": value}, JSON_SCALARS),
    st.just({}),
)

KEYS = st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True)


@st.composite
def object_schemas(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> dict[str, Any]:
    properties = draw(st.dictionaries(KEYS, children, max_size=4))
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = [key for key in properties if draw(st.booleans())]
    closed = draw(st.sampled_from([None, False, True]))
    if closed is not None:
        schema["additionalProperties"] = closed
    return schema


@st.composite
def array_schemas(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": draw(children)}
    if draw(st.booleans()):
        schema["minItems"] = draw(st.integers(0, 3))
    if draw(st.booleans()):
        schema["maxItems"] = schema.get("minItems", 0) + draw(st.integers(0, 3))
    return schema


def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        object_schemas(children),
        array_schemas(children),
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches}),
        children.map(lambda child: {"anyOf": [child, {"type": "null"}]}),
    )


SCHEMAS = st.recursive(LEAVES, extend, max_leaves=12)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=SCHEMAS, seed=st.text(max_size=8))
def test_random_schemas_always_validate(schema: Any, seed: str) -> None:
    validate_schema_supported(schema)
    value = generate(schema, Rng(seed))
    assert_valid(schema, value)
    assert generate(schema, Rng(seed)) == value


def test_a_minimum_past_the_limit_is_refused_before_any_work() -> None:
    schema = {"type": "array", "minItems": 25_000, "items": {"type": "integer"}}
    with pytest.raises(SchemaError, match=r"minItems \(25,000\) is above the simulator's limit of 10,000 items"):
        generate(schema, Rng("seed"))


def test_work_is_bounded_and_the_limit_is_not_retried_around() -> None:
    # 5,000 objects of five properties are 30,000 values: past the steps one request may take. The property
    # is optional, and a property that cannot be generated is left out; running out is not such a miss.
    props = {f"p{i}": {"type": "integer"} for i in range(5)}
    heavy = {
        "type": "array",
        "minItems": 10_000,
        "items": {"type": "object", "properties": props, "required": [*props]},
    }
    with pytest.raises(BudgetExceeded, match=r"more than 20,000 steps"):  # the count, not the clock
        generate({"type": "object", "properties": {"a": heavy}, "minProperties": 1}, Rng("seed"), budget=Budget(600))


def test_best_effort_misses_are_redrawn() -> None:
    # About half the first draws of 0..9 are even and miss `not`: every seed succeeding takes redraws.
    schema = {"type": "integer", "minimum": 0, "maximum": 9, "not": {"multipleOf": 2}}
    assert {generate(schema, Rng(seed)) for seed in SEEDS} <= {1, 3, 5, 7, 9}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "number", "multipleOf": 1e-308, "minimum": 0, "maximum": 1e308},  # 10^616 multiples
        {"type": "number", "multipleOf": 1e-300},
        {"type": "integer", "minimum": -1e308, "maximum": 1e308},
        {"type": "integer", "minimum": -(10**307), "maximum": 10**307, "multipleOf": 7},
    ],
)
def test_ranges_past_a_float_s_reach_give_valid_numbers(schema: dict[str, Any]) -> None:
    # These overflowed a float when drawing (a 500 from the API).
    for seed in SEEDS[:5]:
        assert_valid(schema, generate(schema, Rng(seed)))


def test_a_long_minimum_length_is_met_and_the_longest_string_is_not_overshot() -> None:
    assert len(generate({"type": "string", "minLength": 50_000}, Rng("seed"))) == 50_000
    again = generate({"type": "string", "minLength": 49_000, "maxLength": 10**12}, Rng("seed"))
    assert 49_000 <= len(again) <= 50_000


def test_generated_characters_are_counted_over_the_whole_request() -> None:
    budget = Budget()
    long = {"type": "string", "minLength": 50_000, "maxLength": 50_000}
    for seed in "abcd":
        generate(long, Rng(seed), budget=budget)
    with pytest.raises(BudgetExceeded, match="more than 200,000 characters"):
        generate({"type": "string", "minLength": 1, "maxLength": 1}, Rng("e"), budget=budget)


def test_remembered_work_is_charged_again() -> None:
    budget = Budget()
    generate({"type": "string", "minLength": 40_000, "maxLength": 40_000}, Rng("a"), budget=budget)
    work = budget.since({})
    fresh = Budget()
    recharge(fresh, work)  # what a cache hit does: the same request costs the same
    assert fresh.counts() == budget.counts()
    for _ in range(4):
        recharge(fresh, work)
    with pytest.raises(BudgetExceeded, match="more than 200,000 characters"):
        recharge(fresh, work)
