"""`fake.schema.names`: a property's name picks a fitting value where the schema leaves the choice open."""

from __future__ import annotations

import pytest

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema import generate
from openai_api_simulator.fake.schema.names import name_tokens, named_float_range, named_int_range
from tests.fake.schema.support import FORMAT_CHECKER, SEEDS


def test_property_names_pick_fitting_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "email": {"type": "string"},
            "website": {"type": "string"},
            "created_at": {"type": "string"},
            "age": {"type": "integer"},
        },
        "required": ["email", "website", "created_at", "age"],
    }
    for seed in SEEDS[:10]:
        value = generate(schema, Rng(seed))
        assert "@" in value["email"]
        assert value["website"].startswith("https://")
        assert FORMAT_CHECKER.conforms(value["created_at"], "date-time")
        assert 18 <= value["age"] <= 90


@pytest.mark.parametrize("name", ["createdAt", "created-at", "created_at", "CreatedAt", "created__at"])
def test_name_spellings_read_alike(name: str) -> None:
    assert name_tokens(name) == ["created", "at"]


def test_named_ranges_apply_only_without_bounds() -> None:
    assert named_int_range("userAge") == (18, 90)
    assert named_float_range("lat") == (-90.0, 90.0)
    assert named_int_range("widget") is None
    for seed in SEEDS[:10]:
        assert 0 <= generate({"type": "integer", "minimum": 0, "maximum": 3}, Rng(seed)) <= 3  # bounds win
        value = generate(
            {"type": "object", "properties": {"latitude": {"type": "number"}}, "required": ["latitude"]}, Rng(seed)
        )
        assert -90 <= value["latitude"] <= 90


def test_a_name_never_overrides_a_length_bound() -> None:
    schema = {"type": "object", "properties": {"email": {"type": "string", "maxLength": 3}}, "required": ["email"]}
    for seed in SEEDS:
        assert len(generate(schema, Rng(seed))["email"]) <= 3
