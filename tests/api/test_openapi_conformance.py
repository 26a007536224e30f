"""What the fake sends, checked against OpenAI's own OpenAPI spec (tests/data): every body and stream event.

Each request below exercises one shape of answer (text, tools, structured output, n > 1 with logprobs, usage
in streams, base64 embeddings, Responses with and without tools, errors). A field the spec requires and we
leave out, a wrong type or an enum value the spec does not know fails here, whatever our own tests assume.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import openapi

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
    },
}
USER = [{"role": "user", "content": "Tell me about the sea."}]
WEATHER_ARGS: dict[str, Any] = WEATHER["function"]["parameters"]  # type: ignore[index]
FUNCTION_TOOL = {"type": "function", "name": "get_weather", "parameters": WEATHER_ARGS}
PERSON_SCHEMA: dict[str, Any] = PERSON["json_schema"]["schema"]  # type: ignore[index]
CHAT, COMPLETIONS, EMBEDDINGS, RESPONSES = "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"
WITH_USAGE = {"stream": True, "stream_options": {"include_usage": True}}

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": (CHAT, {"messages": USER}),
    "chat, n=2 with logprobs": (CHAT, {"messages": USER, "n": 2, "logprobs": True, "top_logprobs": 2}),
    "chat, tools": (CHAT, {"messages": USER, "tools": [WEATHER], "tool_choice": "required"}),
    "chat, json_schema": (CHAT, {"messages": USER, "response_format": PERSON}),
    "chat, json_object": (
        CHAT,
        {"messages": [{"role": "user", "content": "Answer in JSON."}], "response_format": {"type": "json_object"}},
    ),
    "chat stream": (CHAT, {"messages": USER, "stream": True}),
    "chat stream, usage, tools": (
        CHAT,
        {"messages": USER, **WITH_USAGE, "tools": [WEATHER], "tool_choice": "required"},
    ),
    "completions": (COMPLETIONS, {"prompt": "Once upon a time", "max_tokens": 12}),
    "completions, several prompts, logprobs": (
        COMPLETIONS,
        {"prompt": ["a", "b"], "n": 2, "logprobs": 2, "echo": True, "max_tokens": 5},
    ),
    "completions stream": (COMPLETIONS, {"prompt": "Once", "stream": True, "max_tokens": 8}),
    "embeddings": (EMBEDDINGS, {"input": ["the sea", "the sky"]}),
    "embeddings, base64, dimensions": (EMBEDDINGS, {"input": "the sea", "encoding_format": "base64", "dimensions": 64}),
    "responses": (RESPONSES, {"input": "Tell me about the sea."}),
    "responses, instructions, tools": (
        RESPONSES,
        {
            "input": "Weather in Paris?",
            "instructions": "Be brief.",
            "tools": [FUNCTION_TOOL],
            "tool_choice": "required",
        },
    ),
    "responses, json_schema": (
        RESPONSES,
        {"input": "Who?", "text": {"format": {"type": "json_schema", "name": "person", "schema": PERSON_SCHEMA}}},
    ),
    "responses stream": (RESPONSES, {"input": "Tell me about the sea.", "stream": True}),
    "responses stream, tools": (
        RESPONSES,
        {"input": "Weather?", "stream": True, "tool_choice": "required", "tools": [FUNCTION_TOOL]},
    ),
    "error: unknown model": (CHAT, {"model": "no-such-model", "messages": USER}),
    "error: bad type": (CHAT, {"messages": "not a list"}),
    "error: embeddings without input": (EMBEDDINGS, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_answer_conforms_to_openais_spec(http: httpx.Client, case: str) -> None:
    path, body = CASES[case]
    response = http.post(path, json={"model": "gpt-sim-1", **body})
    if case.startswith("error"):
        assert response.status_code in (400, 404), response.text
    else:
        assert response.status_code == 200, response.text
    assert openapi.check(response) == []


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-sim-1", "/v1/models/no-such-model"])
def test_the_model_routes_conform(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert openapi.check(response) == []


def test_the_oracle_catches_what_the_spec_forbids() -> None:
    """The oracle is only worth its passes if it fails: a chat completion without `choices`, a wrong type."""
    good = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "hi", "refusal": None}}],
    }  # fmt: skip
    assert openapi.errors("CreateChatCompletionResponse", good) == []
    assert openapi.errors("CreateChatCompletionResponse", {k: v for k, v in good.items() if k != "choices"})
    assert openapi.errors("CreateChatCompletionResponse", {**good, "created": "yesterday"})
    assert openapi.errors("ErrorResponse", {"error": {"message": "m", "type": "t", "param": None, "code": None}}) == []
    assert openapi.errors("ErrorResponse", {"message": "m"})
