"""The proxy: routing by model, header rewrite, retries, failure shapes, balancing, flags, merged lists.

Logic runs through `httpx.MockTransport` (no sockets); what depends on sockets — relaying without
buffering, a client disconnect closing the upstream, a server that drops a connection unanswered — runs
real uvicorn servers in threads.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from openai_api_simulator import proxy as proxy_module
from openai_api_simulator.api.app import create_app
from openai_api_simulator.config import Settings
from openai_api_simulator.proxy import (
    ProxySettings,
    StaticUpstream,
    UpstreamModel,
    create_proxy_app,
    parse_upstream_flags,
)
from openai_api_simulator.testing import serving

FIXED = Settings(fixed_created=1_700_000_000)
CHAT = {"model": "smol", "messages": [{"role": "user", "content": "Hi"}]}
Handler = Callable[[httpx.Request], Any]


class Source:
    """A hand-driven UpstreamSource."""

    def __init__(self, urls: Sequence[str], *, state: str = "ready", api_key: str | None = "INTERNAL") -> None:
        self._urls = list(urls)
        self.state = state
        self.api_key = api_key
        self.retry_after = 2.5

    def urls(self) -> list[str]:
        return self._urls if self.state == "ready" else []


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def mock_app(
    handler: Handler, upstreams: Sequence[UpstreamModel], settings: Settings = FIXED, **proxy: Any
) -> TestClient:
    app = create_proxy_app(settings, upstreams, ProxySettings(transport=httpx.MockTransport(handler), **proxy))
    return TestClient(app, raise_server_exceptions=True)


def one_upstream(handler: Handler, source: Any = None, **model: Any) -> TestClient:
    return mock_app(handler, [UpstreamModel("smol", source or Source(["http://up:8080"]), **model)])


def recorder(
    answer: Callable[[httpx.Request], httpx.Response] | None = None,
) -> tuple[list[httpx.Request], Handler]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if answer is not None:
            return answer(request)
        return httpx.Response(200, json={"object": "chat.completion", "model": "smol"})

    return seen, handler


def assert_openai_error(response: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    return dict(error)


# ------------------------------------------------------------------------------------------------
# Routing and rewriting


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


def test_compression_is_only_what_the_client_accepts_and_is_relayed_raw() -> None:
    import gzip

    answer = json.dumps({"object": "chat.completion", "text": "x" * 300}).encode()

    async def compressed() -> AsyncIterator[bytes]:
        yield gzip.compress(answer)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["accept-encoding"])
        return httpx.Response(
            200, content=compressed(), headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    seen: list[str] = []
    with one_upstream(handler) as client:
        r = client.post("/v1/chat/completions", json=CHAT, headers={"Accept-Encoding": "gzip"})
    assert seen == ["gzip"]
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == answer  # decoded by the client: the proxy relayed the compressed bytes untouched
    # A client that names no encoding gets none: the proxy asks the upstream for `identity`.
    scope = {"headers": [(b"user-agent", b"x")]}
    headers = dict(proxy_module._Proxy._upstream_headers(scope, None))
    assert headers[b"accept-encoding"] == b"identity"


def test_client_authorization_is_never_forwarded() -> None:
    seen, handler = recorder()
    with one_upstream(handler, Source(["http://up:8080"], api_key=None)) as client:
        client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-client"})
    assert "authorization" not in seen[0].headers


def test_no_cookies_travel_between_clients_and_the_upstream() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"Set-Cookie": "session=user-a; Path=/"})

    seen, handler = recorder(answer)
    with one_upstream(handler) as client:
        client.post("/v1/chat/completions", json=CHAT, headers={"Cookie": "mine=1"})
        client.cookies.clear()
        client.post("/v1/chat/completions?api-version=2", json=CHAT)
    assert [r.headers.get("cookie") for r in seen] == [None, None]  # not the client's, not the first answer's
    assert seen[1].url.query == b"api-version=2"


def test_rewrite_model_replaces_the_model_in_the_body() -> None:
    seen, handler = recorder()
    with one_upstream(handler, rewrite_model="SmolLM2-135M-Instruct.Q4_1.gguf") as client:
        client.post("/v1/chat/completions", json=CHAT)
    assert json.loads(seen[0].content) == {**CHAT, "model": "SmolLM2-135M-Instruct.Q4_1.gguf"}


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
        (b"{not json", 400, None),
        (b"[1, 2]", 400, "invalid_type"),
        (b"", 400, None),
    ],
)
def test_the_fake_app_answers_everything_not_upstream(content: bytes, status: int, code: str | None) -> None:
    seen, handler = recorder()
    with one_upstream(handler) as client, TestClient(create_app(FIXED)) as fake:
        headers = {"Content-Type": "application/json"}
        r = client.post("/v1/chat/completions", content=content, headers=headers)
        assert_openai_error(r, status, code)
        assert r.content == fake.post("/v1/chat/completions", content=content, headers=headers).content
        assert_openai_error(client.get("/v1/no/such/path"), 404, "not_found")
        assert_openai_error(client.get("/v1/chat/completions"), 405, "method_not_allowed")
    assert seen == []


@pytest.mark.parametrize("model", ["smol", "gpt-sim-1"])
def test_body_over_the_limit_is_413_for_every_model(model: str) -> None:
    seen, handler = recorder()
    settings = Settings(max_body_bytes=200)
    big = json.dumps({"model": model, "messages": [{"role": "user", "content": "x" * 500}]}).encode()
    with mock_app(handler, [UpstreamModel("smol", Source(["http://up:8080"]))], settings) as client:
        assert_openai_error(client.post("/v1/chat/completions", content=big), 413, "request_too_large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is checked while reading
            yield big[:150]
            yield big[150:]

        assert_openai_error(client.post("/v1/chat/completions", content=chunks()), 413, "request_too_large")
    assert seen == []


def test_api_key_protects_upstream_and_fake_routes_but_not_health() -> None:
    seen, handler = recorder()
    settings = Settings(api_key="sk-public", fixed_created=1)
    with mock_app(handler, [UpstreamModel("smol", Source(["http://up:8080"]))], settings) as client:
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


def test_duplicate_model_ids_are_refused() -> None:
    source = Source(["http://up:8080"])
    with pytest.raises(ValueError, match="gpt-sim-1"):
        create_proxy_app(FIXED, [UpstreamModel("gpt-sim-1", source)])
    with pytest.raises(ValueError, match="two upstreams"):
        create_proxy_app(FIXED, [UpstreamModel("a", source), UpstreamModel("a", source)])


# ------------------------------------------------------------------------------------------------
# Relaying answers


def test_sse_answers_get_no_buffering_headers_and_lose_hop_by_hop_ones() -> None:
    events = b'data: {"choices":[]}\n\ndata: [DONE]\n\n'

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=events,
            headers={
                "Content-Type": "text/event-stream",
                "X-Accel-Buffering": "no",
                "Keep-Alive": "timeout=5, max=100",
                "Connection": "keep-alive, X-Hop",
                "X-Hop": "1",
                "Server": "llama.cpp",
                "X-Request-Id": "req-1",
            },
        )

    _, handler = recorder(answer)
    with one_upstream(handler) as client:
        r = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.status_code == 200
    assert r.content == events
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers.get_list("x-accel-buffering") == ["no"]
    assert r.headers.get_list("cache-control") == ["no-cache"]
    assert r.headers["x-request-id"] == "req-1"
    for hop in ("keep-alive", "connection", "x-hop", "server"):
        assert hop not in r.headers


def test_json_answers_get_no_sse_headers() -> None:
    _, handler = recorder()
    with one_upstream(handler) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
    assert r.headers["content-type"] == "application/json"
    assert "x-accel-buffering" not in r.headers


def test_unsized_answers_are_relayed_whole() -> None:
    async def lines() -> AsyncIterator[bytes]:
        for n in range(3):
            yield b'{"n":%d}\n' % n

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=lines(), headers={"Content-Type": "application/x-ndjson"})

    _, handler = recorder(answer)
    with one_upstream(handler) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
    assert r.content == b'{"n":0}\n{"n":1}\n{"n":2}\n'
    assert r.headers["content-type"] == "application/x-ndjson"


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_upstream_error_answers_pass_through_unchanged(status: int) -> None:
    body = {"error": {"message": "from upstream", "type": "x", "code": status}}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers={"Retry-After": "7"})

    seen, handler = recorder(answer)
    with one_upstream(handler) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == status
    assert r.json() == body
    assert r.headers["retry-after"] == "7"
    assert len(seen) == 1  # an answer, even an error, is never retried


@pytest.mark.parametrize(
    ("endpoint", "marker"),
    [("chat/completions", b'data: {"error":'), ("responses", b'event: error\ndata: {"type":"error"')],
)
def test_failure_mid_stream_ends_with_an_error_event_and_is_not_retried(endpoint: str, marker: bytes) -> None:
    calls = 0

    async def events() -> AsyncIterator[bytes]:
        yield b'data: {"n":1}\n\n'
        raise httpx.ReadError("Connection reset by peer")

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=events(), headers={"Content-Type": "text/event-stream"})

    with one_upstream(handler) as client:
        r = client.post(f"/v1/{endpoint}", json={**CHAT, "stream": True})
    assert calls == 1
    first, error = r.content.split(b"\n\n", 1)
    assert first == b'data: {"n":1}'
    assert error.startswith(marker)
    assert b"bad_gateway" in error
    assert b"smol" in error and b"http://up:8080" in error


# ------------------------------------------------------------------------------------------------
# Retries and failures


def test_a_request_never_answered_is_retried_once() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(200, json={"ok": True})

    with one_upstream(handler) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert calls == 2


@pytest.mark.parametrize(
    "error",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadError("Connection reset by peer"),
    ],
)
def test_unanswered_twice_is_502_naming_model_and_url(error: Exception) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise error

    with one_upstream(handler) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
    body = assert_openai_error(r, 502, "bad_gateway")
    assert body["type"] == "server_error"
    assert "`smol`" in body["message"] and "http://up:8080" in body["message"]
    assert calls == 2


def test_read_timeout_is_504_and_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("timed out")

    with one_upstream(handler) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
    body = assert_openai_error(r, 504, "timeout")
    assert "600 s" in body["message"] and "`smol`" in body["message"]
    assert calls == 1


def test_timeouts_come_from_proxy_settings() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={})

    app = mock_app(handler, [UpstreamModel("smol", Source(["http://up:8080"]))], connect_timeout=1.5, read_timeout=None)
    with app as client:
        client.post("/v1/chat/completions", json=CHAT)
    assert seen[0]["connect"] == 1.5
    assert seen[0]["read"] is None


@pytest.mark.parametrize("state", ["starting", "restarting", "stopping", "stopped"])
def test_source_not_ready_is_503_with_retry_after(state: str) -> None:
    seen, handler = recorder()
    with one_upstream(handler, Source(["http://up:8080"], state=state)) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
        body = assert_openai_error(r, 503, "service_unavailable")
        assert r.headers["retry-after"] == "3"  # 2.5 s, rounded up
        assert state in body["message"] and "`smol`" in body["message"]
        health = client.get("/health").json()
    assert seen == []
    assert health == {"status": "degraded", "models": {"gpt-sim-1": "ready", "smol": state}}


def test_failed_source_is_502() -> None:
    seen, handler = recorder()
    with one_upstream(handler, Source(["http://up:8080"], state="failed")) as client:
        body = assert_openai_error(client.post("/v1/chat/completions", json=CHAT), 502, "bad_gateway")
    assert "`smol`" in body["message"]
    assert seen == []


# ------------------------------------------------------------------------------------------------
# Over real sockets


def test_streams_are_relayed_without_buffering_and_a_disconnect_closes_the_upstream() -> None:
    release = threading.Event()
    upstream_closed = threading.Event()

    async def stream(request: Request) -> Response:
        async def events() -> AsyncIterator[bytes]:
            try:
                yield b'data: {"n":0}\n\n'
                # The first event must reach the client while the rest does not exist yet.
                await anyio.to_thread.run_sync(release.wait, 10)
                n = 1
                while True:
                    yield f'data: {{"n":{n}}}\n\n'.encode()
                    n += 1
                    await anyio.sleep(0.01)
            finally:
                upstream_closed.set()

        return StreamingResponse(events(), media_type="text/event-stream")

    upstream = Starlette(routes=[Route("/v1/chat/completions", stream, methods=["POST"])])
    with serving(upstream) as up, serving(create_proxy_app(FIXED, [UpstreamModel("smol", Source([up]))])) as proxy:
        with (
            httpx.Client(timeout=10) as client,
            client.stream("POST", f"{proxy}/v1/chat/completions", json={**CHAT, "stream": True}) as r,
        ):
            assert r.headers["x-accel-buffering"] == "no"
            lines = r.iter_lines()
            assert next(lines) == 'data: {"n":0}'  # arrives while the upstream is still holding the rest
            release.set()
            received = [line for line, _ in zip(lines, range(20), strict=False) if line]
            assert received[:3] == ['data: {"n":1}', 'data: {"n":2}', 'data: {"n":3}']
            assert not upstream_closed.is_set()
        # Leaving the block closed our connection mid-stream: the proxy must close its upstream one.
        assert upstream_closed.wait(5), "the upstream stream was left running after the client disconnected"


OK_ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)


def _raw_server(answers: Sequence[bytes | None]) -> tuple[str, list[int], Callable[[], None]]:
    """A raw HTTP server: connection N reads the request, writes answers[N] (the last one repeats) and
    closes; None closes without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                answer = answers[min(len(accepted), len(answers) - 1)]
                accepted.append(1)
                conn.recv(65536)
                if answer is not None:
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(5)
        listener.close()

    return f"http://127.0.0.1:{listener.getsockname()[1]}", accepted, close


@pytest.mark.parametrize(("answers", "status"), [([None, OK_ANSWER], 200), ([None, None, OK_ANSWER], 502)])
def test_a_connection_dropped_unanswered_is_retried_on_a_new_one(answers: list[bytes | None], status: int) -> None:
    url, accepted, close = _raw_server(answers)
    try:
        with serving(create_proxy_app(FIXED, [UpstreamModel("smol", Source([url]))])) as proxy:
            r = httpx.post(f"{proxy}/v1/chat/completions", json=CHAT, timeout=10)
    finally:
        close()
    assert r.status_code == status
    assert len(accepted) == 2
    if status == 200:
        assert r.json() == {"ok": True}
    else:
        assert "Server disconnected without sending a response" in r.json()["error"]["message"]


def test_a_json_answer_cut_upstream_is_cut_for_the_client_too() -> None:
    cut = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"choices": ['
    url, accepted, close = _raw_server([cut])
    try:
        with (
            serving(create_proxy_app(FIXED, [UpstreamModel("smol", Source([url]))])) as proxy,
            pytest.raises(httpx.RemoteProtocolError),  # never a complete-looking 200
        ):
            httpx.post(f"{proxy}/v1/chat/completions", json=CHAT, timeout=10)
    finally:
        close()
    assert len(accepted) == 1  # it had started answering: not retried


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_refusing_url_is_skipped_for_the_next() -> None:
    async def ok(request: Request) -> Response:
        return JSONResponse({"ok": True})

    upstream = Starlette(routes=[Route("/v1/chat/completions", ok, methods=["POST"])])
    dead = _closed_port_url()
    with serving(upstream) as live:
        source = StaticUpstream([dead + "/v1", live])
        model = UpstreamModel("smol", source)
        with serving(create_proxy_app(FIXED, [model])) as proxy, httpx.Client(timeout=10) as client:
            for _ in range(4):
                r = client.post(f"{proxy}/v1/chat/completions", json=CHAT)
                assert r.status_code == 200
            health = client.get(f"{proxy}/health").json()
    assert source.urls()[-1] == dead  # marked down: tried last
    assert health["models"]["smol"] == "ready"


def test_every_url_refusing_is_502() -> None:
    source = StaticUpstream([_closed_port_url(), _closed_port_url()])
    with serving(create_proxy_app(FIXED, [UpstreamModel("smol", source)])) as proxy:
        r = httpx.post(f"{proxy}/v1/chat/completions", json=CHAT, timeout=10)
        health = httpx.get(f"{proxy}/health").json()
    assert_openai_error(r, 502, "bad_gateway")
    assert "Connect" in r.json()["error"]["message"]
    assert health == {"status": "degraded", "models": {"gpt-sim-1": "ready", "smol": "failed"}}


# ------------------------------------------------------------------------------------------------
# StaticUpstream and --upstream


def test_static_upstream_round_robin_skips_a_down_url_for_a_while() -> None:
    clock = Clock()
    source = StaticUpstream(["http://a:1/v1", "http://b:2/", "http://c:3"], "k", down_for=5, clock=clock)
    assert source.all_urls == ("http://a:1", "http://b:2", "http://c:3")
    assert [source.urls()[0] for _ in range(4)] == ["http://a:1", "http://b:2", "http://c:3", "http://a:1"]
    source.mark_down("http://b:2")
    assert source.state == "ready"
    firsts = [source.urls() for _ in range(3)]
    assert [u[0] for u in firsts] == ["http://a:1", "http://c:3", "http://a:1"]
    assert all(u[-1] == "http://b:2" for u in firsts)  # still a last resort
    clock.now += 5.1
    assert "http://b:2" in [source.urls()[0] for _ in range(3)]


def test_static_upstream_is_failed_while_every_url_is_down_and_recovers() -> None:
    clock = Clock()
    source = StaticUpstream(["http://a:1", "http://b:2"], down_for=5, clock=clock)
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


def test_balancing_through_the_proxy() -> None:
    seen, handler = recorder()
    source = StaticUpstream(["http://a:1", "http://b:2"], "k")
    with one_upstream(handler, source) as client:
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

    source = StaticUpstream(["http://a:1", "http://b:2", "http://c:3"])
    with one_upstream(handler, source) as client:
        for _ in range(3):
            assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert seen == ["a", "b", "c", "b"]  # a: refused once, then skipped while down


def test_parse_upstream_flags() -> None:
    models = parse_upstream_flags(
        ["llama3=http://10.0.0.2:8080/v1", "qwen=https://gpu.example/v1/", "llama3=http://10.0.0.3:8080"],
        api_key="sk-remote",
    )
    assert [m.id for m in models] == ["llama3", "qwen"]
    llama, qwen = (m.source for m in models)
    assert isinstance(llama, StaticUpstream) and isinstance(qwen, StaticUpstream)
    assert llama.all_urls == ("http://10.0.0.2:8080", "http://10.0.0.3:8080")
    assert qwen.all_urls == ("https://gpu.example",)
    assert llama.api_key == "sk-remote"
    assert models[0].owned_by == "upstream" and models[0].rewrite_model is None
    assert parse_upstream_flags([]) == []
    same = parse_upstream_flags(["m=http://h:1/v1", "m=http://h:1"])
    assert isinstance(same[0].source, StaticUpstream)
    assert same[0].source.all_urls == ("http://h:1",)


@pytest.mark.parametrize(
    "value", ["llama3", "=http://h:1", "llama3=", "two words=http://h:1", "m=localhost:8080", "m=ftp://h/v1"]
)
def test_parse_upstream_flags_rejects_bad_values(value: str) -> None:
    with pytest.raises(ValueError, match="NAME=URL") as info:
        parse_upstream_flags(["ok=http://h:1", value])
    assert repr(value) in str(info.value)


# ------------------------------------------------------------------------------------------------
# /v1/models and /health


def test_models_are_merged_fake_first() -> None:
    seen, handler = recorder()
    settings = Settings(aliases=("gpt-4o-mini",), fixed_created=1_700_000_000)
    upstreams = [
        UpstreamModel("smol", Source(["http://up:1"])),
        UpstreamModel("remote", Source(["http://up:2"]), owned_by="upstream"),
    ]
    with mock_app(handler, upstreams, settings) as client, TestClient(create_app(settings)) as fake:
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
    ready, starting = Source(["http://up:1"]), Source(["http://up:2"], state="starting")
    upstreams = [UpstreamModel("smol", ready), UpstreamModel("big", starting)]
    with mock_app(handler, upstreams) as client:
        r = client.get("/health")
        assert r.status_code == 200
        assert r.json() == {
            "status": "degraded",
            "models": {"gpt-sim-1": "ready", "smol": "ready", "big": "starting"},
        }
        starting.state = "ready"
        assert client.get("/health").json()["status"] == "ok"
        starting.state = "failed"
        r = client.get("/health")
        assert r.status_code == 200 and r.json()["models"]["big"] == "failed"
