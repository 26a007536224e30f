"""Request bodies, JSON responses and Server-Sent Events, with the OpenAI error shape for every failure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Send

from openai_api_simulator.errors import APIError, InvalidRequest, for_status

# Headers every SSE answer carries: no caching, and no buffering by nginx-style proxies in between.
SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
DONE: Final = b"data: [DONE]\n\n"


class CutConnection(Exception):
    """Yielded by an SSE generator (as an instance) to end the response without completing it."""


_INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw request body; 413 past `max_bytes`."""
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
    """A request body as a JSON object, or OpenAI's 400 for anything else."""
    if not raw.strip():
        raise InvalidRequest(_INVALID_JSON)
    try:
        body = json.loads(raw)
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


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


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
