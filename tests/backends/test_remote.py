"""Remote upstreams (`--upstream NAME=URL`): round-robin, failing over, the flag's parsing."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openai_api_simulator.backends import Relay, RemoteBackend, parse_upstream_flags
from openai_api_simulator.testing import free_port, serving
from tests.support.backends import CHAT, app_with, assert_openai_error, mock_client, recorder


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nobody listens there


def test_a_refusing_url_is_skipped_for_the_next() -> None:
    async def ok(request: Request) -> Response:
        return JSONResponse({"ok": True})

    upstream = Starlette(routes=[Route("/v1/chat/completions", ok, methods=["POST"])])
    dead = _closed_port_url()
    with serving(upstream) as live:
        source = RemoteBackend("smol", [dead + "/v1", live], Relay())
        with serving(app_with([source])) as proxy, httpx.Client(timeout=10) as client:
            for _ in range(4):
                r = client.post(f"{proxy}/v1/chat/completions", json=CHAT)
                assert r.status_code == 200
            health = client.get(f"{proxy}/health").json()
    assert source.urls()[-1] == dead  # marked down: tried last
    assert health["models"]["smol"] == "ready"


def test_every_url_refusing_is_502() -> None:
    source = RemoteBackend("smol", [_closed_port_url(), _closed_port_url()], Relay())
    with serving(app_with([source])) as proxy:
        r = httpx.post(f"{proxy}/v1/chat/completions", json=CHAT, timeout=10)
        health = httpx.get(f"{proxy}/health").json()
    assert_openai_error(r, 502, "bad_gateway")
    assert "Connect" in r.json()["error"]["message"]
    assert health == {"status": "degraded", "models": {"gpt-sim-1": "ready", "smol": "failed"}}


# ------------------------------------------------------------------------------------------------
# Balancing and --upstream


def test_remote_round_robin_skips_a_down_url_for_a_while() -> None:
    clock = Clock()
    source = RemoteBackend("m", ["http://a:1/v1", "http://b:2/", "http://c:3"], Relay(), down_for=5, clock=clock)
    assert source.name == "the upstream http://a:1, http://b:2, http://c:3"  # normalised, in order
    assert [source.urls()[0] for _ in range(4)] == ["http://a:1", "http://b:2", "http://c:3", "http://a:1"]
    source.mark_down("http://b:2")
    assert source.state == "ready"
    firsts = [source.urls() for _ in range(3)]
    assert [u[0] for u in firsts] == ["http://a:1", "http://c:3", "http://a:1"]
    assert all(u[-1] == "http://b:2" for u in firsts)  # still a last resort
    clock.now += 5.1
    assert "http://b:2" in [source.urls()[0] for _ in range(3)]


def test_remote_is_failed_while_every_url_is_down_and_recovers() -> None:
    clock = Clock()
    source = RemoteBackend("m", ["http://a:1", "http://b:2"], Relay(), down_for=5, clock=clock)
    source.mark_down("http://a:1")
    clock.now += 1
    source.mark_down("http://b:2")
    assert source.state == "failed"
    assert source.urls() == ["http://a:1", "http://b:2"]  # all still tried, soonest back first
    source.mark_up("http://b:2")
    assert source.state == "ready"
    clock.now += 10
    assert sorted(source.urls()) == ["http://a:1", "http://b:2"]
    assert source.api_key is None and source.retry_after == 5


def test_balancing_through_the_app() -> None:
    seen, handler = recorder()
    make = lambda relay: [RemoteBackend("smol", ["http://a:1", "http://b:2"], relay, api_key="k")]  # noqa: E731
    with mock_client(handler, make) as client:
        for _ in range(4):
            client.post("/v1/chat/completions", json=CHAT)
    assert [r.url.host for r in seen] == ["a", "b", "a", "b"]


def test_a_refused_connection_moves_on_to_the_next_url() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "a":
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return httpx.Response(200, json={})

    make = lambda relay: [RemoteBackend("smol", ["http://a:1", "http://b:2", "http://c:3"], relay)]  # noqa: E731
    with mock_client(handler, make) as client:
        for _ in range(3):
            assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert seen == ["a", "b", "c", "b"]  # a: refused once, then skipped while down


def test_parse_upstream_flags() -> None:
    urls = parse_upstream_flags(
        ["llama3=http://10.0.0.2:8080/v1", "qwen=https://gpu.example/v1/", "llama3=http://10.0.0.3:8080"]
    )
    assert urls == {"llama3": ["http://10.0.0.2:8080", "http://10.0.0.3:8080"], "qwen": ["https://gpu.example"]}
    assert parse_upstream_flags([]) == {}
    assert parse_upstream_flags(["m=http://h:1/v1", "m=http://h:1"]) == {"m": ["http://h:1"]}


def test_a_remote_model_is_listed_as_the_upstream_and_sends_its_key() -> None:
    seen, handler = recorder()
    make = lambda relay: [RemoteBackend("llama3", ["http://h:1"], relay, api_key="sk-remote", created=5)]  # noqa: E731
    with mock_client(handler, make) as client:
        assert client.get("/v1/models/llama3").json() == {
            "id": "llama3",
            "object": "model",
            "created": 5,
            "owned_by": "upstream",
        }
        client.post("/v1/chat/completions", json={**CHAT, "model": "llama3"})
    assert seen[0].headers["authorization"] == "Bearer sk-remote"


@pytest.mark.parametrize(
    "value", ["llama3", "=http://h:1", "llama3=", "two words=http://h:1", "m=localhost:8080", "m=ftp://h/v1"]
)
def test_parse_upstream_flags_rejects_bad_values(value: str) -> None:
    with pytest.raises(ValueError, match="NAME=URL") as info:
        parse_upstream_flags(["ok=http://h:1", value])
    assert repr(value) in str(info.value)
