"""Every cap of `limits`, through the app in process: over it, a 400 in OpenAI's shape naming the parameter and
the cap, before the work is done; at it, an answer. Streams are refused the same way, before they start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from openai_api_simulator import limits
from openai_api_simulator.app import create_app
from openai_api_simulator.config import Settings

HELLO = [{"role": "user", "content": "hello"}]
ESSAY = [{"role": "user", "content": "write a long detailed essay"}]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(fixed_created=1_700_000_000))) as c:
        yield c


def refused(client: TestClient, path: str, body: dict[str, Any], param: str, *fragments: str) -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    error: dict[str, Any] = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    for fragment in fragments:
        assert fragment in error["message"]
    return error


def tool(name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": parameters or {"type": "object"}}}


def chat_body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-sim-1", "messages": HELLO, **fields}


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        (chat_body(n=129), "n", "Expected a value <= 128"),
        (chat_body(max_tokens=128_001), "max_tokens", "Expected a value <= 128000"),
        (chat_body(max_completion_tokens=10**9), "max_completion_tokens", "Expected a value <= 128000"),
        (chat_body(logprobs=True, top_logprobs=21), "top_logprobs", "Expected a value <= 20"),
        (chat_body(stop=["a", "b", "c", "d", "e"]), "stop", "Expected at most 4 items"),
        (
            chat_body(tools=[tool(f"f{i}") for i in range(129)]),
            "tools",
            "Expected an array with maximum length 128, but got an array with length 129 instead.",
        ),
        (
            {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "x" * (limits.MAX_INPUT_CHARS + 1)}]},
            "messages",
            "longer than 4,194,304 characters",
        ),
    ],
)
def test_chat_caps(client: TestClient, body: dict[str, Any], param: str, fragment: str) -> None:
    refused(client, "/v1/chat/completions", body, param, fragment)


def test_chat_at_the_caps_is_answered(client: TestClient) -> None:
    body = chat_body(n=128, max_tokens=128_000, tools=[tool(f"f{i}") for i in range(128)], tool_choice="none")
    assert client.post("/v1/chat/completions", json=body).status_code == 200


def test_the_input_limit_counts_every_message(client: TestClient) -> None:
    half = "x" * (limits.MAX_INPUT_CHARS // 2 + 1)
    messages = [{"role": "user", "content": half}, {"role": "assistant", "content": half}]
    error = refused(client, "/v1/chat/completions", {"model": "gpt-sim-1", "messages": messages}, "messages")
    assert error["code"] == "context_length_exceeded"


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_with_too_many_log_probabilities_is_refused_before_it_starts(
    client: TestClient, stream: bool
) -> None:
    # 128 essays of ~300 tokens with 20 alternatives each: some 800,000 log-probabilities, 40 MB of JSON.
    body = {"model": "gpt-sim-1", "messages": ESSAY, "n": 128, "logprobs": True, "top_logprobs": 20, "stream": stream}
    error = refused(client, "/v1/chat/completions", body, "top_logprobs", "more than the simulator's limit of 131,072")
    assert error["code"] == "invalid_value"
    # The same request with fewer alternatives fits.
    r = client.post("/v1/chat/completions", json={**body, "top_logprobs": 2, "stream": False})
    assert r.status_code == 200 and len(r.json()["choices"]) == 128


def test_completions_caps(client: TestClient) -> None:
    path = "/v1/completions"
    refused(client, path, {"model": "gpt-sim-1", "prompt": ["a"] * 2049}, "prompt", "maximum length 2048")
    refused(client, path, {"model": "gpt-sim-1", "prompt": [[1, 2]] * 2049}, "prompt", "maximum length 2048")
    refused(
        client,
        path,
        {"model": "gpt-sim-1", "prompt": ["hi"] * 100, "n": 128, "logprobs": 5},
        "n",
        "100 prompts with n=128 make 12,800 choices, more than the simulator's limit of 2,048",
    )
    refused(client, path, {"model": "gpt-sim-1", "prompt": "hi", "max_tokens": 128_001}, "max_tokens", "<= 128000")
    refused(client, path, {"model": "gpt-sim-1", "prompt": "hi", "logprobs": 6}, "logprobs", "<= 5")
    prompt = "x" * (limits.MAX_INPUT_CHARS + 1)
    refused(client, path, {"model": "gpt-sim-1", "prompt": prompt}, "prompt", "4,194,304 characters")
    r = client.post(path, json={"model": "gpt-sim-1", "prompt": ["hi"] * 16, "n": 128, "max_tokens": 2})
    assert r.status_code == 200 and len(r.json()["choices"]) == 2048


def test_completions_answer_size(client: TestClient) -> None:
    # 2048 long answers: more tokens than one answer may have; 128 of them with 5 alternatives per token: more
    # log-probabilities than it may carry.
    body = {"model": "gpt-sim-1", "prompt": ["write a long detailed essay"] * 16, "n": 128, "max_tokens": 300}
    refused(client, "/v1/completions", body, "max_tokens", "more than the simulator's limit of 131,072 per request")
    refused(client, "/v1/completions", {**body, "n": 8, "logprobs": 5}, "logprobs", "log-probabilities")


def test_responses_caps(client: TestClient) -> None:
    body = {"model": "gpt-sim-1", "input": "hello"}
    refused(client, "/v1/responses", {**body, "max_output_tokens": 128_001}, "max_output_tokens", "<= 128000")
    refused(
        client,
        "/v1/responses",
        {**body, "tools": [tool(f"f{i}")["function"] | {"type": "function"} for i in range(129)]},
        "tools",
        "maximum length 128",
    )
    refused(client, "/v1/responses", {**body, "input": "x" * (limits.MAX_INPUT_CHARS + 1)}, "input", "characters")
    instructions = "x" * (limits.MAX_INPUT_CHARS + 1)
    refused(client, "/v1/responses", {**body, "instructions": instructions}, "instructions", "characters")


def test_embeddings_caps(client: TestClient) -> None:
    path = "/v1/embeddings"
    # The issue's requests: a 15 MB input and 200,000 token ids.
    error = refused(client, path, {"model": "gpt-sim-1", "input": "word " * 3_000_000}, "input", "4,194,304")
    assert error["code"] == "context_length_exceeded"
    refused(client, path, {"model": "gpt-sim-1", "input": list(range(200_000))}, "input", "200,000 tokens", "8,192")
    refused(client, path, {"model": "gpt-sim-1", "input": ["a"] * 2049}, "input", "at most 2048 inputs")
    many = {"model": "gpt-sim-1", "input": [list(range(8_000))] * 38}  # 304,000 tokens
    error = refused(client, path, many, "input", "more than 300,000 tokens")
    assert error["code"] == "max_tokens_per_request"
    words = {"model": "gpt-sim-1", "input": ["w " * 1_000] * 3, "dimensions": 1536}  # 3,000 words × 1536
    refused(client, path, words, "input", "3,000 words at 1536 dimensions", "4,194,304")
    ok = client.post(path, json={**words, "dimensions": 256})  # 768,000 components
    assert ok.status_code == 200 and len(ok.json()["data"][0]["embedding"]) == 256
    refused(client, path, {"model": "gpt-sim-1", "input": "a", "dimensions": 3073}, "dimensions", "<= 3072")


def schema_body(schema: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return chat_body(tools=[tool("f", schema)], tool_choice="required", **fields)


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"type": "object", "properties": {"s": {"type": "string", "minLength": 3_000_000}}}, "minLength (3,000,000)"),
        ({"type": "object", "properties": {"s": {"type": "array", "minItems": 10**6}}}, "minItems (1,000,000)"),
        (
            {"type": "object", "properties": {"s": {"type": "string", "pattern": r"^(?=a)(a+)+$"}}},
            "can backtrack catastrophically",
        ),
        (
            {
                "$defs": {f"a{i}": {"allOf": [{"$ref": f"#/$defs/a{i + 1}"}] * 2} for i in range(16)}
                | {"a16": {"type": "string"}},
                "type": "object",
                "properties": {"x": {"$ref": "#/$defs/a0"}},
            },
            "more than 1,000 subschemas",
        ),
    ],
)
def test_schemas_over_the_limits_are_invalid_schemas(client: TestClient, schema: dict[str, Any], fragment: str) -> None:
    error = refused(client, "/v1/chat/completions", schema_body(schema), "tools[0].function.parameters", fragment)
    assert error["code"] == "invalid_schema"


def test_schemas_that_stalled_the_server_are_answered(client: TestClient) -> None:
    # Each was seconds to minutes of work on the event loop, or a 500.
    recursive = {
        f"d{i}": {
            "type": "object",
            "properties": {
                f"p{j}": {"anyOf": [{"$ref": f"#/$defs/d{(i + j + 1) % 12}"}, {"type": "null"}]} for j in range(3)
            },
            "required": ["p0", "p1", "p2"],
        }
        for i in range(12)
    }
    schemas = [
        {"type": "object", "$defs": recursive, "properties": {"root": {"$ref": "#/$defs/d0"}}, "required": ["root"]},
        {
            "type": "object",
            "properties": {"s": {"type": "string", "pattern": "^(a+)+$", "minLength": 30}},
            "required": ["s"],
        },
        {
            "type": "object",
            "properties": {"x": {"type": "number", "multipleOf": 1e-308, "maximum": 1e308, "minimum": 0}},
            "required": ["x"],
        },
    ]
    for schema in schemas:
        r = client.post("/v1/chat/completions", json=schema_body(schema))
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "f"


def test_a_value_the_validator_would_backtrack_on_is_checked_in_linear_time(client: TestClient) -> None:
    # The const almost matches: Python's re would take 2^40 steps to say no.
    schema = {"type": "object", "properties": {"s": {"const": "a" * 40 + "!", "pattern": "^(a+)+$"}}, "required": ["s"]}
    error = refused(client, "/v1/chat/completions", schema_body(schema), "tools[0].function.parameters")
    assert error["code"] == "invalid_schema" and "const" in error["message"]


def test_the_steps_of_a_request_are_counted_over_its_schemas(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "WORK_DEADLINE_S", 600)  # the count refuses it, not the clock of a busy machine
    # One tool of 4,000 array items is fine; five of them are over the request's steps at the fifth.
    big = {
        "type": "object",
        "properties": {"xs": {"type": "array", "minItems": 4_000, "items": {"type": "integer"}}},
        "required": ["xs"],
    }
    body = chat_body(tools=[tool("f", big)], tool_choice="none")
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    body = chat_body(tools=[tool(f"f{i}", big) for i in range(5)], tool_choice="none")
    error = refused(client, "/v1/chat/completions", body, "tools[4].function.parameters", "more than 20,000 steps")
    assert error["code"] == "invalid_schema"


def test_a_cached_answer_costs_what_generating_it_did(client: TestClient) -> None:
    # Each value is 40,000 characters, and checking the schema makes one: n=4 makes the request's 200,000, n=5
    # is over, whether choice 0 is generated again or remembered from the first request.
    schema = {
        "type": "object",
        "properties": {"s": {"type": "string", "minLength": 40_000, "maxLength": 40_000}},
        "required": ["s"],
    }
    body = {
        "model": "gpt-sim-1",
        "messages": [{"role": "user", "content": "json"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    assert client.post("/v1/chat/completions", json={**body, "n": 4}).status_code == 200
    error = refused(client, "/v1/chat/completions", {**body, "n": 5}, "response_format", "200,000 characters")
    assert error["code"] == "request_too_complex"


def test_the_deadline_refuses_work_the_counts_let_through(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "WORK_DEADLINE_S", 0.001)
    big = {
        "type": "object",
        "properties": {"xs": {"type": "array", "minItems": 9_000, "items": {"type": "integer"}}},
        "required": ["xs"],
    }
    error = refused(
        client,
        "/v1/chat/completions",
        schema_body(big),
        "tools[0].function.parameters",
        "still being worked on after 0.001 s",
    )
    assert error["code"] == "invalid_schema"
