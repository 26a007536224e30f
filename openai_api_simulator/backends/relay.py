"""Relaying a request to an OpenAI-compatible server: one shared connection pool, bytes passed as they come.

Both relayed backends (a supervised engine, a remote `--upstream`) forward through a `Relay`: the body as the
client sent it, the source's own API key instead of the client's, and the answer relayed byte for byte as it
arrives (no buffering: SSE tokens reach the client as the server writes them; `answers` does the relaying).

Failures, in the OpenAI error shape::

    source starting / restarting / stopping / stopped   503 service_unavailable, Retry-After
    source failed                                       502 bad_gateway
    connection refused, dropped before answering        retried (next URL / fresh connection), then 502 bad_gateway
      ... by an engine whose process has died           503 at once, as "restarting" (its supervisor is about to say so)
    no answer within the read timeout                   504 timeout
    an error answer (4xx/5xx) from the upstream         passed through as it is
    the upstream dies mid-stream                        the endpoint's error event (at an event boundary), else a cut

Messages name the model and where it is served as the source words it (`Source.server_name`): a remote's URL is
the user's own configuration, a supervised engine's private port and key are never shown to clients (the log
has them).

A client that disconnects, streaming or not, cancels its upstream request and closes the connection: that is
how llama-server learns to stop generating.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Protocol

import httpx
from starlette.responses import Response

from openai_api_simulator.backends.answers import (
    FailureEvent,
    PendingAnswer,
    RelayedAnswer,
    RelayedStream,
    answer_for,
    describe,
)
from openai_api_simulator.backends.base import NOT_READY_STATES, ModelCard, ModelRequest, ModelStatus
from openai_api_simulator.errors import APIError, for_status

log = logging.getLogger("openai_api_simulator.relay")

# Request headers passed upstream. Never `authorization` (nor `x-api-key`): the upstream gets the source's own
# key. The Anthropic version and beta headers say which Messages API the client speaks, for an upstream that
# reads them.
_FORWARDED_REQUEST_HEADERS: Final = frozenset({b"accept", b"user-agent", b"anthropic-version", b"anthropic-beta"})


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

    def confirm_state(self) -> str:
        """The state, asked afresh after a URL failed to answer.

        A supervised engine asks the OS whether its process still runs: its supervisor learns of an exit a
        moment later, and until then a refused connection would pass for a 502 from a server that is in fact
        about to restart.
        """
        ...

    def server_name(self, url: str) -> str:
        """What client-facing messages call the server at `url`: "server for model `m` at URL" for a remote,
        "llama-server for model `m`" for a supervised engine (whose private port is nobody's business)."""
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
        """The response that relays the upstream's answer to `request`; an `APIError` when it cannot be sent.

        The request goes out when the app sends the response (`PendingAnswer`), which watches the client's
        connection while the upstream works on the answer.
        """
        urls = list(source.urls()) if source.state not in NOT_READY_STATES else []
        if not urls:
            raise unavailable(request.model, source)
        headers = upstream_headers(request.headers.raw, source.api_key)

        async def open_answer() -> RelayedAnswer | RelayedStream:
            upstream, url = await self._open(request, source, urls, headers)
            return answer_for(upstream, self._failure_event(request, source, url))

        return PendingAnswer(open_answer, request.model)

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
                raise self._timeout(model, source, url, exc) from None
            except httpx.HTTPError as exc:
                raise bad_gateway(model, source, url, exc) from None
            else:
                upstream.request = upstream_request
                source.mark_up(url)
                return upstream, url
            log.info(
                "%s for %s did not answer: %s (attempt %d of %d)", url, model, describe(failure), attempt + 1, attempts
            )
            state = source.confirm_state()
            if state in NOT_READY_STATES:  # it went down (an engine that died) and is coming back: no use retrying
                raise unavailable(model, source, state)
        if isinstance(failure, httpx.TimeoutException):
            raise self._timeout(model, source, url, failure)
        raise bad_gateway(model, source, url, failure)

    def _timeout(self, model: str, source: Source, url: str, exc: Exception) -> APIError:
        log.warning("%s for %s timed out: %s", url, model, describe(exc))
        if isinstance(exc, httpx.ConnectTimeout):
            limit = f"could not be reached within {self.settings.connect_timeout:g} s"
        else:
            limit = f"did not answer within {self.settings.read_timeout:g} s (the limit is --request-timeout)"
        return for_status(504, f"The {source.server_name(url)} {limit}.")

    @staticmethod
    def _failure_event(request: ModelRequest, source: Source, url: str) -> FailureEvent:
        """The last event of a stream whose upstream failed, in the endpoint's own stream form."""
        name = source.server_name(url)

        def event(exc: Exception) -> bytes:
            message = f"The {name} failed while streaming: {describe(exc)}."
            return request.endpoint.stream_error(message, "bad_gateway")

        return event


def unavailable(model: str, source: Source, state: str | None = None) -> APIError:
    """503 with Retry-After while the source is on its way (back) up; 502 once it has failed.

    `state` is the source's state when the caller knows better than `source.state` (see `confirm_state`).
    """
    state = state or source.state
    if state == "failed":
        return for_status(502, f"The model `{model}` is not available: its server has failed.")
    seconds = max(1, math.ceil(source.retry_after))
    reason = f"is {state}" if state in NOT_READY_STATES else "has no server ready"
    error = for_status(503, f"The model `{model}` {reason}; retry in {seconds} s.")
    error.headers["Retry-After"] = str(seconds)
    return error


def bad_gateway(model: str, source: Source, url: str, exc: Exception) -> APIError:
    log.warning("%s for %s failed: %s", url, model, describe(exc))
    return for_status(502, f"The {source.server_name(url)} did not answer: {describe(exc)}.")


class RelayedBackend(ABC):
    """What the two relayed backends share: one model id with its card and status, requests relayed to the
    backend itself as the `Source`. Subclasses say where the model is served (`state`, `urls`, `api_key`,
    `retry_after`; `mark_down`/`mark_up` when they balance over several URLs; `confirm_state` and
    `server_name` when they know more about their server than its URL)."""

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

    def confirm_state(self) -> str:
        """The state after a URL failed to answer: a backend that cannot look closer has nothing to add."""
        return self.state

    def server_name(self, url: str) -> str:
        return f"server for model `{self.model}` at {url}"

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
