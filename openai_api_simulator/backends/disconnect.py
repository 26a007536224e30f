"""Noticing a client that goes away while the relay waits on the upstream for it.

An ASGI app learns of a disconnect only from `receive()` returning ``http.disconnect``, and only if it asks:
nothing cancels the app when the client leaves. A relay waiting for a non-streamed answer (which llama-server
sends only once the whole generation is done) would wait to the end, and the upstream would generate for
nobody. `cancel_on_disconnect` runs the wait beside a task that listens, and cancels the wait when the client
goes; cancelling an httpx request closes its connection, and a closed connection is how an upstream (llama-server
among them) learns to stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import Receive

T = TypeVar("T")


async def _wait_for_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    # The body has been read in full before a backend runs, so any other message is a server's repeat of an
    # empty `http.request`; only a disconnect ends the watch.
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def cancel_on_disconnect(receive: Receive, work: Callable[[], Awaitable[T]]) -> T:
    """``await work()``; `ClientDisconnect` (with `work` cancelled) if the client disconnects first.

    `work` runs in the caller's task, so its exceptions come out as they are (an `APIError` reaches the app's
    error handler as one). The watch is one plain task beside it, not a task group: every relayed request pays
    for it, and a task group cost about four times as much (~150 against ~40 µs a request, measured here).
    """
    with anyio.CancelScope() as scope:
        watch = asyncio.get_running_loop().create_task(_wait_for_disconnect(receive, scope))
        try:
            return await work()
        finally:
            watch.cancel()  # a cancelled `receive()` consumes no message
    # Reached only when the scope swallowed its own cancellation: the client disconnected.
    raise ClientDisconnect
