"""The one app: routing by model, the body read and parsed once, errors, the API key, /v1/models and /health.

Upstreams are hand-driven backends relaying over `httpx.MockTransport` (no sockets).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from openai_api_simulator.app import create_app
from openai_api_simulator.backends import DuplicateModel, FakeBackend, Relay
from openai_api_simulator.config import Settings
from tests.support.backends import (
    CHAT,
    FIXED,
    Source,
    assert_openai_error,
    mock_client,
    mock_relay,
    one_upstream,
    recorder,
)


@pytest.mark.parametrize("prefix", ["/v1", ""])
@pytest.mark.parametrize("endpoint", ["chat/completions", "completions", "embeddings", "responses"])
def test_upstream_model_is_forwarded_with_the_upstream_key(prefix: str, endpoint: str) -> None:
    seen, handler = recorder()
    raw = b'{"model": "smol",  "input": "keep these bytes exactly"}'
    with one_upstream(handler) as client:
        r = client.post(
            f"{prefix}/{endpoint}",
            content=raw,
            headers={"Authorization": "Bearer sk-client", "Content-Type": "application/json"},
        )
    assert r.status_code == 200
    assert r.json() == {"object": "chat.completion", "model": "smol"}
    [request] = seen
    assert str(request.url) == f"http://up:8080/v1/{endpoint}"
    assert request.content == raw  # forwarded as sent, not re-serialised
    assert request.headers["authorization"] == "Bearer INTERNAL"
    assert request.headers["content-type"] == "application/json"


def test_fake_models_are_answered_in_process_exactly_as_the_fake_app() -> None:
    seen, handler = recorder()
    body = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "Tell me about rivers."}], "seed": 3}
    with one_upstream(handler) as client, TestClient(create_app(FIXED)) as fake:
        for path in ("/v1/chat/completions", "/chat/completions"):
            proxied = client.post(path, json=body)
            direct = fake.post(path, json=body)
            assert proxied.status_code == direct.status_code == 200
            assert proxied.content == direct.content
            assert proxied.headers["content-type"] == direct.headers["content-type"]
        streamed = client.post("/v1/chat/completions", json={**body, "stream": True})
        assert streamed.content == fake.post("/v1/chat/completions", json={**body, "stream": True}).content
    assert seen == []


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (json.dumps({"model": "nobody", "messages": []}).encode(), 404, "model_not_found"),
        (json.dumps({"messages": []}).encode(), 400, "missing_required_parameter"),
        (json.dumps({"model": 7, "messages": []}).encode(), 400, "invalid_type"),
        (b"{not json", 400, None),
        (b"[1, 2]", 400, "invalid_type"),
        (b"", 400, None),
    ],
)
def test_errors_before_routing_are_the_same_with_or_without_upstreams(
    content: bytes, status: int, code: str | None
) -> None:
    seen, handler = recorder()
    with one_upstream(handler) as client, TestClient(create_app(FIXED)) as fake:
        headers = {"Content-Type": "application/json"}
        r = client.post("/v1/chat/completions", content=content, headers=headers)
        body = assert_openai_error(r, status, code)
        assert r.content == fake.post("/v1/chat/completions", content=content, headers=headers).content
        if code in ("missing_required_parameter", "invalid_type") and content.startswith(b"{"):
            assert body["param"] == "model"
        assert_openai_error(client.get("/v1/no/such/path"), 404, "not_found")
        assert_openai_error(client.get("/v1/chat/completions"), 405, "method_not_allowed")
    assert seen == []


@pytest.mark.parametrize("model", ["smol", "gpt-sim-1"])
def test_body_over_the_limit_is_413_for_every_model(model: str) -> None:
    seen, handler = recorder()
    settings = Settings(max_body_bytes=200)
    big = json.dumps({"model": model, "messages": [{"role": "user", "content": "x" * 500}]}).encode()
    with mock_client(handler, lambda relay: [Source(["http://up:8080"], relay)], settings) as client:
        assert_openai_error(client.post("/v1/chat/completions", content=big), 413, "request_too_large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is checked while reading
            yield big[:150]
            yield big[150:]

        assert_openai_error(client.post("/v1/chat/completions", content=chunks()), 413, "request_too_large")
    assert seen == []


def test_api_key_protects_upstream_and_fake_routes_but_not_health() -> None:
    seen, handler = recorder()
    settings = Settings(api_key="sk-public", fixed_created=1)
    with mock_client(handler, lambda relay: [Source(["http://up:8080"], relay)], settings) as client:
        for method, path, body in [
            ("POST", "/v1/chat/completions", CHAT),
            ("POST", "/v1/chat/completions", {**CHAT, "model": "gpt-sim-1"}),
            ("POST", "/embeddings", {"model": "smol", "input": "x"}),
            ("GET", "/v1/models", None),
            ("GET", "/v1/models/smol", None),
        ]:
            r = client.request(method, path, json=body)
            assert_openai_error(r, 401, "invalid_api_key")
            r = client.request(method, path, json=body, headers={"Authorization": "Bearer wrong"})
            assert_openai_error(r, 401, "invalid_api_key")
        assert seen == []
        assert client.get("/health").status_code == 200
        ok = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-public"})
        assert ok.status_code == 200
    assert seen[0].headers["authorization"] == "Bearer INTERNAL"


def test_an_endpoint_the_backend_does_not_serve_is_400_naming_both() -> None:
    seen, handler = recorder()

    def chat_only(relay: Relay) -> list[Source]:
        return [Source(["http://up:8080"], relay, capabilities=frozenset({"chat/completions"}))]

    with mock_client(handler, chat_only) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        r = client.post("/v1/embeddings", json={"model": "smol", "input": "x"})
        body = assert_openai_error(r, 400, "unsupported_endpoint")
    assert body["param"] == "model"
    assert "`smol`" in body["message"] and "/v1/embeddings" in body["message"]
    assert "/v1/chat/completions" in body["message"]  # what it does answer
    assert len(seen) == 1


def test_two_backends_with_one_id_are_refused_naming_both() -> None:
    relay = mock_relay(lambda request: httpx.Response(200))
    with pytest.raises(DuplicateModel, match="gpt-sim-1") as info:
        create_app(FIXED, [FakeBackend(FIXED), Source(["http://up:8080"], relay, model="gpt-sim-1")])
    assert "the built-in fake model" in str(info.value) and "a hand-driven upstream" in str(info.value)


def test_models_are_merged_fake_first() -> None:
    seen, handler = recorder()
    settings = Settings(aliases=("gpt-4o-mini",), fixed_created=1_700_000_000)

    def backends(relay: Relay) -> list[Source]:
        return [
            Source(["http://up:1"], relay),
            Source(["http://up:2"], relay, model="remote", owned_by="upstream"),
        ]

    with mock_client(handler, backends, settings) as client, TestClient(create_app(settings)) as fake:
        for prefix in ("/v1", ""):
            listed = client.get(f"{prefix}/models").json()
            assert listed["object"] == "list"
            fake_part = fake.get(f"{prefix}/models").json()["data"]
            assert listed["data"][: len(fake_part)] == fake_part
            assert listed["data"][2:] == [
                {"id": "smol", "object": "model", "created": 1_700_000_000, "owned_by": "llama.cpp"},
                {"id": "remote", "object": "model", "created": 1_700_000_000, "owned_by": "upstream"},
            ]
            assert client.get(f"{prefix}/models/smol").json()["owned_by"] == "llama.cpp"
            assert client.get(f"{prefix}/models/gpt-4o-mini").json() == fake.get(f"{prefix}/models/gpt-4o-mini").json()
            assert_openai_error(client.get(f"{prefix}/models/nobody"), 404, "model_not_found")
    assert seen == []


def test_health_reports_each_model_and_is_always_200() -> None:
    _, handler = recorder()
    made: list[Source] = []

    def backends(relay: Relay) -> list[Source]:
        made.extend(
            [
                Source(["http://up:1"], relay),
                Source(["http://up:2"], relay, model="big", state="starting"),
            ]
        )
        return made

    with mock_client(handler, backends) as client:
        r = client.get("/health")
        assert r.status_code == 200
        assert r.json() == {
            "status": "degraded",
            "models": {"gpt-sim-1": "ready", "smol": "ready", "big": "starting"},
        }
        made[1].state = "ready"
        assert client.get("/health").json()["status"] == "ok"
        made[1].state = "failed"
        r = client.get("/health")
        assert r.status_code == 200 and r.json()["models"]["big"] == "failed"


def test_the_fake_alone_reports_its_models_ready() -> None:
    with TestClient(create_app(Settings(aliases=("gpt-4o",)))) as client:
        assert client.get("/health").json() == {"status": "ok", "models": {"gpt-sim-1": "ready", "gpt-4o": "ready"}}
