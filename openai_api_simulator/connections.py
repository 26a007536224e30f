"""Client connections: a deadline for the request head, a size cap on it, and a cap on open connections.

uvicorn (with httptools, which this package depends on) gives a fresh connection no timer at all and stops its
keep-alive timer at any byte received, so a client that connects and sends nothing, or a header a byte at a
time (slowloris), holds its connection and a file descriptor for ever; with the usual limit of 1024 open files,
about a thousand such connections took the server off the air. httptools has no header size limit either.
`LimitedProtocol` is uvicorn's httptools protocol with, per connection:

- a **head deadline**: the request line and headers must be complete `header_timeout` seconds after the
  connection is made (or after the first byte of a later request on it). Then a client that sent part of a
  head gets a 408, one that sent nothing is closed silently (browsers open spare connections they may never
  use). Idle keep-alive connections are closed by uvicorn's own `timeout_keep_alive`.
- a **head size cap**: more than `max_header_bytes` before the head is complete is answered 431.
- a **connection cap**: past `max_connections`, the connection idle the longest (connected or kept alive but
  sending nothing; nginx reuses the same ones) is closed to make room, so idle connections can never lock
  out a real request. If every connection is busy with a request, the new one is answered 503 with
  Retry-After once its head arrives; and past `OVERFLOW` more, closed at once, which bounds the file
  descriptors the server can use at `open_files_needed`.

Every answer given here is in OpenAI's error shape and closes the connection. The cap is the server's own
rather than uvicorn's `limit_concurrency`, whose 503 is plain text and which counts idle connections as load.
"""

from __future__ import annotations

import asyncio
import http
import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, ClassVar, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base

from openai_api_simulator.config import ConnectionLimits
from openai_api_simulator.errors import APIError, for_status

# Connections beyond the cap that are kept to be answered 503 (only when no idle one can be closed instead);
# beyond these a new connection is closed unanswered. Enough for a burst of retries to read a clear answer.
OVERFLOW: Final = 64
# File descriptors the process needs besides client connections: the relay's pool to engines and upstreams
# (httpx's default of 100 connections), each engine's pipes, log and health checks, the event loop's own.
RESERVED_FILES: Final = 160
# Seconds a refused connection's answer says to wait: an over-full server frees up within moments.
RETRY_AFTER: Final = 1
# Bytes of a refused request's body read (and dropped) before its 503, so that closing the connection with
# the body unread does not reset it before the client has read the answer.
_DRAIN_MAX: Final = 1024 * 1024


def open_files_needed(limits: ConnectionLimits) -> int:
    """The open-file limit a server with these limits needs."""
    return limits.max_connections + OVERFLOW + RESERVED_FILES


def fit_open_files(limits: ConnectionLimits) -> tuple[ConnectionLimits, str | None]:
    """`limits` once the process's open-file limit is raised to fit them, and a warning when it cannot be.

    The soft limit (often 1024 on Linux, 256 on macOS) is raised towards the hard limit only as far as the
    connections need, as Go's runtime and many servers do at start-up; children (the engines) inherit it.
    Where it cannot be raised far enough, fewer connections are served, and the warning says how to fix it.
    """
    if os.name != "posix":
        return limits, None
    import resource

    needed = open_files_needed(limits)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return limits, None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # e.g. macOS above kern.maxfilesperproc: keep the old limit and fit under it
    if soft >= needed:
        return limits, None
    fitted = max(1, soft - OVERFLOW - RESERVED_FILES)
    return replace(limits, max_connections=fitted), (
        f"--max-connections {limits.max_connections} needs {needed} open files, but the limit is {soft} "
        f"(ulimit -n) and cannot be raised; serving at most {fitted} connections at once. Raise the limit "
        f"(ulimit -n {needed}) or lower --max-connections."
    )


def raw_error(error: APIError, default_headers: Iterable[tuple[bytes, bytes]] = ()) -> bytes:
    """A complete HTTP/1.1 response carrying `error`, closing the connection: written where no app runs."""
    body = error.json_bytes()
    phrase = http.HTTPStatus(error.status).phrase
    head = [f"HTTP/1.1 {error.status} {phrase}".encode()]
    head += [name + b": " + value for name, value in default_headers]
    head += [f"{name}: {value}".encode("latin-1") for name, value in error.headers.items()]
    head += [b"content-type: application/json", b"content-length: %d" % len(body), b"connection: close"]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def answering(error: APIError) -> ASGIApp:
    """An ASGI app answering every request with `error`, closing the connection (after reading the body, so
    that closing with it unread does not reset the connection before the client has read the answer)."""
    body = error.json_bytes()
    start: Message = {
        "type": "http.response.start",
        "status": error.status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
            (b"connection", b"close"),
        ],
    }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        drained = 0
        while drained <= _DRAIN_MAX:
            message = await receive()
            drained += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send(start)
        await send({"type": "http.response.body", "body": body})

    return app


def over_capacity(limit: int) -> APIError:
    error = for_status(
        503,
        f"The server has its maximum of {limit} connections open, each busy with a request "
        f"(--max-connections). Retry in a moment, or start the server with a higher --max-connections "
        "(or OAS_MAX_CONNECTIONS).",
    )
    error.headers["Retry-After"] = str(RETRY_AFTER)
    return error


def head_too_large(limit: int) -> APIError:
    return for_status(
        431,
        f"The request line and headers are larger than the limit of {limit} bytes. Send fewer or smaller "
        "headers (large cookies for localhost are a common cause).",
    )


class LimitedProtocol(_Base):
    """uvicorn's httptools protocol with a head deadline, a head size cap and a connection cap.

    One subclass per server (`protocol_for`) holds that server's limits and its connections. The four
    methods called for every request call uvicorn's directly rather than through `super()`: measurably
    cheaper on the path every request takes.
    """

    limits: ClassVar[ConnectionLimits]
    open: ClassVar[set[LimitedProtocol]]
    # Connections waiting for a request with nothing of it received, oldest first: the ones closed to make room.
    idle: ClassVar[OrderedDict[LimitedProtocol, None]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # received since the current head began (an upper bound when pipelined)
        self._reading_head = True

    # -- the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limit = self.limits.max_connections
        if len(self.open) >= limit and not self._close_oldest_idle():
            if len(self.open) >= limit + OVERFLOW:
                transport.abort()  # nothing can be answered without more descriptors than were budgeted
                return
            self.app = answering(over_capacity(limit))
        self.open.add(self)
        self.idle[self] = None
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _forget(self) -> None:
        self.open.discard(self)
        self.idle.pop(self, None)

    def _close_oldest_idle(self) -> bool:
        if not self.idle:
            return False
        victim, _ = self.idle.popitem(last=False)
        victim._forget()  # counted out now: its connection_lost comes a loop iteration later
        victim.transport.close()
        return True

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        self.idle.pop(self, None)
        _Base.data_received(self, data)
        if not self._head_bytes or not self._reading_head or self.transport.is_closing():
            return  # the usual case: the head (and the request) came whole
        if self._head_bytes > self.limits.max_header_bytes:
            self._refuse(head_too_large(self.limits.max_header_bytes))  # before it is all in memory
        else:
            self._arm_head_timer()  # a later request has begun: its head has the same deadline

    # -- the request head (httptools parser callbacks)

    def on_headers_complete(self) -> None:
        # A head that arrived with its body in one read is measured here: `_head_bytes` counts the whole read,
        # so the exact size is worked out only when that bound is over the limit.
        limit = self.limits.max_header_bytes
        if self._head_bytes > limit and len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers) > limit:
            self.app = answering(head_too_large(limit))
        self._reading_head = False
        self._head_bytes = 0
        if self._head_timer is not None:
            self._cancel_head_timer()
        _Base.on_headers_complete(self)

    def on_message_complete(self) -> None:
        _Base.on_message_complete(self)
        self._reading_head = True  # what comes next is the next request's head

    def on_response_complete(self) -> None:
        _Base.on_response_complete(self)
        if self.pipeline or self.transport.is_closing():
            return
        if self._head_bytes:
            self._arm_head_timer()  # part of the next head came during the response: its deadline runs now
        else:
            self.idle[self] = None  # kept alive, waiting for the next request

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return  # a response is still being sent: the head's deadline is re-armed once it is complete
        if self._head_bytes == 0:
            self.transport.close()  # never started a request: nothing to answer
            return
        timeout = f"{self.limits.header_timeout:g}"
        self._refuse(
            for_status(
                408,
                f"The request headers did not arrive within {timeout} s of the connection (or of the "
                f"request's first byte), so the connection is closed. Send the whole request head at once; "
                "the limit is --header-timeout (or OAS_HEADER_TIMEOUT).",
            )
        )

    def _refuse(self, error: APIError) -> None:
        self._cancel_head_timer()
        self.transport.write(raw_error(error, self.server_state.default_headers))
        self.transport.close()

    # -- what uvicorn answers itself

    def send_400_response(self, msg: str) -> None:
        # uvicorn's is plain text; the usual cause is a client speaking TLS or HTTP/2 to this plain HTTP/1.1 port.
        error = for_status(
            400,
            f"{msg} This server speaks plain HTTP/1.1: use an http:// URL (not https://) and HTTP/1.1.",
        )
        self._refuse(error)


def protocol_for(limits: ConnectionLimits) -> type[LimitedProtocol]:
    """A `LimitedProtocol` class for one server (its connections are counted apart from other servers')."""

    class ServerProtocol(LimitedProtocol):
        pass

    ServerProtocol.limits = limits
    ServerProtocol.open = set()
    ServerProtocol.idle = OrderedDict()
    return ServerProtocol
