"""`fake.prompted`: the schema a json_object prompt writes (fenced, inline, the last of several), keys named in
prose, and the bounds on what it reads."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema
import pytest

from openai_api_simulator.fake import prompted
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.chat import Conversation, Message, content_seed, generate_answer
from openai_api_simulator.fake.prompted import find_schema, keys_schema, prose_keys
from openai_api_simulator.fake.schema import costs

CITY: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
    "title": "City",
}
BOOK: dict[str, Any] = {"properties": {"title": {"type": "string"}}, "required": ["title"]}  # LangChain: no "type"


def system(text: str) -> list[Message]:
    return [Message("system", text), Message("user", "Tell me about Paris, in JSON.")]


def test_pydantic_ai_prompted_output_instructions() -> None:
    # pydantic-ai's DEFAULT_PROMPTED_OUTPUT_TEMPLATE with json.dumps of the schema.
    text = (
        "\nAlways respond with a JSON object that's compatible with this schema:\n\n"
        f"{json.dumps(CITY)}\n\nDon't include any text or Markdown fencing before or after.\n"
    )
    assert find_schema(system(text)) == CITY


def test_fenced_and_pretty_printed() -> None:
    text = f"Answer in JSON following this schema:\n```json\n{json.dumps(CITY, indent=2)}\n```\nThanks."
    assert find_schema([Message("user", text)]) == CITY


def test_langchain_format_instructions_take_the_real_schema_not_the_example() -> None:
    # PydanticOutputParser.get_format_instructions(): an example schema and instances, then the schema, fenced.
    text = (
        "The output should be formatted as a JSON instance that conforms to the JSON schema below.\n\n"
        'As an example, for the schema {"properties": {"foo": {"title": "Foo", "description": "a list of strings", '
        '"type": "array", "items": {"type": "string"}}}, "required": ["foo"]}\n'
        'the object {"foo": ["bar", "baz"]} is a well-formatted instance of the schema. '
        'The object {"properties": {"foo": ["bar", "baz"]}} is not well-formatted.\n\n'
        f"Here is the output schema:\n```\n{json.dumps(BOOK)}\n```"
    )
    assert find_schema([Message("user", "Name a book.\n" + text)]) == BOOK


def test_the_latest_schema_wins() -> None:
    messages = [Message("system", f"Reply in JSON: {json.dumps(CITY)}"), Message("user", f"No, use {json.dumps(BOOK)}")]
    assert find_schema(messages) == BOOK
    assert find_schema([Message("user", f"json {json.dumps(CITY)} or rather {json.dumps(BOOK)}")]) == BOOK


def test_assistant_and_tool_turns_are_not_instructions() -> None:
    messages = [
        Message("user", f"Reply in JSON: {json.dumps(CITY)}"),
        Message("assistant", json.dumps(BOOK)),
        Message("tool", json.dumps(BOOK)),
    ]
    assert find_schema(messages) == CITY


def test_an_unsupported_or_non_object_schema_falls_back_to_an_earlier_one_or_none() -> None:
    contradiction = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 1}}}
    assert find_schema([Message("user", f"json {json.dumps(CITY)} then {json.dumps(contradiction)}")]) == CITY
    assert find_schema([Message("user", f"json {json.dumps(contradiction)}")]) is None
    assert find_schema([Message("user", 'json {"type": "array", "items": {"type": "string"}}')]) is None


def test_a_refused_schema_costs_the_budget_nothing() -> None:
    # Over what the request has left (its other schemas spent most of it), the last schema is refused: the
    # earlier one answers, and the refused trial's characters are not counted.
    huge = {"type": "object", "properties": {"s": {"type": "string", "minLength": 40_000}}, "required": ["s"]}
    budget = Budget()
    budget.add(costs.CHARS, 180_000)
    assert find_schema([Message("user", f"json {json.dumps(CITY)} {json.dumps(huge)}")], budget) == CITY
    assert budget.spent(costs.CHARS) < 181_000


def test_malformed_json_and_instances_are_ignored() -> None:
    text = 'json {"properties": {"a": {"type": "string"},} oops {name} {"name": "Ada", "age": 3} {"type": "object"'
    assert find_schema([Message("user", text)]) is None
    dup = '{"type": "object", "properties": {"a": {"type": "string"}}, "properties": {}}'
    assert find_schema([Message("user", "json " + dup)]) is None  # a duplicate key: ambiguous
    nan = '{"type": "object", "properties": {"a": {"const": NaN}}}'
    assert find_schema([Message("user", "json " + nan)]) is None
    lone = '{"type": "object", "properties": {"a": {"const": "\\ud800"}}, "required": ["a"]}'
    assert find_schema([Message("user", "json " + lone)]) is None  # the answer could not be encoded
    paired = '{"type": "object", "properties": {"a": {"const": "\\ud83d\\ude00"}}, "required": ["a"]}'
    assert find_schema([Message("user", "json " + paired)]) == json.loads(paired)


def test_wrapped_schema_in_openai_response_format_layout() -> None:
    wrapper = {"name": "city", "strict": True, "schema": CITY}
    assert find_schema([Message("user", f"json {json.dumps(wrapper)}")]) == CITY
    nested = {"type": "json_schema", "json_schema": wrapper}
    assert find_schema([Message("user", f"json {json.dumps(nested)}")]) == CITY


def test_pydantic_root_layouts() -> None:
    recursive = {
        "$defs": {
            "Node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}
        },
        "$ref": "#/$defs/Node",
    }
    assert find_schema([Message("user", f"json {json.dumps(recursive)}")]) == recursive
    union = {"anyOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}]}
    assert find_schema([Message("user", f"json {json.dumps(union)}")]) == union


def test_huge_text_is_bounded() -> None:
    # Thousands of braces that each start a long failing parse, and a megabyte of prose: a few ms, not seconds.
    hostile = '{"a": [' * 1000 + "x" * 100_000
    start = time.perf_counter()
    assert find_schema([Message("user", "json " + hostile * 10)]) is None
    assert find_schema([Message("user", "json " + "{ " * 500_000)]) is None
    assert find_schema([Message("user", "json " + "[" * 100_000 + "{" * 100_000)]) is None  # deep nesting
    assert time.perf_counter() - start < 2.0
    # The scan reads the head and the tail of a long message: a schema at either end is found.
    filler = "lorem ipsum " * 100_000
    assert find_schema([Message("user", f"json {json.dumps(CITY)} {filler}")]) == CITY
    assert find_schema([Message("user", f"json {filler} {json.dumps(CITY)}")]) == CITY
    assert find_schema([Message("user", f"json {filler[:400_000]} {json.dumps(CITY)} {filler}")]) is None


def test_parses_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompted, "MAX_PARSES", 3)
    assert find_schema([Message("user", f"json {{x}} {{y}} {{z}} {json.dumps(CITY)}")]) is None
    assert find_schema([Message("user", f"json {{x}} {{y}} {json.dumps(CITY)}")]) == CITY


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("Answer in JSON with keys name and age.", ["name", "age"]),
        ("Return JSON. fields: title, year", ["title", "year"]),
        ("return a JSON object with `name` and `age`", ["name", "age"]),
        ('a JSON object containing "title" and "year".', ["title", "year"]),
        ("respond in JSON with `setup`, `punchline`, and `rating` keys", ["setup", "punchline", "rating"]),
        ("JSON with the keys name and age and nothing else", ["name", "age"]),
        ("JSON with the key `answer`", ["answer"]),
        ("JSON please, with keys a and b. Later: with keys c and d.", ["c", "d"]),
        # Not lists of keys: a sentence that goes on, a single unquoted word, stop words.
        ("Answer in JSON.", []),
        ("In JSON: the keys are sorted", []),
        ("JSON with the following keys below", []),
        ("a json object with a summary of the text", []),
        ("json with properties of the answer", []),
    ],
)
def test_prose_keys(text: str, keys: list[str]) -> None:
    assert prose_keys(text) == keys


def test_prose_keys_give_exactly_those_keys_with_plausible_values() -> None:
    schema = find_schema([Message("user", "Reply in JSON with keys name, age, year, title and score.")])
    assert schema == keys_schema(["name", "age", "year", "title", "score"])
    conv = Conversation("gpt-sim-1", (Message("user", "json"),), json_schema=schema, content_seed="s")
    value = json.loads(generate_answer(conv, 0).content or "")
    assert list(value) == ["name", "age", "year", "title", "score"]
    assert isinstance(value["name"], str) and value["name"]
    assert isinstance(value["age"], int) and isinstance(value["year"], int)
    assert isinstance(value["score"], (int, float)) and isinstance(value["title"], str)


def test_a_written_schema_beats_prose_keys() -> None:
    assert find_schema([Message("user", f"JSON with keys a and b. Schema: {json.dumps(CITY)}")]) == CITY


def test_no_schema_no_keys_is_none() -> None:
    assert find_schema([Message("user", "Reply in JSON about tea.")]) is None
    assert find_schema([Message("user", "Reply in JSON: {not json} and {}")]) is None
    assert find_schema([]) is None


def test_answers_follow_the_found_schema_deterministically() -> None:
    messages = tuple(system(f"Respond in JSON compatible with {json.dumps(CITY)}"))
    schema = find_schema(messages)
    assert schema is not None
    seed = content_seed({"messages": [m.text for m in messages]})
    conv = Conversation("gpt-sim-1", messages, json_schema=schema, content_seed=seed)
    first = generate_answer(conv, 0).content or ""
    jsonschema.validate(json.loads(first), CITY)
    assert generate_answer(conv, 0).content == first
