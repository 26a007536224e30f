"""The relay: what is forwarded, how answers come back, retries and the failure table.

Logic runs through `httpx.MockTransport` (no sockets); what depends on sockets — relaying without
buffering, a client disconnect closing the upstream, a server that drops a connection unanswered — runs
real uvicorn servers in threads.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from openai_api_simulator.backends import Relay
from openai_api_simulator.backends.relay import RelaySettings, upstream_headers
from openai_api_simulator.testing import serving
from tests.support.backends import (
    CHAT,
    Source,
    app_with,
    assert_openai_error,
    mock_client,
    one_upstream,
    recorder,
)


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
    headers = dict(upstream_headers([(b"user-agent", b"x")], None))
    assert headers[b"accept-encoding"] == b"identity"


def test_anthropic_headers_are_forwarded_and_its_key_is_not() -> None:
    client_headers = [(b"anthropic-version", b"2023-06-01"), (b"anthropic-beta", b"b1"), (b"x-api-key", b"sk-c")]
    headers = dict(upstream_headers(client_headers, "INTERNAL"))
    assert headers[b"anthropic-version"] == b"2023-06-01" and headers[b"anthropic-beta"] == b"b1"
    assert b"x-api-key" not in headers and headers[b"authorization"] == b"Bearer INTERNAL"


def test_client_authorization_is_never_forwarded() -> None:
    seen, handler = recorder()
    with one_upstream(handler, api_key=None) as client:
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
    assert r.headers["x-upstream-request-id"] == "req-1"  # the upstream's; x-request-id is this server's
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


def test_messages_failure_mid_stream_is_an_anthropic_error_event() -> None:
    async def events() -> AsyncIterator[bytes]:
        yield b'event: ping\ndata: {"type":"ping"}\n\n'
        raise httpx.ReadError("Connection reset by peer")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=events(), headers={"Content-Type": "text/event-stream"})

    with one_upstream(handler) as client:
        r = client.post("/v1/messages", json={"model": "smol", "max_tokens": 8, "messages": [], "stream": True})
    error = r.content.split(b"\n\n")[1]
    assert error.startswith(b'event: error\ndata: {"type":"error","error":{"type":"api_error"')
    assert b"failed while streaming" in error


@pytest.mark.parametrize(("status", "kind"), [(400, "invalid_request_error"), (429, "rate_limit_error")])
def test_upstream_errors_on_messages_are_in_anthropics_shape(status: int, kind: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": "from upstream", "type": "x"}})

    _, handler = recorder(answer)
    with one_upstream(handler) as client:
        r = client.post("/v1/messages", json={"model": "smol", "max_tokens": 8, "messages": []})
    assert r.status_code == status
    assert r.json() == {"type": "error", "error": {"type": kind, "message": "from upstream"}}


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

    make = lambda relay: [Source(["http://up:8080"], relay)]  # noqa: E731
    with mock_client(handler, make, connect_timeout=1.5, read_timeout=None) as client:
        client.post("/v1/chat/completions", json=CHAT)
    assert seen[0]["connect"] == 1.5
    assert seen[0]["read"] is None


@pytest.mark.parametrize("state", ["starting", "restarting", "stopping", "stopped"])
def test_source_not_ready_is_503_with_retry_after(state: str) -> None:
    seen, handler = recorder()
    with one_upstream(handler, state=state) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
        body = assert_openai_error(r, 503, "service_unavailable")
        assert r.headers["retry-after"] == "3"  # 2.5 s, rounded up
        assert state in body["message"] and "`smol`" in body["message"]
        health = client.get("/health").json()
    assert seen == []
    assert health == {"status": "degraded", "models": {"gpt-sim-1": "ready", "smol": state}}


def test_failed_source_is_502() -> None:
    seen, handler = recorder()
    with one_upstream(handler, state="failed") as client:
        body = assert_openai_error(client.post("/v1/chat/completions", json=CHAT), 502, "bad_gateway")
    assert "`smol`" in body["message"]
    assert seen == []


class PrivateSource(Source):
    """A source that words its server as a supervised engine does, and can tell that its process has died."""

    def __init__(self, *args: Any, dead: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dead = dead

    def confirm_state(self) -> str:
        return "restarting" if self.dead else self.state

    def server_name(self, url: str) -> str:
        return f"llama-server for model `{self.model}`"


def _private(handler: Callable[[httpx.Request], Any], *, dead: bool = False) -> Any:
    return mock_client(handler, lambda relay: [PrivateSource(["http://up:8080"], relay, dead=dead)])


def test_a_refused_connection_to_a_dead_engine_is_503_at_once() -> None:
    """The engine's process is gone but its supervisor has not said so yet: the client hears "restarting"."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with _private(handler, dead=True) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
    body = assert_openai_error(r, 503, "service_unavailable")
    assert r.headers["retry-after"] == "3"
    assert "`smol` is restarting" in body["message"] and "up:8080" not in body["message"]
    assert calls == 1  # a dead process is not asked twice


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), 502, "bad_gateway"),
        (httpx.ReadTimeout("timed out"), 504, "timeout"),
    ],
)
def test_messages_about_a_private_server_never_show_its_url(error: Exception, status: int, code: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    with _private(handler) as client:
        body = assert_openai_error(client.post("/v1/chat/completions", json=CHAT), status, code)
    assert "llama-server for model `smol`" in body["message"]
    assert "up:8080" not in body["message"]


def test_a_private_servers_stream_failure_event_does_not_show_its_url() -> None:
    async def events() -> AsyncIterator[bytes]:
        yield b'data: {"n":1}\n\n'
        raise httpx.ReadError("Connection reset by peer")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=events(), headers={"Content-Type": "text/event-stream"})

    with _private(handler) as client:
        r = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    error = r.content.split(b"\n\n")[1]
    assert b"llama-server for model `smol` failed while streaming" in error
    assert b"up:8080" not in error


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
    with serving(upstream) as up, serving(app_with([Source([up], Relay())])) as proxy:
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


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)


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
                _read_request(conn)  # all of it: closing with bytes unread would reset, not close, the connection
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
        with serving(app_with([Source([url], Relay())])) as proxy:
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
            serving(app_with([Source([url], Relay())])) as proxy,
            pytest.raises(httpx.RemoteProtocolError),  # never a complete-looking 200
        ):
            httpx.post(f"{proxy}/v1/chat/completions", json=CHAT, timeout=10)
    finally:
        close()
    assert len(accepted) == 1  # it had started answering: not retried


@pytest.mark.parametrize(
    "head",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: {}\n\n"],
    ids=["before-the-head", "mid-stream"],
)
def test_a_stalled_upstream_times_out_and_nothing_is_left_behind(head: bytes) -> None:
    """An upstream that accepts and then sends nothing (more): 504 before the head, the endpoint's error event
    after it; either way once, after the read timeout, with the upstream connection closed and no task left."""

    async def scenario() -> tuple[httpx.Response, float, int]:
        accepted = 0
        closed = asyncio.Event()

        async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            head_lines = (await reader.readuntil(b"\r\n\r\n")).lower().split(b"\r\n")
            length = next(int(line.split(b":")[1]) for line in head_lines if line.startswith(b"content-length:"))
            await reader.readexactly(length)
            writer.write(head)
            while await reader.read(65536):  # until the relay closes its end
                pass
            closed.set()
            writer.close()

        server = await asyncio.start_server(stall, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        source = Source([f"http://127.0.0.1:{port}"], Relay(RelaySettings(read_timeout=0.5)))
        transport = httpx.ASGITransport(app=app_with([source]))
        async with source.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            started = time.monotonic()
            r = await client.post("/v1/chat/completions", json={**CHAT, "stream": bool(head)})
            took = time.monotonic() - started
            await asyncio.wait_for(closed.wait(), 5)  # closed by the relay, not by the pool closing below
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0)
        assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()
        return r, took, accepted

    r, took, accepted = asyncio.run(scenario())
    assert 0.5 <= took < 5
    assert accepted == 1  # a timeout is not retried: the upstream may still be working on the request
    if not head:
        body = assert_openai_error(r, 504, "timeout")
        assert "`smol`" in body["message"] and "0.5 s" in body["message"] and "--request-timeout" in body["message"]
    else:
        assert r.status_code == 200
        last = r.content.split(b"\n\n")[-2]
        assert last.startswith(b'data: {"error":') and b"ReadTimeout" in last
