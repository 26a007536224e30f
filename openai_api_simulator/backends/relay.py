"""Relaying a request to an OpenAI-compatible server: one shared connection pool, bytes passed as they come.

Both relayed backends (a supervised engine, a remote `--upstream`) forward through a `Relay`: the body as the
client sent it, the source's own API key instead of the client's, and the answer relayed byte for byte as it
arrives (no buffering: SSE tokens reach the client as the server writes them).

Failures, in the OpenAI error shape::

    source starting / restarting / stopping / stopped   503 service_unavailable, Retry-After
    source failed                                       502 bad_gateway
    connection refused, dropped before answering        retried (next URL / fresh connection), then 502 bad_gateway
    no answer within the read timeout                   504 timeout
    an error answer (4xx/5xx) from the upstream         passed through as it is
    the upstream dies mid-stream                        the endpoint's error event (at an event boundary), else a cut

A client that disconnects from a stream closes the upstream response: that is how llama-server learns to stop
generating.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Protocol

import anyio
import httpx
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from openai_api_simulator.backends.base import NOT_READY_STATES, ModelCard, ModelRequest, ModelStatus
from openai_api_simulator.errors import APIError, for_status

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
# Request headers passed upstream. Never `authorization`: the upstream gets the source's own key.
_FORWARDED_REQUEST_HEADERS: Final = frozenset({b"accept", b"user-agent"})
_SSE_HEADERS: Final = ((b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"))


class Source(Protocol):
    """Where a relayed model is served: its state, the base URLs to try, the key they expect."""

    @property
    def state(self) -> str:
        """One of "ready", "starting", "restarting", "stopping", "stopped", "failed"."""
        ...

    def urls(self) -> Sequence[str]:
        """Base URLs without /v1 (e.g. ["http://127.0.0.1:41234"]), ready ones, in the order to try them."""
        ...

    @property
    def api_key(self) -> str | None:
        """Sent upstream as `Authorization: Bearer KEY`, replacing the client's header."""
        ...

    @property
    def retry_after(self) -> float:
        """Seconds, sent as Retry-After with the 503 answered while the source is not ready."""
        ...

    def mark_down(self, url: str) -> None:
        """`url` refused a connection (a balancing source skips it for a while)."""
        ...

    def mark_up(self, url: str) -> None:
        """`url` answered."""
        ...


@dataclass(frozen=True)
class RelaySettings:
    connect_timeout: float = 5.0
    read_timeout: float | None = 600.0  # generation can be slow; None = no limit
    write_timeout: float | None = 60.0  # sending the request body upstream
    # llama-server closes idle keep-alive connections after 5 s; reusing one about to close risks a drop.
    keepalive_expiry: float = 4.0
    # Tests inject `httpx.MockTransport(handler)` here; None = real connections.
    transport: httpx.AsyncBaseTransport | None = field(default=None, compare=False)

    def timeouts(self) -> dict[str, float | None]:
        """The per-request timeouts, as httpx transports read them from `request.extensions["timeout"]`."""
        # pool=None: the pool has no connection cap, so nothing ever waits for a connection.
        return {"connect": self.connect_timeout, "read": self.read_timeout, "write": self.write_timeout, "pool": None}

    def open_transport(self) -> httpx.AsyncBaseTransport:
        """The connection pool shared by every upstream request (or the injected test transport)."""
        if self.transport is not None:
            return self.transport
        # No connection cap: a stream holds its connection for its whole length, and a cap would make the
        # next request wait for a stream to end.
        limits = httpx.Limits(
            max_connections=None, max_keepalive_connections=64, keepalive_expiry=self.keepalive_expiry
        )
        return httpx.AsyncHTTPTransport(limits=limits)


@lru_cache(maxsize=256)
def _target(base: str, endpoint: str) -> httpx.URL:
    """An endpoint's upstream URL, parsed once (httpx's URL parsing is a visible part of a request's cost)."""
    return httpx.URL(f"{base}/v1/{endpoint}")


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


def upstream_headers(client_headers: Sequence[tuple[bytes, bytes]], api_key: str | None) -> list[tuple[bytes, bytes]]:
    """The headers sent upstream: JSON, what the client accepts, the source's key (never the client's)."""
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    # The bytes are relayed as they come, so the upstream may compress only as the client itself accepts.
    encoding = b"identity"
    for name, value in client_headers:
        if name in _FORWARDED_REQUEST_HEADERS:
            headers.append((name, value))
        elif name == b"accept-encoding":
            encoding = value
    headers.append((b"accept-encoding", encoding))
    if api_key:
        headers.append((b"authorization", b"Bearer " + api_key.encode()))
    return headers


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


class _RelayedAnswer(Response):
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


class _RelayedStream(StreamingResponse):
    """Relays an event stream chunk by chunk as it arrives, and always closes the upstream: at the end, on
    an upstream failure, and when the client disconnects (Starlette's disconnect listener cancels the relay)."""

    def __init__(
        self,
        upstream: httpx.Response,
        raw_headers: list[tuple[bytes, bytes]],
        failure_event: Callable[[Exception], bytes],
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


class Relay:
    """Forwards model requests to the URLs of a `Source` over one connection pool, shared by every backend
    that relays through it; the pool is open while at least one of them is inside `lifespan()`."""

    def __init__(self, settings: RelaySettings | None = None) -> None:
        self.settings = settings or RelaySettings()
        self.timeouts = self.settings.timeouts()
        self._transport: httpx.AsyncBaseTransport | None = None
        self._users = 0

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        if self._users == 0:
            self._transport = self.settings.open_transport()
            await self._transport.__aenter__()
        self._users += 1
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0 and self._transport is not None:
                transport, self._transport = self._transport, None
                await transport.__aexit__(None, None, None)

    async def forward(self, request: ModelRequest, source: Source) -> Response:
        """The upstream's answer to `request` as a response to relay; an `APIError` when there is none."""
        urls = list(source.urls()) if source.state not in NOT_READY_STATES else []
        if not urls:
            raise unavailable(request.model, source)
        headers = upstream_headers(request.headers.raw, source.api_key)
        upstream, url = await self._open(request, source, urls, headers)
        raw_headers, content_type = _response_headers(upstream)
        if not _is_sse(content_type):
            return _RelayedAnswer(upstream, raw_headers)
        raw_headers.extend(_SSE_HEADERS)
        return _RelayedStream(upstream, raw_headers, self._failure_event(request, url))

    async def _open(
        self, request: ModelRequest, source: Source, urls: list[str], headers: list[tuple[bytes, bytes]]
    ) -> tuple[httpx.Response, str]:
        """Send the request and wait for the answer's head, retrying a request that was never answered.

        Sent on the shared pool's transport directly, not through an `httpx.AsyncClient`: a relay wants none
        of a client's cookie jar (one user's cookies would ride on the next user's request), redirects or auth
        flows, and skipping them takes about a sixth off the relay's own time per request.
        """
        transport = self._transport
        if transport is None:
            raise RuntimeError("the relay is not open: serve the app with lifespan events on")
        model = request.model
        attempts = max(2, len(urls))  # a second chance on a fresh connection, or each URL once
        for attempt in range(attempts):
            url = urls[attempt % len(urls)]
            target = _target(url, request.endpoint.name)
            if request.query:
                target = target.copy_with(query=request.query)
            upstream_request = httpx.Request("POST", target, content=request.raw, headers=headers)
            upstream_request.extensions["timeout"] = self.timeouts
            try:
                upstream = await transport.handle_async_request(upstream_request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Never reached the server: skip this URL for a while and try the next.
                source.mark_down(url)
                failure: Exception = exc
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                # Reached it, never answered (llama-server drops some reused keep-alive connections): the pool
                # has discarded that connection, so the retry goes out on another.
                failure = exc
            except httpx.TimeoutException as exc:
                raise self._timeout(model, url, exc) from None
            except httpx.HTTPError as exc:
                raise bad_gateway(model, url, exc) from None
            else:
                upstream.request = upstream_request
                source.mark_up(url)
                return upstream, url
            log.info(
                "%s for %s did not answer: %s (attempt %d of %d)", url, model, describe(failure), attempt + 1, attempts
            )
        if source.state in NOT_READY_STATES:  # it went down meanwhile and is coming back
            raise unavailable(model, source)
        if isinstance(failure, httpx.TimeoutException):
            raise self._timeout(model, url, failure)
        raise bad_gateway(model, url, failure)

    def _timeout(self, model: str, url: str, exc: Exception) -> APIError:
        log.warning("%s for %s timed out: %s", url, model, describe(exc))
        if isinstance(exc, httpx.ConnectTimeout):
            limit = f"could not be reached within {self.settings.connect_timeout:g} s"
        else:
            limit = f"did not answer within {self.settings.read_timeout:g} s"
        return for_status(504, f"The server for model `{model}` at {url} {limit}.")

    @staticmethod
    def _failure_event(request: ModelRequest, url: str) -> Callable[[Exception], bytes]:
        """The last event of a stream whose upstream failed, in the endpoint's own stream form."""

        def event(exc: Exception) -> bytes:
            message = f"The server for model `{request.model}` at {url} failed while streaming: {describe(exc)}."
            return request.endpoint.stream_error(message, "bad_gateway")

        return event


def unavailable(model: str, source: Source) -> APIError:
    """503 with Retry-After while the source is on its way (back) up; 502 once it has failed."""
    state = source.state
    if state == "failed":
        return for_status(502, f"The model `{model}` is not available: its server has failed.")
    seconds = max(1, math.ceil(source.retry_after))
    reason = f"is {state}" if state in NOT_READY_STATES else "has no server ready"
    error = for_status(503, f"The model `{model}` {reason}; retry in {seconds} s.")
    error.headers["Retry-After"] = str(seconds)
    return error


def bad_gateway(model: str, url: str, exc: Exception) -> APIError:
    log.warning("%s for %s failed: %s", url, model, describe(exc))
    return for_status(502, f"The server for model `{model}` at {url} did not answer: {describe(exc)}.")


class RelayedBackend(ABC):
    """What the two relayed backends share: one model id with its card and status, requests relayed to the
    backend itself as the `Source`. Subclasses say where the model is served (`state`, `urls`, `api_key`,
    `retry_after`, and `mark_down`/`mark_up` when they balance over several URLs)."""

    def __init__(self, model: str, relay: Relay, *, owned_by: str, created: int | None) -> None:
        self.model = model
        self.relay = relay
        self._card = ModelCard(model, owned_by, int(time.time()) if created is None else created)

    # -- Source

    @property
    @abstractmethod
    def state(self) -> str: ...

    @abstractmethod
    def urls(self) -> Sequence[str]: ...

    @property
    @abstractmethod
    def api_key(self) -> str | None: ...

    @property
    @abstractmethod
    def retry_after(self) -> float: ...

    def mark_down(self, url: str) -> None:  # noqa: B027 - a one-URL backend has no other URL to prefer
        """`url` refused a connection; a backend balancing over several URLs tries it last for a while."""

    def mark_up(self, url: str) -> None:  # noqa: B027
        """`url` answered."""

    # -- Backend

    def models(self) -> Sequence[ModelCard]:
        return (self._card,)

    def status(self, model: str) -> ModelStatus:
        return ModelStatus(self.state, self.retry_after)

    async def handle(self, request: ModelRequest) -> Response:
        return await self.relay.forward(request, self)

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.relay.lifespan():
            yield
