"""Tools, tool_choice and structured-output formats, read by one set of rules for Chat and Responses."""

from __future__ import annotations

from typing import Any

import pytest

from openai_api_simulator.api import tools
from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.fake import chat

FN: dict[str, Any] = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
NESTED = {"tools": [{"type": "function", "function": FN}]}
FLAT = {"tools": [{"type": "function", **FN}]}


def _param(call: Any) -> str | None:
    with pytest.raises(InvalidRequest) as info:
        call()
    return info.value.param


def test_both_layouts_read_the_same_tool() -> None:
    [nested] = tools.parse_tools(NESTED, nested=True)
    [flat] = tools.parse_tools(FLAT, nested=False)
    assert nested == flat == chat.Tool("get_weather", "", FN["parameters"])
    [bare] = tools.parse_tools({"tools": [{"type": "function", "name": "ping"}]}, nested=False)
    assert bare.parameters == {"type": "object", "properties": {}}


def test_errors_name_the_field_in_each_layout() -> None:
    bad_name = {"name": "no spaces allowed"}
    assert _param(lambda: tools.parse_tools({"tools": [{"type": "function", "function": bad_name}]}, nested=True)) == (
        "tools[0].function.name"
    )
    assert _param(lambda: tools.parse_tools({"tools": [{"type": "function", **bad_name}]}, nested=False)) == (
        "tools[0].name"
    )
    assert _param(lambda: tools.parse_tools({"tools": [{"type": "web_search"}]}, nested=False)) == "tools[0].type"
    assert _param(lambda: tools.parse_tools({"tools": ["x"]}, nested=True)) == "tools[0]"
    bad_schema = {"type": "function", "name": "f", "parameters": {"type": "object", "required": "city"}}
    with pytest.raises(InvalidRequest) as info:
        tools.parse_tools({"tools": [bad_schema]}, nested=False)
    assert info.value.code == "invalid_schema" and info.value.param == "tools[0].parameters"


@pytest.mark.parametrize("nested", [True, False])
def test_duplicate_function_names_are_refused_in_both_apis(nested: bool) -> None:
    body = NESTED if nested else FLAT
    twice = {"tools": body["tools"] * 2}
    with pytest.raises(InvalidRequest, match="duplicate function name 'get_weather'"):
        tools.parse_tools(twice, nested=nested)


def test_tool_choice_modes_and_a_named_function() -> None:
    weather = tools.parse_tools(NESTED, nested=True)
    assert tools.parse_tool_choice({}, weather, nested=True) == "auto"
    assert tools.parse_tool_choice({"tool_choice": "required"}, weather, nested=False) == "required"
    named = {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    assert tools.parse_tool_choice(named, weather, nested=True) == "get_weather"
    flat_named = {"tool_choice": {"type": "function", "name": "get_weather"}}
    assert tools.parse_tool_choice(flat_named, weather, nested=False) == "get_weather"
    unknown = {"tool_choice": {"type": "function", "name": "nope"}}
    assert _param(lambda: tools.parse_tool_choice(unknown, weather, nested=False)) == "tool_choice.name"
    assert _param(lambda: tools.parse_tool_choice({"tool_choice": "sometimes"}, weather, nested=True)) == "tool_choice"


def test_chat_needs_tools_for_a_tool_choice_and_responses_does_not() -> None:
    with pytest.raises(InvalidRequest, match="only allowed when 'tools' are specified"):
        tools.parse_tool_choice({"tool_choice": "none"}, (), nested=True)
    assert tools.parse_tool_choice({"tool_choice": "none"}, (), nested=False) == "none"


def test_output_schema_for_each_format() -> None:
    said_json = [chat.Message("user", "Answer in JSON")]
    no_word = InvalidRequest("say json")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}

    def output(fmt: dict[str, Any], nested: bool, messages: list[chat.Message] = said_json) -> Any:
        return tools.output_schema(fmt, "f", messages, nested=nested, no_json_word=no_word)

    assert output({"type": "text"}, True) is None
    assert output({"type": "json_object"}, False) == chat.json_object_schema()
    with pytest.raises(InvalidRequest, match="say json"):
        output({"type": "json_object"}, True, [chat.Message("user", "hi")])
    assert output({"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}, True) == schema
    assert output({"type": "json_schema", "name": "s", "schema": schema}, False) == schema
    assert output({"type": "json_schema", "json_schema": {"name": "s"}}, True) == {}  # Chat: schema optional
    assert _param(lambda: output({"type": "json_schema", "name": "s"}, False)) == "f.schema"  # Responses: required
    assert _param(lambda: output({"type": "json_schema", "name": "a b", "schema": schema}, False)) == "f.name"
    assert _param(lambda: output({"type": "xml"}, True)) == "f.type"
