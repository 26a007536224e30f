"""The middleware that observes every HTTP exchange: its request id, its metrics and its access line.

Pure ASGI, with no per-request objects beyond the `Exchange` (which also holds what the wrapped `send` has
seen) and that wrapper: it is on the path of every request, and a memo hit of the fake costs ~15 µs in all.
It watches the messages the app sends:

* ``http.response.start``: the status; the `x-request-id` header is added (one an upstream sent is renamed
  `x-upstream-request-id`, so the id a client sees is the one in this server's log); the content type says
  whether the answer is an event stream and whether its bytes should be scanned for token counts (`usage`);
* ``http.response.body``: the first non-empty chunk of an event stream is its time to first token; chunks are
  scanned for `usage` when no backend reported it (relayed answers, streams).

When the app has finished (answered, failed or been cancelled) the exchange is recorded in `Metrics` and,
with `access_log`, written as an access line.
"""

from __future__ import annotations

from time import perf_counter
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openai_api_simulator.observability import logs, request_id
from openai_api_simulator.observability.exchange import CURRENT, Exchange
from openai_api_simulator.observability.metrics import Metrics
from openai_api_simulator.observability.usage import UsageScanner

# What `exchange.note_model` is told for a request that names no model the server serves.
UNKNOWN_MODEL: Final = "unknown"
_SSE: Final = b"text/event-stream"
_JSON: Final = b"application/json"
_UPSTREAM_ID: Final = b"x-upstream-request-id"


class ObserveMiddleware:
    """Request ids, metrics and access lines for every HTTP request to `app`."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        rid, stamp = request_id.from_headers(scope["headers"])
        exchange = Exchange(rid)

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                if body:
                    if exchange.stream and not exchange.first_chunk:
                        exchange.first_chunk = perf_counter()
                    if exchange.scanner is not None:
                        exchange.scanner.feed(body)
            elif message["type"] == "http.response.start":
                exchange.status = status = message["status"]
                headers = message.get("headers") or ()
                content_type = b""
                encoding = b"identity"
                relayed_id = False
                for name, value in headers:
                    if name == b"content-type":
                        content_type = value
                    elif name == b"content-encoding":
                        encoding = value
                    elif name == request_id.HEADER:
                        relayed_id = True
                if relayed_id:  # an upstream's: kept under another name, ours is the one in this server's log
                    headers = [(_UPSTREAM_ID if name == request_id.HEADER else name, v) for name, v in headers]
                message["headers"] = [*headers, (request_id.HEADER, stamp)]
                exchange.stream = stream = content_type.startswith(_SSE)
                model = exchange.model
                scan = stream or (exchange.usage is None and content_type.startswith(_JSON))
                plain = encoding == b"identity"  # compressed bytes cannot be scanned
                if scan and status == 200 and plain and model and model != UNKNOWN_MODEL:
                    exchange.scanner = UsageScanner()
            await send(message)

        token = CURRENT.set(exchange)
        try:
            await self.app(scope, receive, observed)
        finally:
            CURRENT.reset(token)
            duration = perf_counter() - started
            usage = exchange.usage
            if usage is None and exchange.scanner is not None:
                usage = exchange.scanner.usage
            path = scope["path"]
            first_chunk = exchange.first_chunk
            status = exchange.status
            self.metrics.record(
                path, exchange.model, status, duration, first_chunk - started if first_chunk else None, usage
            )
            if self.access_log:
                client = scope.get("client")
                logs.access(
                    request_id=exchange.request_id,
                    method=scope["method"],
                    path=path,
                    status=status,
                    duration=duration,
                    model=exchange.model,
                    client=f"{client[0]}:{client[1]}" if client else None,
                )
