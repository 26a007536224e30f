"""Raw HTTP: SSE framing and headers, paths, methods, and OpenAI-shaped errors for every kind of bad input."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_api_simulator.api.http import retry_after, retry_after_ms
from openai_api_simulator.config import Settings
from openai_api_simulator.testing import running

CHAT = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "hi"}]}


def _events(text: str) -> list[str]:
    assert text.endswith("\n\n")
    return [block for block in text.split("\n\n") if block]


def test_sse_framing_order_and_headers(http: httpx.Client) -> None:
    r = http.post("/v1/chat/completions", json={**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-accel-buffering"] == "no"
    events = _events(r.text)
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_same_request_same_bytes(http: httpx.Client) -> None:
    a = http.post("/v1/chat/completions", json=CHAT)
    b = http.post("/v1/chat/completions", json=CHAT)
    assert a.content == b.content  # the session server runs with a fixed `created`


def test_paths_without_v1_prefix(http: httpx.Client) -> None:
    assert http.post("/chat/completions", json=CHAT).json() == http.post("/v1/chat/completions", json=CHAT).json()
    assert http.get("/models").status_code == 200
    assert http.get("/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model", "missing_required_parameter"),
        ({"model": 3, "messages": []}, "model", "invalid_type"),
        ({"model": "gpt-sim-1"}, "messages", "missing_required_parameter"),
        ({"model": "gpt-sim-1", "messages": "hi"}, "messages", "invalid_type"),
        ({"model": "gpt-sim-1", "messages": []}, "messages", "empty_array"),
        ({"model": "gpt-sim-1", "messages": [{"role": "bot", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"model": "gpt-sim-1", "messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
        ({"model": "gpt-sim-1", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_type"),
        (
            {"model": "gpt-sim-1", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
            "missing_required_parameter",
        ),
        ({**CHAT, "n": "2"}, "n", "invalid_type"),
        ({**CHAT, "n": 0}, "n", "invalid_value"),
        ({**CHAT, "max_tokens": -1}, "max_tokens", "invalid_value"),
        ({**CHAT, "temperature": 3}, "temperature", "invalid_value"),
        ({**CHAT, "stream": "yes"}, "stream", "invalid_type"),
        ({**CHAT, "stop": [1]}, "stop[0]", "invalid_type"),
        ({**CHAT, "stop": ["a", "b", "c", "d", "e"]}, "stop", "invalid_value"),
        ({**CHAT, "stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
        ({**CHAT, "tool_choice": "auto"}, "tool_choice", "invalid_value"),
        (
            {**CHAT, "tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools[0].function.name",
            "invalid_value",
        ),
        (
            {**CHAT, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"$ref": "#/$defs/x"}}}]},
            "tools[0].function.parameters",
            "invalid_schema",
        ),
        ({**CHAT, "response_format": {"type": "xml"}}, "response_format.type", "invalid_value"),
        ({**CHAT, "top_logprobs": 2}, "top_logprobs", "invalid_value"),
    ],
)
def test_chat_validation_names_the_param(http: httpx.Client, body: dict[str, Any], param: str, code: str) -> None:
    r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["code"] == code
    assert error["message"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,2]", b"null", b'"text"', b"\xff\xfe", b"[" * 100_000])
def test_unparseable_bodies_are_400(http: httpx.Client, raw: bytes) -> None:
    r = http.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_oversized_body_is_413() -> None:
    with running(Settings(max_body_bytes=2048)) as url, httpx.Client() as http:
        big = {**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]}
        r = http.post(url + "/chat/completions", json=big)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"

        def chunks() -> Any:
            yield b'{"model": "gpt-sim-1", "messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"y" * 1000  # no Content-Length: the limit is enforced while reading
            yield b'"}]}'

        assert http.post(url + "/chat/completions", content=chunks()).status_code == 413


def test_wrong_method_and_unknown_path(http: httpx.Client) -> None:
    r = http.get("/v1/chat/completions")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = http.post("/v1/nothing-here", json={})
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
fields = st.sampled_from(
    [
        "model",
        "messages",
        "n",
        "stream",
        "tools",
        "tool_choice",
        "response_format",
        "stop",
        "max_tokens",
        "logprobs",
        "top_logprobs",
        "input",
        "prompt",
        "dimensions",
        "seed",
        "encoding_format",
        "stream_options",
        "text",
        "instructions",
        "temperature",
    ]
)
bodies = st.dictionaries(fields, json_values, max_size=6).map(lambda d: {"model": "gpt-sim-1", **d})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=bodies, path=st.sampled_from(["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"])
)
def test_no_body_yields_a_5xx(http: httpx.Client, body: dict[str, Any], path: str) -> None:
    r = http.post(path, json=body)
    assert r.status_code < 500, (path, body, r.text)
    if r.status_code >= 400:
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}


# ---- Content-Type --------------------------------------------------------------------------------------

BODY = json.dumps(CHAT).encode()


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",  # what curl -d sends without -H
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/octet-stream",
        "text/json",
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
    ],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/responses"])
def test_a_body_declared_as_something_else_than_json_is_a_400(http: httpx.Client, content_type: str, path: str) -> None:
    # The form, multipart and text/plain types are what a web page may POST cross-site without a preflight.
    r = http.post(path, content=BODY, headers={"content-type": content_type})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert content_type in error["message"]
    assert "Content-Type: application/json" in error["message"]
    if content_type.startswith("application/x-www-form-urlencoded"):
        assert "curl -d" in error["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json"},
        {"content-type": "application/json; charset=utf-8"},
        {"content-type": 'Application/JSON;Charset="UTF-8"'},
        {"content-type": "application/vnd.api+json"},
        {},  # none at all: requests' data= and httpx's content= send none
    ],
)
def test_json_or_no_content_type_is_accepted(http: httpx.Client, headers: dict[str, str]) -> None:
    r = http.post("/v1/chat/completions", content=BODY, headers=headers)
    assert r.status_code == 200, r.text


def test_the_content_type_is_checked_before_the_body_is_read() -> None:
    # A form post bigger than the limit is refused for what it is, not for its size.
    with running(Settings(max_body_bytes=1024)) as url, httpx.Client() as http:
        r = http.post(url + "/chat/completions", content=b"a=" + b"x" * 5000, headers={"content-type": "text/plain"})
        assert r.status_code == 400 and "Unsupported Content-Type" in r.json()["error"]["message"]


# ---- Retry-After ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "header", "ms"),
    [
        (2.5, "3", "2500"),
        (1e-09, "1", "1"),  # a sub-second delay rounds up: 0 would say "retry at once"
        (0.01, "1", "10"),
        (-0.0, "0", "0"),
        (0, "0", "0"),
        (-3, "0", "0"),
        (7, "7", "7000"),
        (7.0000001, "8", "7001"),
        (float("nan"), "0", "0"),
        (float("inf"), "86400", "86400000"),
        (10**9, "86400", "86400000"),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header: str, ms: str) -> None:
    assert retry_after(seconds) == header
    assert retry_after_ms(seconds) == ms
