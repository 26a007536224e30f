"""Anthropic's Messages API on the fake, through the official `anthropic` SDK and raw HTTP: the wire format,
the stream's event sequence, tool use, count_tokens, the error shape and classes, determinism, rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from anthropic.types import MessageParam, ToolParam
from starlette.testclient import TestClient

from openai_api_simulator.api.anthropic_errors import rewrite
from openai_api_simulator.app import create_app
from openai_api_simulator.config import Settings
from openai_api_simulator.testing import running

MODEL = "gpt-sim-1"
HELLO: list[MessageParam] = [{"role": "user", "content": "Tell me about rivers and old bridges."}]
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
ASK_WEATHER: list[MessageParam] = [{"role": "user", "content": "What is the weather in Paris? Use get_weather."}]


@pytest.fixture
def root(base_url: str) -> str:
    return base_url.removesuffix("/v1")  # the Anthropic SDK adds /v1 itself


@pytest.fixture
def claude(root: str) -> Iterator[anthropic.Anthropic]:
    # max_retries=0: injected errors must surface, not be retried away by the SDK.
    with anthropic.Anthropic(base_url=root, api_key="sk-ant-test", max_retries=0) as c:
        yield c


def test_create_answers_a_text_message(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=MODEL, max_tokens=1024, messages=HELLO)
    assert message.id.startswith("msg_01") and message.type == "message" and message.role == "assistant"
    assert message.model == MODEL
    assert [block.type for block in message.content] == ["text"]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_system_blocks_and_sampling_fields_are_accepted(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=MODEL,
        max_tokens=64,
        system=[{"type": "text", "text": "You are terse."}],
        messages=HELLO,
        metadata={"user_id": "u-1"},
        # This SDK release no longer takes the sampling fields as arguments; older clients still send them.
        extra_body={"temperature": 0.5, "top_p": 0.9, "top_k": 40},
        extra_headers={"anthropic-version": "2023-06-01", "anthropic-beta": "tools-2024-04-04"},
    )
    assert message.content[0].type == "text"


def test_max_tokens_cuts_the_answer(claude: anthropic.Anthropic) -> None:
    full = claude.messages.create(model=MODEL, max_tokens=4096, messages=HELLO)
    short = claude.messages.create(model=MODEL, max_tokens=3, messages=HELLO)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 3
    assert full.content[0].type == short.content[0].type == "text"
    assert full.content[0].text.startswith(short.content[0].text)


def test_stop_sequences_name_the_one_met(claude: anthropic.Anthropic) -> None:
    full = claude.messages.create(model=MODEL, max_tokens=4096, messages=HELLO)
    assert full.content[0].type == "text"
    word = full.content[0].text.split()[3]
    cut = claude.messages.create(model=MODEL, max_tokens=4096, messages=HELLO, stop_sequences=["zzz-never", word])
    assert cut.stop_reason == "stop_sequence" and cut.stop_sequence == word
    assert cut.content[0].type == "text" and word not in cut.content[0].text
    assert full.content[0].text.startswith(cut.content[0].text)


def test_stream_helper_text_stream_and_final_message(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=MODEL, max_tokens=1024, messages=HELLO) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    plain = claude.messages.create(model=MODEL, max_tokens=1024, messages=HELLO)
    assert len(pieces) > 3
    assert final.content[0].type == plain.content[0].type == "text"
    assert "".join(pieces) == final.content[0].text == plain.content[0].text
    assert final.id == plain.id and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == plain.usage.output_tokens


def _events(http: httpx.Client, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    r = http.post("/v1/messages", json={**body, "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in r.text.strip().split("\n\n"):
        name_line, data_line = block.split("\n")
        name, data = name_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        events.append((name, data))
    return events


def test_stream_has_anthropics_event_sequence(http: httpx.Client) -> None:
    events = _events(http, {"model": MODEL, "max_tokens": 5, "messages": HELLO})
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 5,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["model"] == MODEL
    assert events[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert all(data["delta"]["type"] == "text_delta" for name, data in events if name == "content_block_delta")
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 5


def test_tool_use_inputs_follow_the_schema(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=MODEL, max_tokens=1024, tools=[WEATHER], messages=ASK_WEATHER)
    assert message.stop_reason == "tool_use"
    (use,) = message.content
    assert use.type == "tool_use" and use.name == "get_weather" and use.id.startswith("toolu_01")
    jsonschema.validate(use.input, WEATHER["input_schema"])


def test_streamed_tool_use_is_input_json_deltas(http: httpx.Client, claude: anthropic.Anthropic) -> None:
    body = {"model": MODEL, "max_tokens": 1024, "tools": [WEATHER], "messages": ASK_WEATHER}
    events = _events(http, body)
    head = events[1][1]["content_block"]
    assert head["type"] == "tool_use" and head["input"] == {}
    partial = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta")
    assert all(d["delta"]["type"] == "input_json_delta" for n, d in events if n == "content_block_delta")
    with claude.messages.stream(**body) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == json.loads(partial)
    assert final.stop_reason == "tool_use"


def test_tool_use_loop_ends_in_text(claude: anthropic.Anthropic) -> None:
    messages: list[MessageParam] = list(ASK_WEATHER)
    first = claude.messages.create(model=MODEL, max_tokens=1024, tools=[WEATHER], messages=messages)
    (use,) = [block for block in first.content if block.type == "tool_use"]
    messages.append({"role": "assistant", "content": first.content})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 C, sunny"}]}
    )
    second = claude.messages.create(model=MODEL, max_tokens=1024, tools=[WEATHER], messages=messages)
    assert second.stop_reason == "end_turn" and [b.type for b in second.content] == ["text"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "none"}, "end_turn"),
        ({"type": "any"}, "tool_use"),
        ({"type": "tool", "name": "get_weather"}, "tool_use"),
    ],
)
def test_tool_choice(claude: anthropic.Anthropic, choice: Any, expected: str) -> None:
    chatty: list[MessageParam] = [{"role": "user", "content": "Hello there."}]
    message = claude.messages.create(model=MODEL, max_tokens=256, tools=[WEATHER], tool_choice=choice, messages=chatty)
    assert message.stop_reason == expected


def test_count_tokens_matches_usage(claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(model=MODEL, messages=HELLO, system="Be brief.", tools=[WEATHER])
    message = claude.messages.create(
        model=MODEL, max_tokens=16, messages=HELLO, system="Be brief.", tools=[WEATHER], tool_choice={"type": "none"}
    )
    assert counted.input_tokens == message.usage.input_tokens > 0


def test_same_request_same_bytes(http: httpx.Client) -> None:
    body = {"model": MODEL, "max_tokens": 200, "messages": HELLO, "tools": [WEATHER]}
    assert http.post("/v1/messages", json=body).content == http.post("/v1/messages", json=body).content
    stream = {**body, "stream": True}
    assert http.post("/v1/messages", json=stream).content == http.post("/v1/messages", json=stream).content
    other = {**body, "messages": [{"role": "user", "content": "Something else entirely."}]}
    assert http.post("/v1/messages", json=other).content != http.post("/v1/messages", json=body).content


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, anthropic.RateLimitError),
        (529, anthropic.OverloadedError),
        (500, anthropic.InternalServerError),
        (404, anthropic.NotFoundError),
    ],
)
def test_injected_errors_raise_the_sdks_classes(claude: anthropic.Anthropic, status: int, error: type) -> None:
    with pytest.raises(error) as raised:
        claude.messages.create(
            model=MODEL, max_tokens=8, messages=HELLO, extra_headers={"X-Simulator-Error": str(status)}
        )
    assert isinstance(raised.value, anthropic.APIStatusError) and raised.value.status_code == status
    body = raised.value.body
    assert isinstance(body, dict) and body["type"] == "error" and set(body["error"]) == {"type", "message"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": HELLO}, "max_tokens: Field required"),
        ({"max_tokens": 0, "messages": HELLO}, "max_tokens"),
        ({"max_tokens": 8}, "messages: Field required"),
        ({"max_tokens": 8, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages.0.content.0"),
        ({"max_tokens": 8, "messages": HELLO, "tools": [{"name": "t"}]}, "tools.0.input_schema: Field required"),
        ({"max_tokens": 8, "messages": HELLO, "tool_choice": {"type": "any"}}, "tool_choice"),
        ({"max_tokens": 8, "messages": HELLO, "temperature": 1.5}, "temperature"),
        ({"max_tokens": 8, "messages": HELLO, "system": 3}, "system"),
        ({"max_tokens": 8, "messages": HELLO, "stop_sequences": [""]}, "stop_sequences.0"),
    ],
)
def test_invalid_requests_answer_anthropics_400(http: httpx.Client, body: dict[str, Any], message: str) -> None:
    r = http.post("/v1/messages", json={"model": MODEL, **body})
    assert r.status_code == 400
    error = r.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"]


def test_openai_routes_keep_openais_error_shape(http: httpx.Client) -> None:
    r = http.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": HELLO}, headers={"X-Simulator-Error": "429"}
    )
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error" and "type" not in r.json()


def test_mid_stream_failure_is_an_error_event(http: httpx.Client) -> None:
    body = {"model": MODEL, "max_tokens": 50, "messages": HELLO, "stream": True}
    r = http.post("/v1/messages", json=body, headers={"X-Simulator-Stream-Fail-After": "2"})
    last = r.text.strip().split("\n\n")[-1]
    assert last.startswith("event: error\n")
    assert json.loads(last.split("data: ", 1)[1])["error"]["type"] == "api_error"


def test_a_rule_scripts_the_messages_answer(http: httpx.Client, root: str) -> None:
    scope = {"X-Simulator-Test-Id": "messages-rule"}
    rule = {"id": "hi", "match": {"endpoint": "messages", "last_user": "rivers"}, "answer": {"content": "Scripted."}}
    assert http.post("/_simulator/rules", json={"rules": [rule]}, headers=scope).status_code == 200
    try:
        with anthropic.Anthropic(base_url=root, api_key="k", max_retries=0, default_headers=scope) as c:
            message = c.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
        assert message.content[0].type == "text" and message.content[0].text == "Scripted."
        assert message.stop_reason == "end_turn"
    finally:
        http.delete("/_simulator/rules", headers=scope)


@pytest.fixture(scope="module")
def keyed() -> Iterator[str]:
    with running(Settings(api_key="sk-secret")) as url:
        yield url.removesuffix("/v1")


def test_api_key_in_x_api_key_or_bearer(keyed: str) -> None:
    with anthropic.Anthropic(base_url=keyed, api_key="sk-secret", max_retries=0) as good:
        assert good.messages.create(model=MODEL, max_tokens=4, messages=HELLO).content
    with anthropic.Anthropic(base_url=keyed, auth_token="sk-secret", max_retries=0) as bearer:
        assert bearer.messages.count_tokens(model=MODEL, messages=HELLO).input_tokens > 0
    bad = anthropic.Anthropic(base_url=keyed, api_key="wrong", max_retries=0)
    with bad, pytest.raises(anthropic.AuthenticationError) as raised:
        bad.messages.create(model=MODEL, max_tokens=4, messages=HELLO)
    assert isinstance(raised.value.body, dict) and raised.value.body["error"]["type"] == "authentication_error"
    r = httpx.post(f"{keyed}/v1/chat/completions", json={"model": MODEL, "messages": HELLO})
    assert r.status_code == 401 and "type" not in r.json()  # OpenAI's shape on OpenAI's routes


@pytest.mark.parametrize("route", ["/v1/messages", "/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"gpt-sim-1","max_tokens":5,"messages":[{"role":"user","content":"\\ud800"}]}',
        b'{"model":"gpt-sim-1","max_tokens":NaN,"messages":[]}',
        b"not json",
    ],
)
def test_strict_json_refusals_in_anthropics_shape(http: httpx.Client, route: str, raw: bytes) -> None:
    r = http.post(route, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"


def test_consecutive_user_turns_are_one_turn(claude: anthropic.Anthropic) -> None:
    split: list[MessageParam] = [
        {"role": "user", "content": "Tell me about rivers"},
        {"role": "user", "content": [{"type": "text", "text": "and old bridges."}]},
    ]
    joined: list[MessageParam] = [{"role": "user", "content": "Tell me about rivers\nand old bridges."}]
    a = claude.messages.count_tokens(model=MODEL, messages=split)
    b = claude.messages.count_tokens(model=MODEL, messages=joined)
    assert a.input_tokens == b.input_tokens


@pytest.mark.parametrize(
    ("status", "upstream", "expected"),
    [
        (500, b'{"error":{"code":500,"message":"\'messages\' is required","type":"server_error"}}', "api_error"),
        (
            401,
            b'{"error":{"message":"Invalid API Key","type":"authentication_error","code":401}}',
            "authentication_error",
        ),
        (529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "overloaded_error"),
        (502, b"Bad Gateway", "api_error"),
    ],
)
def test_upstream_error_bodies_are_reworded(status: int, upstream: bytes, expected: str) -> None:
    body = json.loads(rewrite(status, upstream))
    assert body["type"] == "error" and body["error"]["type"] == expected and body["error"]["message"]


def test_sampling_fields_give_another_answer_and_framing_fields_do_not(http: httpx.Client) -> None:
    def text(**extra: Any) -> str:
        r = http.post("/v1/messages", json={"model": MODEL, "max_tokens": 4096, "messages": HELLO, **extra})
        return str(r.json()["content"][0]["text"])

    base = text()
    assert text(metadata={"user_id": "someone"}) == base
    assert text(temperature=0.3) != base


def test_rules_script_tool_use_and_errors_on_messages(http: httpx.Client, root: str) -> None:
    scope = {"X-Simulator-Test-Id": "messages-rule-tools"}
    rules = [
        {
            "id": "call",
            "match": {"endpoint": "messages", "tool": "get_weather", "tool_result": False},
            "answer": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}]},
        },
        {"id": "busy", "match": {"endpoint": "messages", "tool_result": True}, "answer": {"error": {"status": 529}}},
    ]
    assert http.post("/_simulator/rules", json={"rules": rules}, headers=scope).status_code == 200
    try:
        with anthropic.Anthropic(base_url=root, api_key="k", max_retries=0, default_headers=scope) as c:
            first = c.messages.create(model=MODEL, max_tokens=64, tools=[WEATHER], messages=ASK_WEATHER)
            (use,) = first.content
            assert use.type == "tool_use" and use.input == {"city": "Oslo", "unit": "celsius"}
            assert first.stop_reason == "tool_use" and use.id.startswith("toolu_01")
            result: MessageParam = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id}]}
            with pytest.raises(anthropic.OverloadedError):
                c.messages.create(
                    model=MODEL,
                    max_tokens=64,
                    tools=[WEATHER],
                    messages=[*ASK_WEATHER, {"role": "assistant", "content": first.content}, result],
                )
    finally:
        http.delete("/_simulator/rules", headers=scope)


def test_repeated_requests_are_answered_from_the_memo() -> None:
    app = create_app(Settings())
    (fake,) = app.state.registry.backends
    raw = json.dumps({"model": MODEL, "max_tokens": 64, "messages": HELLO}).encode()
    json_type = {"content-type": "application/json"}
    with TestClient(app) as http:
        first = http.post("/v1/messages", content=raw, headers=json_type).content
        entry = fake.memo.get("messages", raw)
        assert entry is not None and entry.render(0) == first  # kept whole: no `created` to fill in
        assert http.post("/v1/messages", content=raw, headers=json_type).content == first
        assert http.post("/v1/messages/count_tokens", json={"model": MODEL, "messages": HELLO}).json()["input_tokens"]
