"""json_object answers that follow the prompt's schema or keys, through the official `openai` SDK (Chat and
Responses, stream and not), deterministic to the byte; other answers as before."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import openai

from openai_api_simulator.fake.chat import json_object_schema

CITY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "population": {"type": "integer", "minimum": 0},
        "country": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["old", "big", "coastal"]}, "minItems": 1},
    },
    "required": ["name", "population", "country", "tags"],
    "additionalProperties": False,
}
INSTRUCTIONS = f"Always respond with a JSON object that's compatible with this schema:\n\n{json.dumps(CITY)}"


def _chat(client: openai.OpenAI, messages: list[Any], **kw: Any) -> str:
    r = client.chat.completions.create(
        model="gpt-sim-1", messages=messages, response_format={"type": "json_object"}, **kw
    )
    return r.choices[0].message.content or ""


def test_chat_follows_a_schema_in_the_system_message(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": "Paris?"}]
    content = _chat(client, messages)
    jsonschema.validate(json.loads(content), CITY)
    assert _chat(client, messages) == content
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="gpt-sim-1", messages=messages, response_format={"type": "json_object"}, stream=True
        )
        if c.choices
    )
    assert streamed == content


def test_chat_follows_a_fenced_schema_in_content_parts(client: openai.OpenAI) -> None:
    parts = [
        {"type": "text", "text": "Describe the city in the picture as JSON matching:"},
        {"type": "text", "text": f"```json\n{json.dumps(CITY, indent=2)}\n```"},
    ]
    content = _chat(client, [{"role": "user", "content": parts}])
    jsonschema.validate(json.loads(content), CITY)


def test_chat_honours_keys_named_in_prose(client: openai.OpenAI) -> None:
    content = _chat(client, [{"role": "user", "content": "Return a JSON object with `title` and `year`."}])
    value = json.loads(content)
    assert list(value) == ["title", "year"]
    assert isinstance(value["title"], str) and isinstance(value["year"], int)


def test_chat_without_schema_or_keys_keeps_the_default_object(client: openai.OpenAI) -> None:
    value = json.loads(_chat(client, [{"role": "user", "content": "Reply in JSON about tea."}]))
    jsonschema.validate(value, json_object_schema())


def test_an_unsupported_prompted_schema_falls_back_to_the_default(client: openai.OpenAI) -> None:
    bad = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 9, "maximum": 1}}}
    content = _chat(client, [{"role": "user", "content": f"Reply in JSON: {json.dumps(bad)}"}])
    jsonschema.validate(json.loads(content), json_object_schema())


def test_json_schema_format_ignores_the_prompt(client: openai.OpenAI) -> None:
    # response_format json_schema is the contract; a schema in the prompt does not override it.
    other = {
        "type": "object",
        "properties": {"x": {"type": "boolean"}},
        "required": ["x"],
        "additionalProperties": False,
    }
    r = client.chat.completions.create(
        model="gpt-sim-1",
        messages=[{"role": "user", "content": INSTRUCTIONS}],
        response_format={"type": "json_schema", "json_schema": {"name": "o", "schema": other, "strict": True}},
    )
    assert set(json.loads(r.choices[0].message.content or "")) == {"x"}


def test_responses_follow_a_schema_in_instructions_or_input(client: openai.OpenAI) -> None:
    fmt: Any = {"format": {"type": "json_object"}}
    r = client.responses.create(model="gpt-sim-1", instructions=INSTRUCTIONS, input="Paris?", text=fmt)
    jsonschema.validate(json.loads(r.output_text), CITY)
    again = client.responses.create(model="gpt-sim-1", instructions=INSTRUCTIONS, input="Paris?", text=fmt)
    assert again.output_text == r.output_text
    items: Any = [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": "Paris?"}]
    r = client.responses.create(model="gpt-sim-1", input=items, text=fmt)
    jsonschema.validate(json.loads(r.output_text), CITY)
    with client.responses.stream(model="gpt-sim-1", input=items, text=fmt) as events:
        streamed = events.get_final_response().output_text
    assert streamed == r.output_text


def test_same_request_same_bytes(http: httpx.Client) -> None:
    body = {
        "model": "gpt-sim-1",
        "messages": [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": "Oslo?"}],
        "response_format": {"type": "json_object"},
    }
    first = http.post("/v1/chat/completions", json=body)
    assert first.status_code == 200
    assert http.post("/v1/chat/completions", json=body).content == first.content
