"""A client that disconnects cancels the relay's wait for the upstream, and the upstream connection is closed.

`cancel_on_disconnect` is checked with hand-written ASGI `receive` callables; the relay over real sockets (uvicorn
in a thread in front of a raw socket upstream that never finishes its answer), since noticing a client gone is
the server's doing.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from openai_api_simulator.backends import Relay
from openai_api_simulator.backends.disconnect import cancel_on_disconnect
from openai_api_simulator.errors import APIError, for_status
from openai_api_simulator.testing import serving
from tests.support.backends import CHAT, Source, app_with


def _receive_after(delay: float | None) -> tuple[list[str], Receive]:
    """A `receive` that answers `http.disconnect` after `delay` seconds (never, for None); and its calls."""
    calls: list[str] = []

    async def receive() -> Message:
        calls.append("receive")
        if delay is None:
            await asyncio.Event().wait()
        await asyncio.sleep(delay or 0)
        return {"type": "http.disconnect"}

    return calls, receive


def test_work_that_finishes_first_is_returned_and_the_watch_ends() -> None:
    async def scenario() -> None:
        calls, receive = _receive_after(None)

        async def work() -> str:
            await asyncio.sleep(0.01)
            return "answer"

        assert await cancel_on_disconnect(receive, work) == "answer"
        assert calls == ["receive"]
        watch = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        await asyncio.sleep(0)  # the watch was cancelled, not awaited: it ends on the loop's next turn
        assert all(t.cancelled() for t in watch)
        assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()

    asyncio.run(scenario())


def test_a_disconnect_cancels_the_work_and_raises_client_disconnect() -> None:
    async def scenario() -> None:
        _, receive = _receive_after(0.05)
        cancelled = asyncio.Event()

        async def work() -> str:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return "too late"

        started = time.monotonic()
        with pytest.raises(ClientDisconnect):
            await cancel_on_disconnect(receive, work)
        assert cancelled.is_set()
        assert time.monotonic() - started < 5

    asyncio.run(scenario())


def test_the_works_own_error_comes_out_unwrapped() -> None:
    async def scenario() -> None:
        _, receive = _receive_after(None)

        async def work() -> str:
            raise for_status(503, "The model `smol` is restarting; retry in 1 s.")

        # Exactly an APIError, not an exception group holding one: the app's error handler must match it.
        with pytest.raises(APIError, match="restarting") as info:
            await cancel_on_disconnect(receive, work)
        assert type(info.value) is APIError

    asyncio.run(scenario())


def test_other_messages_do_not_end_the_watch() -> None:
    async def scenario() -> None:
        messages: list[Message] = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> Message:
            if messages:
                return messages.pop()
            await asyncio.sleep(0.05)
            return {"type": "http.disconnect"}

        async def work() -> str:
            await asyncio.sleep(30)
            return "too late"

        with pytest.raises(ClientDisconnect):
            await cancel_on_disconnect(receive, work)

    asyncio.run(scenario())


# ------------------------------------------------------------------------------------------------
# Over real sockets


@dataclass
class Holder:
    """A raw upstream that reads the request, sends `head` (maybe nothing), and then holds the connection."""

    url: str
    received: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)  # the relay closed its connection


@contextmanager
def holding_upstream(head: bytes) -> Iterator[Holder]:
    listener = socket.create_server(("127.0.0.1", 0))
    holder = Holder(f"http://127.0.0.1:{listener.getsockname()[1]}")

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(60)
            data = b""
            while b"}" not in data:  # the end of the JSON body
                data += conn.recv(65536)
            holder.received.set()
            if head:
                conn.sendall(head)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass
            holder.closed.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        listener.close()
        thread.join(70)


def _post_and_leave(proxy: str, body: dict[str, object], holder: Holder) -> float:
    """Send `body` on a raw socket, close it once the upstream has the request; the time of the close."""
    host, port = proxy.removeprefix("http://").split(":")
    raw = json.dumps(body).encode()
    with socket.create_connection((host, int(port))) as client:
        client.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(raw), raw)
        )
        assert holder.received.wait(10), "the request never reached the upstream"
        time.sleep(0.1)  # the relay is now waiting on the upstream
    return time.monotonic()


NO_ANSWER = b""  # a non-streamed generation: no head until the whole answer is ready
PART_OF_A_BODY = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{"n":0}\n\r\n'
)
PART_OF_A_STREAM = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'e\r\ndata: {"n":0}\n\n\r\n'
)


@pytest.mark.parametrize(
    "head", [NO_ANSWER, PART_OF_A_BODY, PART_OF_A_STREAM], ids=["waiting-for-the-head", "mid-body", "mid-stream"]
)
def test_a_client_that_leaves_closes_the_upstream_connection(head: bytes) -> None:
    with holding_upstream(head) as holder, serving(app_with([Source([holder.url], Relay())])) as proxy:
        left = _post_and_leave(proxy, {**CHAT, "stream": head == PART_OF_A_STREAM}, holder)
        # Unwatched, the relay would wait out its 600 s read timeout while the upstream generated for nobody.
        assert holder.closed.wait(5), "the upstream connection stayed open after the client left"
        assert time.monotonic() - left < 5
