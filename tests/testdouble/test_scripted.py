"""Scripted answers served by a real server to the official SDK: every endpoint and shape, each matcher, errors,
isolation between tests, and the unmatched requests left byte for byte to the deterministic fake."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from starlette.types import Receive, Scope, Send

from openai_api_simulator.app import create_app
from openai_api_simulator.config import Settings
from openai_api_simulator.testdouble.scope import RULE_KEY
from openai_api_simulator.testing import running, serving
from tests.support import openapi

FIXED = 1_700_000_000
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMS}}
RESPONSES_TOOL = {"type": "function", "name": "get_weather", "parameters": PARAMS}
WEATHER_RULE = {
    "id": "weather",
    "match": {"tool": "get_weather"},
    "sequence": [
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"content": "It is 18°C in Paris."},
    ],
}
SERVER_RULES = (
    "rules:\n  - id: server-hello\n    match: {last_user: hello server}\n    answer: {content: From the file.}\n"
)
PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
            "required": ["name", "age"],
        },
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(SERVER_RULES, encoding="utf-8")
    with running(Settings(aliases=("gpt-4o",), fixed_created=FIXED, rules_file=str(path))) as url:
        yield url


@pytest.fixture
def scope_id(request: pytest.FixtureRequest) -> str:
    name: str = request.node.name
    return "t-" + name.replace("[", "-").replace("]", "").replace(" ", "")[:150]


@pytest.fixture
def http(server: str, scope_id: str) -> Iterator[httpx.Client]:
    headers = {"X-Simulator-Test-Id": scope_id}
    with httpx.Client(base_url=server.removesuffix("/v1"), headers=headers, timeout=30) as c:
        yield c


@pytest.fixture
def client(server: str, scope_id: str) -> Iterator[openai.OpenAI]:
    headers = {"X-Simulator-Test-Id": scope_id}
    with openai.OpenAI(base_url=server, api_key="sk-test", max_retries=0, default_headers=headers) as c:
        yield c


def script(http: httpx.Client, *rules: dict[str, Any]) -> list[str]:
    response = http.post("/_simulator/rules", json={"rules": list(rules)})
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["rules"]]


def ask(client: openai.OpenAI, text: str, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": text}], **kwargs)


# The "Done when": the first call returns get_weather(city='Paris'), the next returns text.


def test_an_agent_loop_over_chat(client: openai.OpenAI, http: httpx.Client) -> None:
    script(http, WEATHER_RULE)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat.completions.create(model="gpt-sim-1", messages=messages, tools=[CHAT_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert first.choices[0].finish_reason == "tool_calls" and first.choices[0].message.content is None
    messages += [first.choices[0].message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": call.id, "content": "18"}]
    second = client.chat.completions.create(model="gpt-sim-1", messages=messages, tools=[CHAT_TOOL])
    assert second.choices[0].message.content == "It is 18°C in Paris."
    assert second.choices[0].finish_reason == "stop"
    assert second.usage.completion_tokens > 0


def test_an_agent_loop_over_a_chat_stream(client: openai.OpenAI, http: httpx.Client) -> None:
    script(http, WEATHER_RULE)
    messages: list[Any] = [{"role": "user", "content": "Weather?"}]
    chunks: list[Any] = list(
        client.chat.completions.create(model="gpt-sim-1", messages=messages, tools=[CHAT_TOOL], stream=True)
    )
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    messages += [
        {"role": "assistant", "tool_calls": [{"id": calls[0].id, "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "18"},
    ]  # fmt: skip
    stream = client.chat.completions.create(model="gpt-sim-1", messages=messages, tools=[CHAT_TOOL], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "It is 18°C in Paris."


def test_an_agent_loop_over_responses(client: openai.OpenAI, http: httpx.Client) -> None:
    script(http, WEATHER_RULE)
    first = client.responses.create(model="gpt-sim-1", input="Weather in Paris?", tools=[RESPONSES_TOOL])
    call = first.output[0]
    assert (
        call.type == "function_call" and call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    )
    follow: list[Any] = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "18"},
    ]
    second = client.responses.create(model="gpt-sim-1", input=follow, tools=[RESPONSES_TOOL])
    assert second.output_text == "It is 18°C in Paris." and second.status == "completed"


def test_an_agent_loop_over_a_responses_stream(client: openai.OpenAI, http: httpx.Client) -> None:
    script(http, WEATHER_RULE)
    events = list(client.responses.create(model="gpt-sim-1", input="Weather?", tools=[RESPONSES_TOOL], stream=True))
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert json.loads(done[0].arguments) == {"city": "Paris"} and done[0].name == "get_weather"
    stream: Any = client.responses.create(model="gpt-sim-1", input="Weather?", tools=[RESPONSES_TOOL], stream=True)
    text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    assert text == "It is 18°C in Paris."


def test_completions_serve_scripted_content(client: openai.OpenAI, http: httpx.Client) -> None:
    script(http, {"match": {"endpoint": "completions"}, "answer": {"content": "Once upon a scripted time."}})
    done = client.completions.create(model="gpt-sim-1", prompt="Tell me")
    assert done.choices[0].text == "Once upon a scripted time." and done.choices[0].finish_reason == "stop"
    streamed = client.completions.create(model="gpt-sim-1", prompt="Tell me", stream=True)
    assert "".join(c.choices[0].text for c in streamed) == "Once upon a scripted time."
    cut = client.completions.create(model="gpt-sim-1", prompt="Tell me", max_tokens=2)  # bounds still apply
    assert cut.choices[0].finish_reason == "length" and cut.choices[0].text == "Once upon"


# Each matcher.


def test_endpoint_and_model_matchers(client: openai.OpenAI, http: httpx.Client) -> None:
    script(
        http,
        {"match": {"endpoint": "responses"}, "answer": {"content": "responses only"}},
        {"match": {"model": "gpt-4o"}, "answer": {"content": "for gpt-4o"}},
    )
    assert client.responses.create(model="gpt-sim-1", input="hi").output_text == "responses only"
    assert ask(client, "hi").choices[0].message.content not in ("responses only", "for gpt-4o")
    assert (
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        .choices[0]
        .message.content
        == "for gpt-4o"
    )


def test_last_user_substring_and_regex(client: openai.OpenAI, http: httpx.Client) -> None:
    script(
        http,
        {"match": {"last_user": "WEATHER"}, "answer": {"content": "substring"}},
        {"match": {"last_user": {"regex": r"^order #\d+$"}}, "answer": {"content": "regex"}},
    )
    assert ask(client, "How is the weather?").choices[0].message.content == "substring"
    assert ask(client, "order #123").choices[0].message.content == "regex"
    assert ask(client, "order #12a").choices[0].message.content not in ("substring", "regex")
    # Only the last user message counts.
    late = client.chat.completions.create(
        model="gpt-sim-1",
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Sunny."},
            {"role": "user", "content": [{"type": "text", "text": "order #7"}]},
        ],
    )
    assert late.choices[0].message.content == "regex"


def test_tool_and_tool_result_matchers(client: openai.OpenAI, http: httpx.Client) -> None:
    script(
        http,
        {"match": {"tool_result": "get_weather"}, "answer": {"content": "after the weather"}},
        {"match": {"tool_result": True}, "answer": {"content": "after some tool"}},
        {"match": {"tool": "get_time"}, "answer": {"content": "time offered"}},
    )
    time_tool = {"type": "function", "function": {"name": "get_time"}}
    assert ask(client, "hi", tools=[time_tool]).choices[0].message.content == "time offered"
    assert ask(client, "hi", tools=[CHAT_TOOL]).choices[0].message.tool_calls  # the generator's own answer

    def after(name: str) -> str | None:
        call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{}"}}
        messages = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "done"},
        ]
        return client.chat.completions.create(model="gpt-sim-1", messages=messages).choices[0].message.content

    assert after("get_weather") == "after the weather"
    assert after("other") == "after some tool"


def test_header_matcher(client: openai.OpenAI, http: httpx.Client) -> None:
    script(http, {"match": {"header": {"X-Team": "a"}}, "answer": {"content": "team a"}})
    assert ask(client, "hi", extra_headers={"x-team": "a"}).choices[0].message.content == "team a"
    assert ask(client, "hi", extra_headers={"x-team": "b"}).choices[0].message.content != "team a"


def test_call_matcher_and_sequence(client: openai.OpenAI, http: httpx.Client) -> None:
    script(
        http,
        {"match": {"last_user": "second", "call": [2, 3]}, "answer": {"content": "second or third"}},
        {"match": {"last_user": "seq"}, "sequence": [{"content": "one"}, {"content": "two"}]},
    )
    replies = [ask(client, "second").choices[0].message.content for _ in range(4)]
    assert replies[1:3] == ["second or third"] * 2
    assert "second or third" not in (replies[0], replies[3])
    assert [ask(client, "seq").choices[0].message.content for _ in range(4)] == ["one", "two", "two", "two"]
    listed = {r["id"]: r for r in http.get("/_simulator/rules").json()["rules"]}
    assert (listed["rule-1"]["calls"], listed["rule-1"]["matched"]) == (2, 4)
    assert listed["rule-2"]["calls"] == 4 and listed["server-hello"]["origin"] == "server"


def test_server_rules_apply_in_every_scope_after_the_tests_own(client: openai.OpenAI, http: httpx.Client) -> None:
    assert ask(client, "hello server").choices[0].message.content == "From the file."
    script(http, {"match": {"last_user": "hello"}, "answer": {"content": "From the test."}})
    assert ask(client, "hello server").choices[0].message.content == "From the test."


# Answers beyond text.


def test_an_error_answer_is_a_rate_limit_with_retry_after(client: openai.OpenAI, http: httpx.Client) -> None:
    script(http, {"answer": {"error": {"status": 429, "retry_after": 7, "message": "Slow down."}}})
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client, "hi")
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.message.endswith("Slow down.")
    assert caught.value.body == {"message": "Slow down.", "type": "rate_limit_error", "param": None,
                                 "code": "rate_limit_exceeded"}  # fmt: skip


def test_latency(client: openai.OpenAI, http: httpx.Client) -> None:
    script(http, {"answer": {"content": "late", "latency_ms": 300}})
    start = time.monotonic()
    assert ask(client, "hi").choices[0].message.content == "late"
    assert time.monotonic() - start >= 0.3


def test_a_json_answer_is_checked_against_the_requests_schema(client: openai.OpenAI, http: httpx.Client) -> None:
    script(
        http,
        {"match": {"last_user": "valid"}, "answer": {"json": {"name": "Ada", "age": 36}}},
        {"match": {"last_user": "negative"}, "answer": {"json": {"name": "Ada", "age": -1}}},
    )
    done = ask(client, "valid json", response_format=PERSON)
    assert json.loads(done.choices[0].message.content) == {"name": "Ada", "age": 36}
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, "negative json", response_format=PERSON)
    assert caught.value.code == "scripted_answer_invalid"
    assert "rule 'rule-2'" in caught.value.message and "minimum" in caught.value.message


def test_a_scripted_call_the_request_cannot_take_is_a_clear_400(client: openai.OpenAI, http: httpx.Client) -> None:
    script(
        http,
        {"id": "bad-args", "match": {"last_user": "args"}, "answer": {"tool_calls": [
            {"name": "get_weather", "arguments": {"town": "Paris"}}]}},
        {"id": "no-tool", "match": {"last_user": "tool"}, "answer": {"tool_calls": [{"name": "get_time"}]}},
    )  # fmt: skip
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, "args", tools=[CHAT_TOOL])
    assert caught.value.code == "scripted_answer_invalid"
    assert "rule 'bad-args'" in caught.value.message and "'city' is a required property" in caught.value.message
    with pytest.raises(openai.BadRequestError) as missing:
        client.responses.create(model="gpt-sim-1", input="tool", tools=[RESPONSES_TOOL], stream=True)
    assert "'get_time', which the request does not offer" in missing.value.message


def test_invalid_rules_over_the_admin_api_name_the_path(http: httpx.Client) -> None:
    response = http.post("/_simulator/rules", json={"rules": [{"answer": {"content": "a"}}, {"answer": {"tool_calls": [
        {"name": "f", "arguments": "{}"}]}}]})  # fmt: skip
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "rules[1].answer.tool_calls[0].arguments" and error["code"] == "invalid_rules"
    assert "rules[1].answer.tool_calls[0].arguments: must be an object" in error["message"]
    assert http.get("/_simulator/rules").json()["rules"][0]["id"] == "server-hello"  # nothing was added
    assert http.post("/_simulator/rules", content=b"[").status_code == 400


# Scopes, the memo, bytes.


def test_two_test_ids_are_isolated(server: str) -> None:
    def client_for(test: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=server, api_key="k", max_retries=0, default_headers={"X-Simulator-Test-Id": test})

    base = server.removesuffix("/v1")
    for test, word in (("iso-a", "alpha"), ("iso-b", "beta")):
        rule = {"match": {"last_user": "who"}, "sequence": [{"content": word}, {"content": word + "2"}]}
        r = httpx.post(base + "/_simulator/rules", headers={"X-Simulator-Test-Id": test}, json=rule)
        assert r.status_code == 200
    a, b = client_for("iso-a"), client_for("iso-b")
    assert ask(a, "who?").choices[0].message.content == "alpha"
    assert ask(b, "who?").choices[0].message.content == "beta"  # its own first call, not a's second
    assert ask(a, "who?").choices[0].message.content == "alpha2"
    assert ask(client_for("iso-c"), "who?").choices[0].message.content not in ("alpha", "beta", "alpha2")
    cleared = httpx.delete(base + "/_simulator/rules", headers={"X-Simulator-Test-Id": "iso-a"})
    assert cleared.json() == {"deleted": 1}
    assert ask(a, "who?").choices[0].message.content != "alpha"
    assert ask(b, "who?").choices[0].message.content == "beta2"


def test_delete_one_rule(http: httpx.Client, client: openai.OpenAI) -> None:
    script(http, {"id": "gone", "answer": {"content": "soon gone"}})
    assert ask(client, "hi").choices[0].message.content == "soon gone"
    assert http.delete("/_simulator/rules/gone").json() == {"id": "gone", "deleted": True}
    assert ask(client, "hi").choices[0].message.content != "soon gone"
    assert http.delete("/_simulator/rules/gone").status_code == 404
    assert http.delete("/_simulator/rules/server-hello").status_code == 400


def test_a_matched_request_is_never_answered_from_the_memo(client: openai.OpenAI, http: httpx.Client) -> None:
    before = ask(client, "memo me").choices[0].message.content  # memoized: this scope had no rule yet
    script(http, {"match": {"last_user": "memo me", "call": 1}, "answer": {"content": "scripted"}})
    assert ask(client, "memo me").choices[0].message.content == "scripted"
    assert ask(client, "memo me").choices[0].message.content == before


BYTES_CASES: list[tuple[str, dict[str, Any]]] = [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Tell me about the sea."}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Weather?"}], "tools": [CHAT_TOOL],
                              "stream": True, "stream_options": {"include_usage": True}}),
    ("/v1/completions", {"prompt": "Once upon a time", "stream": True}),
    ("/v1/responses", {"input": "Tell me about the sea.", "stream": True}),
    ("/v1/embeddings", {"input": "the sea"}),
]  # fmt: skip


def test_unmatched_requests_get_the_fakes_exact_bytes(server: str, tmp_path: Path) -> None:
    base = server.removesuffix("/v1")
    ruled = {"X-Simulator-Test-Id": "bytes"}
    assert httpx.post(base + "/_simulator/rules", headers=ruled, json={
        "match": {"last_user": "never sent"}, "answer": {"content": "x"}}).status_code == 200  # fmt: skip
    with running(Settings(aliases=("gpt-4o",), fixed_created=FIXED)) as plain_url:
        plain = plain_url.removesuffix("/v1")
        for path, body in BYTES_CASES:
            body = {"model": "gpt-sim-1", **body}
            expected = httpx.post(plain + path, json=body).content
            for headers in ({}, ruled):  # the server's rules only; the test's own too
                for _ in range(2):  # the second time, a scope without rules could answer from the memo
                    assert httpx.post(base + path, json=body, headers=headers).content == expected, (path, headers)


def test_the_rule_that_answered_is_noted_in_the_scope() -> None:
    app = create_app(Settings())
    noted: list[Any] = []

    async def spy(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)
        if scope["type"] == "http":
            noted.append(scope.get(RULE_KEY))

    with serving(spy) as base:
        httpx.post(base + "/_simulator/rules", json={"id": "noted", "match": {"last_user": "note"},
                                                     "answer": {"error": {"status": 503}}})  # fmt: skip
        chat = base + "/v1/chat/completions"
        assert (
            httpx.post(chat, json={"model": "gpt-sim-1", "messages": [{"role": "user", "content": "note"}]}).status_code
            == 503
        )
        httpx.post(chat, json={"model": "gpt-sim-1", "messages": [{"role": "user", "content": "other"}]})
    assert noted[-2:] == ["noted", None]


SPEC_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "w"}], "tools": [CHAT_TOOL]},
     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "w"}], "tools": [CHAT_TOOL], "stream": True,
                              "stream_options": {"include_usage": True}},
     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "w"}], "stream": True, "n": 2},
     {"content": "Scripted text.", "finish_reason": "content_filter"}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "w"}], "response_format": PERSON},
     {"json": {"name": "Ada", "age": 3}}),
    ("/v1/completions", {"prompt": "w"}, {"content": "Scripted text."}),
    ("/v1/completions", {"prompt": "w", "stream": True}, {"content": "Scripted text."}),
    ("/v1/responses", {"input": "w", "tools": [RESPONSES_TOOL]},
     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}),
    ("/v1/responses", {"input": "w", "tools": [RESPONSES_TOOL], "stream": True},
     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}),
    ("/v1/responses", {"input": "w", "stream": True}, {"content": "Scripted text."}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "w"}]}, {"error": {"status": 429}}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "w"}], "tools": [CHAT_TOOL]},
     {"tool_calls": [{"name": "get_weather", "arguments": {}}]}),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "answer"), SPEC_CASES)
def test_scripted_answers_conform_to_openais_spec(
    http: httpx.Client, path: str, body: dict[str, Any], answer: dict[str, Any]
) -> None:
    script(http, {"answer": answer})
    response = http.post(path, json={"model": "gpt-sim-1", **body})
    assert response.status_code in (200, 400, 429), response.text
    assert openapi.check(response) == []
    if "content" in answer and response.headers["content-type"].startswith("application/json"):
        assert "Scripted text." in response.text
