"""Route by model: the fake models in-process, real ones upstream (a supervised llama-server or a remote server).

`create_proxy_app` wraps the fake-model app of `api.app`. For chat, completions, embeddings and responses it
reads the body once; a JSON object whose `model` is an upstream id is forwarded through one shared httpx
connection pool and the answer relayed byte for byte as it arrives (no buffering: SSE tokens reach the
client as llama-server writes them). Everything else — fake models, unknown models, bad JSON, other paths —
goes to the fake app with the body replayed, so its answers and OpenAI-shaped errors stay the only ones.

Failures upstream, in the OpenAI error shape::

    source starting / restarting / stopping / stopped   503 service_unavailable, Retry-After
    source failed                                       502 bad_gateway
    connection refused, dropped before answering        retried (next URL / fresh connection), then 502 bad_gateway
    no answer within the read timeout                   504 timeout
    an error answer (4xx/5xx) from the upstream         passed through as it is
    the upstream dies mid-stream                        an SSE error event (at an event boundary), else a cut stream

A client that disconnects from a stream closes the upstream response: that is how llama-server learns to stop
generating.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

import anyio
import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openai_api_simulator.api.app import MODEL_CREATED, OWNER, APIKeyMiddleware, create_app, unexpected_error
from openai_api_simulator.api.http import JSONBytes, dumps, error_response
from openai_api_simulator.config import Settings
from openai_api_simulator.errors import APIError, for_status

__all__ = [
    "NOT_READY_STATES",
    "ProxySettings",
    "ReportsURLHealth",
    "StaticUpstream",
    "UpstreamModel",
    "UpstreamSource",
    "create_proxy_app",
    "normalise_url",
    "parse_upstream_flags",
]

log = logging.getLogger("openai_api_simulator.proxy")

# The POST endpoints routed by the body's `model`; each is served under /v1 and at the root, like the fake's.
ENDPOINTS: Final = ("chat/completions", "completions", "embeddings", "responses")
# States in which a source is expected to come (back) up: its requests get 503 with Retry-After.
NOT_READY_STATES: Final = frozenset({"starting", "restarting", "stopping", "stopped"})
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


class UpstreamSource(Protocol):
    """What the proxy needs from a model served elsewhere (a supervised llama-server or a remote server)."""

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


@runtime_checkable
class ReportsURLHealth(Protocol):
    """Optional for a source: told which URL refused a connection, and which answered."""

    def mark_down(self, url: str) -> None: ...

    def mark_up(self, url: str) -> None: ...


@dataclass(frozen=True)
class UpstreamModel:
    id: str  # the public model id clients send in `model`
    source: UpstreamSource
    owned_by: str = "llama.cpp"
    rewrite_model: str | None = None  # if set, replace the body's `model` with this before forwarding


def normalise_url(url: str) -> str:
    """`http://host:8080/v1/` → `http://host:8080`; ValueError unless it is an absolute http(s) URL."""
    text = url.strip().rstrip("/").removesuffix("/v1").rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not an http:// or https:// base URL (such as http://127.0.0.1:8080/v1)")
    return text


class StaticUpstream:
    """An `UpstreamSource` for `--upstream NAME=URL`: one or more fixed servers, balanced round-robin.

    A URL that refuses a connection is marked down for `down_for` seconds: while another is up it is tried
    only as a last resort. The state is "ready" while any URL is up and "failed" while all are down (they
    are still tried then, so a server that comes back is used at once).
    """

    def __init__(
        self,
        urls: Sequence[str],
        api_key: str | None = None,
        *,
        down_for: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        normalised: list[str] = []
        for url in urls:
            base = normalise_url(url)
            if base not in normalised:
                normalised.append(base)
        if not normalised:
            raise ValueError("StaticUpstream needs at least one URL")
        self._urls: Final = tuple(normalised)
        self._api_key = api_key
        self._down_for = down_for
        self._clock = clock
        self._down_until: dict[str, float] = {}
        self._turn = 0

    @property
    def all_urls(self) -> tuple[str, ...]:
        return self._urls

    @property
    def state(self) -> str:
        now = self._clock()
        return "ready" if any(self._down_until.get(u, 0.0) <= now for u in self._urls) else "failed"

    @property
    def api_key(self) -> str | None:
        return self._api_key

    @property
    def retry_after(self) -> float:
        return self._down_for

    def urls(self) -> list[str]:
        """Up URLs, starting one further on each call (round-robin), then the down ones, soonest back first."""
        now = self._clock()
        up = [u for u in self._urls if self._down_until.get(u, 0.0) <= now]
        down = sorted((u for u in self._urls if u not in up), key=self._down_until.__getitem__)
        turn, self._turn = self._turn, self._turn + 1
        if up:
            start = turn % len(up)
            up = up[start:] + up[:start]
        return up + down

    def mark_down(self, url: str) -> None:
        if url in self._urls:
            self._down_until[url] = self._clock() + self._down_for

    def mark_up(self, url: str) -> None:
        self._down_until.pop(url, None)

    def __repr__(self) -> str:
        return f"StaticUpstream({list(self._urls)!r})"


_FLAG_FORM: Final = "NAME=URL (for example llama3=http://192.168.1.20:8080/v1)"


def parse_upstream_flags(
    values: Sequence[str], *, api_key: str | None = None, owned_by: str = "upstream"
) -> list[UpstreamModel]:
    """`--upstream NAME=URL` values → one model per NAME; a NAME given again adds a URL to balance over."""
    urls: dict[str, list[str]] = {}
    for value in values:
        name, sep, url = value.partition("=")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name) or not url.strip():
            raise ValueError(f"--upstream {value!r}: expected {_FLAG_FORM}")
        try:
            base = normalise_url(url)
        except ValueError as exc:
            raise ValueError(f"--upstream {value!r}: {exc}; expected {_FLAG_FORM}") from None
        found = urls.setdefault(name, [])
        if base not in found:
            found.append(base)
    return [UpstreamModel(name, StaticUpstream(found, api_key), owned_by=owned_by) for name, found in urls.items()]


@dataclass(frozen=True)
class ProxySettings:
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


# ------------------------------------------------------------------------------------------------
# The ASGI side


class _Endpoint:
    """An ASGI callable for a Route (Starlette treats a non-function endpoint as an ASGI app)."""

    def __init__(self, handle: Callable[[Scope, Receive, Send], Coroutine[Any, Any, None]]) -> None:
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handle(scope, receive, send)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that first returns the messages already read, then continues with the client's."""
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


async def _read_body(receive: Receive, max_bytes: int) -> tuple[list[Message], bytes | None]:
    """The messages read and the whole body; None when it is over `max_bytes` or the client left."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return messages, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _describe(exc: Exception) -> str:
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


async def _relay(upstream: httpx.Response, raw_headers: list[tuple[bytes, bytes]], send: Send) -> None:
    """Relay an answer that is not an event stream, as it arrives.

    A sized answer (Content-Length: a JSON document, of no use until complete) is relayed one chunk behind,
    so that the last chunk carries the end of the body: one write fewer, which shows in the latency of short
    answers. Any other is relayed chunk by chunk.
    """
    chunks = _chunks(upstream)
    behind = "content-length" in upstream.headers
    try:
        await send({"type": "http.response.start", "status": upstream.status_code, "headers": raw_headers})
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
            log.warning("upstream %s failed mid-answer: %s", upstream.request.url, _describe(exc))
            return  # without ending the body: the client sees a cut answer, not a complete-looking one
        await send({"type": "http.response.body", "body": pending, "more_body": False})
    finally:
        await _close(upstream, chunks)


class _UpstreamStream(StreamingResponse):
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
                log.warning("upstream %s failed mid-stream: %s", self.upstream.request.url, _describe(exc))
                if at_boundary:
                    await send({"type": "http.response.body", "body": self.failure_event(exc), "more_body": False})
                return  # else without ending the body: the client sees a cut stream
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await _close(self.upstream, chunks)


class _Proxy:
    def __init__(self, settings: Settings, upstreams: Sequence[UpstreamModel], proxy: ProxySettings) -> None:
        self.settings = settings
        self.proxy = proxy
        self.upstreams: dict[str, UpstreamModel] = {}
        for model in upstreams:
            if model.id in settings.fake_models:
                raise ValueError(f"model id {model.id!r} is both a fake model and an upstream model")
            if model.id in self.upstreams:
                raise ValueError(f"model id {model.id!r} is given for two upstreams")
            self.upstreams[model.id] = model
        # The fake app without its own key check: the proxy app checks the key once, for every route.
        self.fake: ASGIApp = create_app(replace(settings, api_key=None))
        self.created = settings.fixed_created if settings.fixed_created is not None else int(time.time())
        self.timeouts = proxy.timeouts()
        self.transport: httpx.AsyncBaseTransport | None = None

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self.proxy.open_transport() as transport:
            self.transport = transport
            try:
                yield
            finally:
                self.transport = None

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/health", _Endpoint(self.health), methods=["GET"])]
        for prefix in ("/v1", ""):
            for endpoint in ENDPOINTS:
                routes.append(Route(f"{prefix}/{endpoint}", _Endpoint(self.route_by_model(endpoint)), methods=["POST"]))
            routes.append(Route(f"{prefix}/models", _Endpoint(self.list_models), methods=["GET"]))
            routes.append(Route(f"{prefix}/models/{{model_id:path}}", _Endpoint(self.get_model), methods=["GET"]))
        routes.append(Mount("", app=self.fake))  # everything else: the fake app's answers and errors
        return routes

    # -- models and health

    def _model_object(self, model_id: str) -> dict[str, Any]:
        upstream = self.upstreams.get(model_id)
        if upstream is None:
            return {"id": model_id, "object": "model", "created": MODEL_CREATED, "owned_by": OWNER}
        return {"id": model_id, "object": "model", "created": self.created, "owned_by": upstream.owned_by}

    async def list_models(self, scope: Scope, receive: Receive, send: Send) -> None:
        ids = [*self.settings.fake_models, *self.upstreams]
        await JSONBytes({"object": "list", "data": [self._model_object(m) for m in ids]})(scope, receive, send)

    async def get_model(self, scope: Scope, receive: Receive, send: Send) -> None:
        model_id = scope["path_params"]["model_id"]
        if model_id in self.upstreams:
            await JSONBytes(self._model_object(model_id))(scope, receive, send)
        else:
            await self.fake(scope, receive, send)

    async def health(self, scope: Scope, receive: Receive, send: Send) -> None:
        states = {m: "ready" for m in self.settings.fake_models}
        states.update({m.id: m.source.state for m in self.upstreams.values()})
        status = "ok" if all(s == "ready" for s in states.values()) else "degraded"
        await JSONBytes({"status": status, "models": states})(scope, receive, send)

    # -- routing by model

    def route_by_model(self, endpoint: str) -> Callable[[Scope, Receive, Send], Coroutine[Any, Any, None]]:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            declared = _declared_length(scope)
            if declared is not None and declared > self.settings.max_body_bytes:
                await self.fake(scope, receive, send)  # it answers 413 without reading the body
                return
            messages, raw = await _read_body(receive, self.settings.max_body_bytes)
            body = _parse(raw) if raw is not None else None
            model = body.get("model") if body is not None else None
            upstream = self.upstreams.get(model) if isinstance(model, str) else None
            if upstream is None or raw is None or body is None:
                # The fake app reads the body again and gives every other answer: fake models, unknown
                # models, invalid JSON, 413 past the limit (it hits the same limit at the same byte).
                await self.fake(scope, _replaying(messages, receive), send)
                return
            try:
                await self.forward(scope, receive, send, endpoint, upstream, raw, body)
            except APIError as error:
                await error_response(error)(scope, receive, send)

        return handle

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        endpoint: str,
        model: UpstreamModel,
        raw: bytes,
        body: dict[str, Any],
    ) -> None:
        source = model.source
        urls = list(source.urls()) if source.state not in NOT_READY_STATES else []
        if not urls:
            raise self._unavailable(model)
        content = raw if model.rewrite_model is None else dumps({**body, "model": model.rewrite_model})
        headers = self._upstream_headers(scope, source.api_key)
        upstream, url = await self._open(model, urls, endpoint, scope.get("query_string", b""), content, headers)
        raw_headers, content_type = _response_headers(upstream)
        if not _is_sse(content_type):
            await _relay(upstream, raw_headers, send)
            return
        raw_headers.extend(_SSE_HEADERS)
        failure_event = self._failure_event(endpoint, model, url)
        # ClientDisconnect: how servers on ASGI spec 2.4 report a client gone; the upstream is closed already.
        with contextlib.suppress(ClientDisconnect):
            await _UpstreamStream(upstream, raw_headers, failure_event)(scope, receive, send)

    async def _open(
        self,
        model: UpstreamModel,
        urls: list[str],
        endpoint: str,
        query: bytes,
        content: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> tuple[httpx.Response, str]:
        """Send the request and wait for the answer's head, retrying a request that was never answered.

        Sent on the shared pool's transport directly, not through an `httpx.AsyncClient`: a proxy wants none
        of a client's cookie jar (one user's cookies would ride on the next user's request), redirects or auth
        flows, and skipping them takes about a sixth off the proxy's own time per request.
        """
        transport = self.transport
        if transport is None:
            raise RuntimeError("the proxy app's lifespan has not run (serve it with lifespan events on)")
        source = model.source
        reporter = source if isinstance(source, ReportsURLHealth) else None
        attempts = max(2, len(urls))  # a second chance on a fresh connection, or each URL once
        for attempt in range(attempts):
            url = urls[attempt % len(urls)]
            target = _target(url, endpoint)
            if query:
                target = target.copy_with(query=query)
            request = httpx.Request("POST", target, content=content, headers=headers)
            request.extensions["timeout"] = self.timeouts
            try:
                upstream = await transport.handle_async_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Never reached the server: skip this URL for a while and try the next.
                if reporter is not None:
                    reporter.mark_down(url)
                failure: Exception = exc
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                # Reached it, never answered (llama-server drops some reused keep-alive connections): the pool
                # has discarded that connection, so the retry goes out on another.
                failure = exc
            except httpx.TimeoutException as exc:
                raise self._timeout(model, url, exc) from None
            except httpx.HTTPError as exc:
                raise self._bad_gateway(model, url, exc) from None
            else:
                upstream.request = request
                if reporter is not None:
                    reporter.mark_up(url)
                return upstream, url
            log.info(
                "%s for %s did not answer: %s (attempt %d of %d)",
                url,
                model.id,
                _describe(failure),
                attempt + 1,
                attempts,
            )
        if source.state in NOT_READY_STATES:  # it went down meanwhile and is coming back
            raise self._unavailable(model)
        if isinstance(failure, httpx.TimeoutException):
            raise self._timeout(model, url, failure)
        raise self._bad_gateway(model, url, failure)

    @staticmethod
    def _upstream_headers(scope: Scope, api_key: str | None) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
        # The bytes are relayed as they come, so the upstream may compress only as the client itself accepts.
        encoding = b"identity"
        for name, value in scope["headers"]:
            if name in _FORWARDED_REQUEST_HEADERS:
                headers.append((name, value))
            elif name == b"accept-encoding":
                encoding = value
        headers.append((b"accept-encoding", encoding))
        if api_key:
            headers.append((b"authorization", b"Bearer " + api_key.encode()))
        return headers

    # -- errors

    @staticmethod
    def _unavailable(model: UpstreamModel) -> APIError:
        """503 with Retry-After while the source is on its way (back) up; 502 once it has failed."""
        state = model.source.state
        if state == "failed":
            return for_status(502, f"The model `{model.id}` is not available: its server has failed.")
        seconds = max(1, math.ceil(model.source.retry_after))
        reason = f"is {state}" if state in NOT_READY_STATES else "has no server ready"
        error = for_status(503, f"The model `{model.id}` {reason}; retry in {seconds} s.")
        error.headers["Retry-After"] = str(seconds)
        return error

    @staticmethod
    def _bad_gateway(model: UpstreamModel, url: str, exc: Exception) -> APIError:
        log.warning("%s for %s failed: %s", url, model.id, _describe(exc))
        return for_status(502, f"The server for model `{model.id}` at {url} did not answer: {_describe(exc)}.")

    def _timeout(self, model: UpstreamModel, url: str, exc: Exception) -> APIError:
        log.warning("%s for %s timed out: %s", url, model.id, _describe(exc))
        if isinstance(exc, httpx.ConnectTimeout):
            limit = f"could not be reached within {self.proxy.connect_timeout:g} s"
        else:
            limit = f"did not answer within {self.proxy.read_timeout:g} s"
        return for_status(504, f"The server for model `{model.id}` at {url} {limit}.")

    @staticmethod
    def _failure_event(endpoint: str, model: UpstreamModel, url: str) -> Callable[[Exception], bytes]:
        """The last event of a stream whose upstream failed: what the SDKs raise as an APIError."""

        def event(exc: Exception) -> bytes:
            message = f"The server for model `{model.id}` at {url} failed while streaming: {_describe(exc)}."
            if endpoint == "responses":
                error = {"type": "error", "code": "bad_gateway", "message": message, "param": None}
                return b"event: error\ndata: " + dumps(error) + b"\n\n"
            body = {"error": {"message": message, "type": "server_error", "param": None, "code": "bad_gateway"}}
            return b"data: " + dumps(body) + b"\n\n"

        return event


def create_proxy_app(
    settings: Settings, upstreams: Sequence[UpstreamModel], proxy: ProxySettings = ProxySettings()
) -> Starlette:
    """The public app: the fake models as `api.app.create_app(settings)` serves them, plus `upstreams`.

    Serve it with lifespan events on (uvicorn's default): the lifespan opens and closes the connection pool.
    Raises ValueError when two models share an id.
    """
    state = _Proxy(settings, upstreams, proxy)
    # Unexpected errors in the proxy's own routes answer in the OpenAI shape, like the fake app's.
    app = Starlette(routes=state.routes(), lifespan=state.lifespan, exception_handlers={Exception: unexpected_error})
    app.state.proxy = state
    if settings.api_key:
        app.add_middleware(APIKeyMiddleware, key=settings.api_key)
    return app
