"""The middleware that observes every HTTP exchange: its request id, its metrics and its access line.

Pure ASGI, with nothing made per request but the wrapped `send` and one small list in the scope (where the app
notes the model, `context.note_model`): it is on the path of every request, and a memo hit of the fake costs
~15 µs in all. It watches the messages the app sends:

* ``http.response.start``: the status; the `x-request-id` header is added (one an upstream sent is renamed
  `x-upstream-request-id`, so the id a client sees is the one in this server's log); the content type says
  whether the answer is an event stream, and whether its bytes are scanned for token counts (`usage`): those
  of event streams and of JSON answers from backends that do not count their own (`metrics.CountsTokens`);
* ``http.response.body``: the first non-empty chunk of an event stream is its time to first token.

When the app has finished (answered, failed or been cancelled) the exchange is recorded in `Metrics` and,
with `access_log`, written as an access line.
"""

from __future__ import annotations

from time import perf_counter
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openai_api_simulator.observability import logs, request_id
from openai_api_simulator.observability.context import MODEL_KEY, REQUEST_ID, REQUEST_ID_KEY, UNKNOWN_MODEL
from openai_api_simulator.observability.metrics import Metrics
from openai_api_simulator.observability.usage import UsageScanner

_SSE: Final = b"text/event-stream"
_JSON: Final = b"application/json"
_UPSTREAM_ID: Final = b"x-upstream-request-id"


class ObserveMiddleware:
    """Request ids, metrics and access lines for every HTTP request to `app`.

    `log_context`: set the request id for log records (`context.REQUEST_ID`), for JSON logs; `access_log`: write
    an access line per request.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, log_context: bool = False, access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.log_context = log_context
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        rid, stamp = request_id.from_headers(scope["headers"])
        noted = scope[MODEL_KEY] = [""]  # the model: "" until the app routes the request
        scope[REQUEST_ID_KEY] = rid
        status = 500  # until the answer starts (the app's error middleware always answers)
        stream = False
        first_chunk = 0.0
        scanner: UsageScanner | None = None

        async def observed(message: Message) -> None:
            nonlocal status, stream, first_chunk, scanner
            if message["type"] == "http.response.body":
                if stream or scanner is not None:
                    body = message.get("body", b"")
                    if body:
                        if stream and not first_chunk:
                            first_chunk = perf_counter()
                        if scanner is not None:
                            scanner.feed(body)
            elif message["type"] == "http.response.start":
                status = message["status"]
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
                stream = content_type.startswith(_SSE)
                # Compressed bytes cannot be scanned; a backend that counts its own tokens needs no scan.
                if status == 200 and encoding == b"identity" and (stream or content_type.startswith(_JSON)):
                    model = noted[0]
                    if model and model != UNKNOWN_MODEL and (stream or model not in self.metrics.self_counted):
                        scanner = UsageScanner()
            await send(message)

        token = REQUEST_ID.set(rid) if self.log_context else None
        try:
            await self.app(scope, receive, observed)
        finally:
            if token is not None:
                REQUEST_ID.reset(token)
            duration = perf_counter() - started
            path = scope["path"]
            self.metrics.record(
                path,
                noted[0],
                status,
                duration,
                first_chunk - started if first_chunk else None,
                scanner.usage if scanner is not None else None,
            )
            if self.access_log:
                client = scope.get("client")
                logs.access(
                    request_id=rid,
                    method=scope["method"],
                    path=path,
                    status=status,
                    duration=duration,
                    model=noted[0],
                    client=f"{client[0]}:{client[1]}" if client else None,
                )
