"""Relaying an upstream's answer to the client: bytes as they come, per-connection headers dropped, and the
upstream request closed whenever the client goes.

`PendingAnswer` is what a relay hands the app: the request goes upstream only once the app passes it the
client's connection, so that the wait for the answer's head can watch that connection. Then::

    answer's content type     relayed by         a client that disconnects
    text/event-stream         `RelayedStream`    Starlette's disconnect listener cancels the relay
    anything else             `RelayedAnswer`    `cancel_on_disconnect` cancels the relay

and either way the upstream response is closed, which closes its connection: for llama-server, the only sign
that nobody wants the rest of a generation. Waiting for the head is covered too (a non-streamed answer has no
head until the generation is complete).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import anyio
import httpx
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from openai_api_simulator.backends.disconnect import cancel_on_disconnect

log = logging.getLogger("openai_api_simulator.relay")

# Response headers that describe one connection, not the answer (RFC 9110 §7.6.1), the framing that uvicorn
# redoes for the client's connection, and the upstream's identity.
_DROPPED_HEADERS: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"server",
        b"date",
    }
)
_SSE_HEADERS: Final = ((b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"))

# The last event of a stream whose upstream failed, in the endpoint's own stream form.
FailureEvent = Callable[[Exception], bytes]


def describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{text} ({type(exc).__name__})" if text else type(exc).__name__


def _is_sse(content_type: bytes) -> bool:
    return content_type.split(b";", 1)[0].strip().lower() == b"text/event-stream"


def _response_headers(upstream: httpx.Response) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The upstream's headers worth relaying (lower-case names, repeats kept), and its content type."""
    raw = [(name.lower(), value) for name, value in upstream.headers.raw]
    dropped: set[bytes] = set(_DROPPED_HEADERS)
    content_type = b""
    for name, value in raw:
        if name == b"connection":  # it may name more per-connection headers
            dropped.update(token.strip().lower() for token in value.split(b","))
        elif name == b"content-type":
            content_type = value
    if _is_sse(content_type):
        dropped.update(name for name, _ in _SSE_HEADERS)  # set below, once
    return [(name, value) for name, value in raw if name not in dropped], content_type


async def _already_read(content: bytes) -> AsyncIterator[bytes]:
    yield content


def _chunks(upstream: httpx.Response) -> AsyncIterator[bytes]:
    # A response already read (only `httpx.MockTransport` hands those out) is relayed from memory.
    return _already_read(upstream.content) if upstream.is_stream_consumed else upstream.aiter_raw()


async def _close(upstream: httpx.Response, chunks: AsyncIterator[bytes]) -> None:
    """Close the upstream answer even while being cancelled (which is how a client's disconnect arrives)."""
    with anyio.CancelScope(shield=True):
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        await upstream.aclose()


class RelayedAnswer(Response):
    """Relays an answer that is not an event stream, as it arrives.

    A sized answer (Content-Length: a JSON document, of no use until complete) is relayed one chunk behind,
    so that the last chunk carries the end of the body: one write fewer, which shows in the latency of short
    answers. Any other is relayed chunk by chunk.
    """

    def __init__(self, upstream: httpx.Response, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.upstream = upstream
        self.status_code = upstream.status_code
        self.raw_headers = raw_headers
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upstream = self.upstream
        chunks = _chunks(upstream)
        behind = "content-length" in upstream.headers
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            pending = b""
            try:
                async for chunk in chunks:
                    if pending:
                        await send({"type": "http.response.body", "body": pending, "more_body": True})
                    pending = chunk
                    if not behind:
                        await send({"type": "http.response.body", "body": pending, "more_body": True})
                        pending = b""
            except httpx.HTTPError as exc:
                log.warning("upstream %s failed mid-answer: %s", upstream.request.url, describe(exc))
                return  # without ending the body: the client sees a cut answer, not a complete-looking one
            await send({"type": "http.response.body", "body": pending, "more_body": False})
        finally:
            await _close(upstream, chunks)


class RelayedStream(StreamingResponse):
    """Relays an event stream chunk by chunk as it arrives, and always closes the upstream: at the end, on
    an upstream failure, and when the client disconnects (Starlette's disconnect listener cancels the relay)."""

    def __init__(
        self, upstream: httpx.Response, raw_headers: list[tuple[bytes, bytes]], failure_event: FailureEvent
    ) -> None:
        super().__init__(
            _chunks(upstream), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose)
        )
        self.raw_headers = raw_headers
        self.upstream = upstream
        self.failure_event = failure_event

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # ClientDisconnect: how servers on ASGI spec 2.4 report a client gone; the upstream is closed already.
        with contextlib.suppress(ClientDisconnect):
            await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        chunks = self.body_iterator
        assert isinstance(chunks, AsyncIterator)
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            at_boundary = True  # an error event may only follow a complete event
            try:
                async for chunk in chunks:
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                        at_boundary = chunk.endswith((b"\n\n", b"\r\n\r\n"))
            except httpx.HTTPError as exc:
                log.warning("upstream %s failed mid-stream: %s", self.upstream.request.url, describe(exc))
                if at_boundary:
                    await send({"type": "http.response.body", "body": self.failure_event(exc), "more_body": False})
                return  # else without ending the body: the client sees a cut stream
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await _close(self.upstream, chunks)


def answer_for(upstream: httpx.Response, failure_event: FailureEvent) -> RelayedAnswer | RelayedStream:
    """The response that relays `upstream`'s answer: a stream for an event stream, else a plain answer."""
    raw_headers, content_type = _response_headers(upstream)
    if not _is_sse(content_type):
        return RelayedAnswer(upstream, raw_headers)
    raw_headers.extend(_SSE_HEADERS)
    return RelayedStream(upstream, raw_headers, failure_event)


class PendingAnswer(Response):
    """The answer to a relayed request, fetched once the app hands over the client's connection.

    `opener` sends the request upstream and returns the response relaying its answer, or raises the `APIError`
    to answer instead (before anything is sent, so the app's error handler answers it). A client that leaves
    meanwhile cancels it; nothing is sent to nobody.
    """

    def __init__(self, opener: Callable[[], Awaitable[RelayedAnswer | RelayedStream]], model: str) -> None:
        self.opener = opener
        self.model = model
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def relay() -> RelayedStream | None:
            answer = await self.opener()
            if isinstance(answer, RelayedStream):
                return answer  # it listens for the disconnect itself, once it has the connection
            await answer(scope, receive, send)
            return None

        try:
            stream = await cancel_on_disconnect(receive, relay)
        except ClientDisconnect:
            log.info("the client for %s left before its answer was complete; the upstream was closed", self.model)
            return
        if stream is not None:
            await stream(scope, receive, send)
