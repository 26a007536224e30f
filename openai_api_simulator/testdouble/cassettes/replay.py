"""Replaying: a cassette's answer, byte for byte, at the recorded pace scaled by `--replay-speed`.

Times are kept against the request's start, not between chunks, so a slow event loop does not add up over a
long stream: each chunk is sent when ``start + ms / speed`` has come (one timer per stream, asleep until the
next chunk is due). Speed 0 sends everything at once. A JSON answer is sent when its recorded time has come.
A client that leaves stops the replay (Starlette's disconnect listener for a stream, `cancel_on_disconnect`
for the wait before a JSON answer).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Final

import anyio
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from openai_api_simulator.backends.disconnect import cancel_on_disconnect
from openai_api_simulator.testdouble.cassettes.format import Cassette, Chunk

# Sent with every replayed answer: which file answered (what to open, or delete, when a test surprises you).
CASSETTE_HEADER: Final = "x-simulator-cassette"
# As for every event stream the app serves: no caching, no buffering by proxies in between.
_SSE_HEADERS: Final = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def _until(started: float, ms: float, speed: float) -> None:
    if speed > 0:
        delay = started + ms / 1000 / speed - time.monotonic()
        if delay > 0:
            await anyio.sleep(delay)


async def _paced(chunks: tuple[Chunk, ...], started: float, speed: float) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await _until(started, chunk.ms, speed)
        yield chunk.data


async def replay(scope: Scope, receive: Receive, send: Send, cassette: Cassette, started: float, speed: float) -> None:
    """Answer the request of `scope` from `cassette`; `started` is the request's `time.monotonic()`."""
    headers = {**cassette.headers, CASSETTE_HEADER: cassette.name}
    response: Response
    if cassette.chunks is not None:
        response = StreamingResponse(
            _paced(cassette.chunks, started, speed), status_code=cassette.status, headers={**headers, **_SSE_HEADERS}
        )
    else:
        try:
            await cancel_on_disconnect(receive, lambda: _until(started, cassette.ms, speed))
        except ClientDisconnect:
            return
        response = Response(cassette.body, status_code=cassette.status, headers=headers)
    with contextlib.suppress(ClientDisconnect):  # how servers on ASGI spec 2.4 say the client has gone
        await response(scope, receive, send)
