"""Request bodies, JSON responses and Server-Sent Events, with the OpenAI error shape for every failure.

What a body must be to be read (its Content-Type, its JSON) and how answers are written (strict JSON,
whole-second Retry-After) is decided here and in `strict_json`, for the app and the nanochat engine alike.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Send

from openai_api_simulator.api import strict_json
from openai_api_simulator.api.strict_json import dumps
from openai_api_simulator.errors import APIError, InvalidRequest, for_status

__all__ = [
    "DONE",
    "SSE_HEADERS",
    "CutConnection",
    "JSONBytes",
    "SSEResponse",
    "check_content_type",
    "dumps",
    "error_response",
    "parse_json",
    "read_body",
    "retry_after",
    "retry_after_ms",
    "sse_data",
    "sse_event",
]

# Headers every SSE answer carries: no caching, and no buffering by nginx-style proxies in between.
SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
DONE: Final = b"data: [DONE]\n\n"


class CutConnection(Exception):
    """Yielded by an SSE generator (as an instance) to end the response without completing it."""


_INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)


# What the SDKs send, accepted from the raw header bytes without decoding them: this runs on every request.
_PLAIN_JSON: Final = frozenset({b"application/json", b"application/json; charset=utf-8"})
# The longest delay Retry-After is sent with (a day, as X-Simulator-Retry-After allows): a bound for any
# configured value, so an infinite one still gives a number.
RETRY_AFTER_MAX_S: Final = 86_400


def check_content_type(headers: Headers) -> None:
    """400 unless the body is declared JSON (``application/json``, ``application/*+json``) in UTF-8, or not
    declared at all.

    The types refused first of all are form, multipart and text/plain: the ones a web page may POST to any
    site without a CORS preflight, so a page the user visits cannot drive the server with them. A missing
    Content-Type is accepted: scripts often send none (``requests``' ``data=``, ``httpx``'s ``content=``), and
    a browser sends none only for a no-cors fetch of a blob, which always carries ``Origin`` for the
    server's origin checks to judge.
    """
    for name, value in headers.raw:  # ASGI header names are lower-case; the first one counts, as in .get()
        if name == b"content-type":
            if value not in _PLAIN_JSON:
                _check_declared(value.decode("latin-1"))
            return


def _check_declared(declared: str) -> None:
    if not declared.strip():
        return
    media, _, parameters = declared.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise InvalidRequest(
            f"Unsupported Content-Type {declared.strip()!r}: the body must be JSON, sent with "
            "'Content-Type: application/json'. (curl -d sends application/x-www-form-urlencoded unless you "
            "add -H 'Content-Type: application/json', or use curl --json.)"
        )
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise InvalidRequest(
                f"Unsupported charset in Content-Type {declared.strip()!r}: JSON bodies must be UTF-8 "
                "(send 'Content-Type: application/json', or charset=utf-8)."
            )


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw request body; 400 when it is declared as something else than JSON (`check_content_type`),
    413 past `max_bytes`."""
    check_content_type(request.headers)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    try:
        if declared is not None and declared.isdigit():
            raw = await request.body()  # size already checked against the declared length
        else:  # chunked: enforce the limit while reading, before it is all in memory
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                chunks.append(chunk)
            raw = b"".join(chunks)
    except ClientDisconnect:
        raise InvalidRequest("The client disconnected before the request body was received.") from None
    return raw


def parse_json(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or OpenAI's 400 for anything else (see `strict_json` for what
    Python's parser would let through and this refuses)."""
    if not raw.strip():
        raise InvalidRequest(_INVALID_JSON)
    try:
        body = strict_json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
        raise InvalidRequest(_INVALID_JSON) from None
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"Invalid request body: expected a JSON object, but got {type(body).__name__} instead.",
            code="invalid_type",
        )
    return body


def _too_large(max_bytes: int) -> APIError:
    return for_status(413, f"Request body too large: the limit is {max_bytes} bytes (--max-body-bytes).")


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, as RFC 9110 defines it (``delay-seconds = 1*DIGIT``).

    Rounded up: rounding a sub-second delay down to 0 would tell clients to retry at once, sooner than asked.
    0 (or less) stays 0, an explicit "retry now". `retry_after_ms` keeps a sub-second delay exact.
    """
    return _rounded_up(seconds, RETRY_AFTER_MAX_S)


def retry_after_ms(seconds: float) -> str:
    """The same delay in whole milliseconds, for ``Retry-After-Ms``: the OpenAI SDKs read it before
    Retry-After, so a delay of 0.2 s set for a fast test is still waited as 0.2 s, not 1 s."""
    return _rounded_up(seconds * 1000, RETRY_AFTER_MAX_S * 1000)


def _rounded_up(value: float, cap: int) -> str:
    if not value > 0:  # also NaN
        return "0"
    return str(cap if value >= cap else math.ceil(value))


class JSONBytes(Response):
    """A JSON response from a value, serialised compactly (as OpenAI does)."""

    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(dumps(content), status_code=status_code, headers=headers)


def error_response(error: APIError) -> Response:
    return Response(error.json_bytes(), status_code=error.status, headers=error.headers, media_type="application/json")


def sse_data(value: Any) -> bytes:
    return b"data: " + dumps(value) + b"\n\n"


def sse_event(event: str, value: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + dumps(value) + b"\n\n"


class SSEResponse(StreamingResponse):
    """An event stream that can also be cut mid-way (fault injection) by yielding `CutConnection()`.

    Cutting returns without the final empty body message, so the server closes the connection and the
    client sees a truncated chunked body — what a crashed upstream looks like.
    """

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes | CutConnection], headers: Mapping[str, str] | None = None):
        super().__init__(content, headers={**SSE_HEADERS, **(headers or {})})  # type: ignore[arg-type]

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            if isinstance(chunk, CutConnection):
                return
            assert isinstance(chunk, bytes)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
