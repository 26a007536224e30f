"""Chat completions through the official `openai` SDK: the wire format it parses, and determinism."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from openai_api_simulator.fake.tokens import split_tokens

HELLO: list[Any] = [{"role": "user", "content": "Tell me about rivers and old bridges."}]

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
SEARCH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search the documentation",
        "parameters": {
            "type": "object",
            "$defs": {"filter": {"type": "object", "properties": {"tag": {"type": "string"}}, "required": ["tag"]}},
            "properties": {
                "query": {"type": "string"},
                "filters": {"type": "array", "items": {"$ref": "#/$defs/filter"}, "maxItems": 3},
                "limit": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 50}, {"type": "null"}]},
            },
            "required": ["query", "filters", "limit"],
        },
    },
}


def test_chat_completion_shape_and_usage(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-sim-1", messages=HELLO)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == "gpt-sim-1"
    assert r.created > 0
    assert r.system_fingerprint and r.system_fingerprint.startswith("fp_")
    choice = r.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.refusal is None
    content = choice.message.content
    assert content and content.rstrip().endswith(".") and content[0].isupper()
    assert r.usage is not None
    assert r.usage.completion_tokens == len(split_tokens(content))
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens > len(HELLO[0]["content"].split())


def test_same_request_same_content_and_seed_changes_it(client: openai.OpenAI) -> None:
    a = client.chat.completions.create(model="gpt-sim-1", messages=HELLO, seed=1)
    b = client.chat.completions.create(model="gpt-sim-1", messages=HELLO, seed=1)
    c = client.chat.completions.create(model="gpt-sim-1", messages=HELLO, seed=2)
    assert a.model_dump() == b.model_dump()
    assert a.choices[0].message.content != c.choices[0].message.content


def test_length_follows_the_prompt(client: openai.OpenAI) -> None:
    def words(prompt: str) -> int:
        r = client.chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": prompt}])
        return len((r.choices[0].message.content or "").split())

    assert words("Answer in one word: is the sky blue?") <= 2
    assert words("Briefly, what is a compiler?") < words("Explain in detail how a compiler works.")


def test_alias_answers_as_itself(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert r.model == "gpt-4o-mini"


def test_stream_concatenates_to_the_non_stream_content(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="gpt-sim-1", messages=HELLO)
    chunks = list(
        client.chat.completions.create(
            model="gpt-sim-1", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert full.usage is not None
    assert chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    assert len({c.id for c in chunks}) == 1


def test_max_tokens_gives_a_prefix_and_length(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="gpt-sim-1", messages=HELLO)
    for field in ("max_tokens", "max_completion_tokens"):
        r = client.chat.completions.create(model="gpt-sim-1", messages=HELLO, **{field: 5})
        assert r.choices[0].finish_reason == "length"
        assert r.usage is not None and r.usage.completion_tokens == 5
        assert (full.choices[0].message.content or "").startswith(r.choices[0].message.content or "\0")


@pytest.mark.parametrize("as_list", [False, True])
def test_stop_cuts_before_the_sequence(client: openai.OpenAI, as_list: bool) -> None:
    full = client.chat.completions.create(model="gpt-sim-1", messages=HELLO).choices[0].message.content or ""
    word = full.split()[3]
    stop: Any = [word, "zzzz-not-there"] if as_list else word
    r = client.chat.completions.create(model="gpt-sim-1", messages=HELLO, stop=stop)
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content == full[: full.index(word)]


def test_n_gives_distinct_choices_and_choice_zero_is_stable(client: openai.OpenAI) -> None:
    one = client.chat.completions.create(model="gpt-sim-1", messages=HELLO)
    three = client.chat.completions.create(model="gpt-sim-1", messages=HELLO, n=3)
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert len({c.message.content for c in three.choices}) == 3
    assert three.choices[0].message.content == one.choices[0].message.content
    assert three.usage is not None
    assert three.usage.completion_tokens == sum(len(split_tokens(c.message.content or "")) for c in three.choices)


def test_logprobs(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-sim-1", messages=HELLO, logprobs=True, top_logprobs=3)
    lp = r.choices[0].logprobs
    assert lp is not None and lp.content
    assert "".join(t.token for t in lp.content) == r.choices[0].message.content
    for t in lp.content:
        assert t.logprob <= 0
        assert t.bytes == list(t.token.encode())
        assert len(t.top_logprobs) == 3
        assert t.top_logprobs[0].token == t.token
        values = [x.logprob for x in t.top_logprobs]
        assert values == sorted(values, reverse=True)
        assert len({x.token for x in t.top_logprobs}) == 3


def test_unknown_valid_params_are_accepted(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="gpt-sim-1",
        messages=HELLO,
        temperature=0.2,
        top_p=0.9,
        user="u1",
        presence_penalty=0.1,
        extra_body={"some_future_param": {"x": 1}},
    )
    assert r.choices[0].message.content


def _validate_call(call: Any, tools: list[dict[str, Any]]) -> dict[str, Any]:
    schema = next(t["function"]["parameters"] for t in tools if t["function"]["name"] == call.function.name)
    args = json.loads(call.function.arguments)
    jsonschema.validate(args, schema)
    assert isinstance(args, dict)
    return args


def test_tool_call_arguments_validate(client: openai.OpenAI) -> None:
    tools = [WEATHER_TOOL, SEARCH_TOOL]
    for seed in range(15):
        r = client.chat.completions.create(
            model="gpt-sim-1",
            tools=tools,
            seed=seed,
            messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        )
        choice = r.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        assert choice.message.tool_calls
        for call in choice.message.tool_calls:
            assert call.type == "function"
            assert call.id.startswith("call_")
            _validate_call(call, tools)
        assert choice.message.tool_calls[0].function.name == "get_weather"  # the prompt names the weather


def test_parallel_tool_calls_when_the_prompt_names_several(client: openai.OpenAI) -> None:
    tools = [WEATHER_TOOL, SEARCH_TOOL]
    prompt = [{"role": "user", "content": "Use get_weather and search_docs."}]
    r = client.chat.completions.create(model="gpt-sim-1", tools=tools, messages=prompt)
    assert [c.function.name for c in r.choices[0].message.tool_calls or []] == ["get_weather", "search_docs"]
    r = client.chat.completions.create(
        model="gpt-sim-1",
        tools=tools,
        messages=prompt,
        parallel_tool_calls=False,
    )
    assert len(r.choices[0].message.tool_calls or []) == 1


def test_tool_choice_modes(client: openai.OpenAI) -> None:
    tools = [WEATHER_TOOL, SEARCH_TOOL]
    msgs: Any = [{"role": "user", "content": "hello"}]
    none = client.chat.completions.create(model="gpt-sim-1", tools=tools, messages=msgs, tool_choice="none")
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content
    req = client.chat.completions.create(model="gpt-sim-1", tools=tools, messages=msgs, tool_choice="required")
    assert req.choices[0].message.tool_calls
    named = client.chat.completions.create(
        model="gpt-sim-1",
        tools=tools,
        messages=msgs,
        tool_choice={"type": "function", "function": {"name": "search_docs"}},
    )
    calls = named.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["search_docs"]
    assert named.choices[0].finish_reason == "stop"  # OpenAI's answer when the function is forced
    _validate_call(calls[0], tools)


def test_agent_loop_ends_after_tool_result(client: openai.OpenAI) -> None:
    tools = [WEATHER_TOOL]
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = client.chat.completions.create(model="gpt-sim-1", tools=tools, messages=messages)
    call = (first.choices[0].message.tool_calls or [])[0]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 3, "sky": "snow"}'})
    second = client.chat.completions.create(model="gpt-sim-1", tools=tools, messages=messages)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].message.content


def test_streamed_tool_calls_have_indexes_and_assemble(client: openai.OpenAI) -> None:
    tools = [WEATHER_TOOL, SEARCH_TOOL]
    prompt: Any = [{"role": "user", "content": "Use get_weather and search_docs."}]
    full = client.chat.completions.create(model="gpt-sim-1", tools=tools, messages=prompt)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(
        model="gpt-sim-1",
        tools=tools,
        messages=prompt,
        stream=True,
    ):
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += tc.id or ""
            entry["name"] += (tc.function.name or "") if tc.function else ""
            entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert sorted(calls) == [0, 1]
    expected = full.choices[0].message.tool_calls or []
    assert [(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())] == [
        (c.id, c.function.name, c.function.arguments) for c in expected
    ]
    assert finish == "tool_calls"


class Person(BaseModel):
    name: str
    age: int
    tags: list[str]


def test_parse_with_pydantic_model(client: openai.OpenAI) -> None:
    r = client.chat.completions.parse(
        model="gpt-sim-1", response_format=Person, messages=[{"role": "user", "content": "Invent a person."}]
    )
    parsed = r.choices[0].message.parsed
    assert isinstance(parsed, Person)
    assert parsed == Person.model_validate_json(r.choices[0].message.content or "")


ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^ORD-[0-9]{6}$"},
        "items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1, "maximum": 9}},
                "required": ["sku", "qty"],
                "additionalProperties": False,
            },
        },
        "status": {"type": "string", "enum": ["open", "shipped"]},
    },
    "required": ["order_id", "items", "status"],
    "additionalProperties": False,
}


def test_json_schema_output_validates_streamed_too(client: openai.OpenAI) -> None:
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER_SCHEMA, "strict": True}}
    msgs: Any = [{"role": "user", "content": "Make an order."}]
    r = client.chat.completions.create(model="gpt-sim-1", messages=msgs, response_format=fmt)
    content = r.choices[0].message.content or ""
    jsonschema.validate(json.loads(content), ORDER_SCHEMA)
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="gpt-sim-1", messages=msgs, response_format=fmt, stream=True)
        if c.choices
    )
    assert streamed == content


def test_json_object_mode(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="gpt-sim-1",
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Reply in JSON about tea."}],
    )
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gpt-sim-1",
            response_format={"type": "json_object"},
            messages=[{"role": "user", "content": "no keyword here"}],
        )
    assert info.value.param == "messages"


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["gpt-sim-1", "gpt-4o-mini"]
    m = client.models.retrieve("gpt-sim-1")
    assert m.id == "gpt-sim-1" and m.object == "model" and m.owned_by
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-nope")


def test_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-unknown", messages=HELLO)
    assert info.value.code == "model_not_found"
    assert info.value.param == "model"
