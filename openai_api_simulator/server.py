"""Binding the listening socket and running uvicorn on it, with limits on connections and a prompt stop.

The socket is bound here, before uvicorn starts, so a busy port fails at once with the holder named
(instead of uvicorn's generic message), and so tests can bind port 0 and learn the port without a race.
What each client connection may hold is `connections`' concern; how the server stops is `Server`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Final

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import LOGGING_CONFIG

from openai_api_simulator import net
from openai_api_simulator.config import ConnectionLimits, LogFormat
from openai_api_simulator.connections import protocol_for
from openai_api_simulator.errors import StartupError
from openai_api_simulator.fake import budget
from openai_api_simulator.observability import logs

# Connections waiting to be accepted; uvicorn's default, enough for bursts from parallel test workers.
BACKLOG: Final = 2048


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; StartupError naming the port and its holder when busy."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(
            f"Cannot listen on host {host!r}: {exc.strerror}. Use --host with an IP address such as 127.0.0.1."
        ) from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR lets a restart bind while old connections sit in TIME_WAIT; on Linux and macOS it does
    # not allow two listeners on one port, so a busy port is still detected.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            holder = net.port_holder(port)
            by = f" by {holder}" if holder else ""
            raise StartupError(
                f"Port {port} on {host} is already in use{by}. Stop that process or choose "
                "another port with --port (or OAS_PORT)."
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"Permission denied binding {host}:{port}. Ports below 1024 need privileges; "
                "choose another with --port."
            ) from None
        raise StartupError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    sock.setblocking(False)
    return sock


# Shutdown (Ctrl+C, SIGTERM, SIGHUP): requests in flight get this long to finish; then their connections are
# closed and their tasks cancelled, so the server is gone within a second whatever it was doing (a stream at
# one token a second would otherwise hold it until uvicorn's timeout, then die with a traceback).
SHUTDOWN_GRACE: Final = 0.3
# uvicorn's own deadline for the tasks left after that; never reached unless a task ignores cancellation.
_SHUTDOWN_BACKSTOP: Final = 2
# Signals that stop the server cleanly. SIGHUP: the terminal went away, or a supervisor's reload/stop; with
# no configuration to reload, it stops like SIGTERM (exit 0) instead of killing the process mid-response.
_STOP_SIGNALS: Final = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK") if hasattr(signal, name)
)


@dataclass
class _Cutting:
    """Set once the shutdown has cut the requests still in flight; read by `_QuietWhenCut`."""

    active: bool = False


class _QuietWhenCut:
    """The app, with the cancellation of a request cut at shutdown ending it quietly.

    uvicorn logs any exception out of a request's task as "Exception in ASGI application" with a traceback;
    a request the shutdown cancelled on purpose (its connection already closed) is not one.
    """

    def __init__(self, app: ASGIApp, cutting: _Cutting) -> None:
        self.app = app
        self.cutting = cutting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if not self.cutting.active or scope["type"] != "http":
                raise


class Server(uvicorn.Server):
    """uvicorn's server, stopping within a second and exiting 0 on SIGINT, SIGTERM or SIGHUP.

    uvicorn re-raises the caught signal once it has shut down, so the process would end "killed by SIGTERM"
    (rc -15) even though it stopped cleanly; supervisors and shells read that as a crash.
    """

    def __init__(self, config: uvicorn.Config, cutting: _Cutting | None = None) -> None:
        super().__init__(config)
        self.cutting = cutting  # None: an app not wrapped by `make_server`, stopped as uvicorn does
        self._signalled = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # The fake model's work in flight (a deep schema in a worker thread) is abandoned when the grace is
        # over, with the requests it serves: uvicorn would wait for it, and the process for its thread.
        # Only on a signal: the budgets' stop is process-wide, and a server stopped by flag may share its
        # process with others (tests).
        self._signalled = True
        if self.cutting is None:
            budget.stop_all()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled in the main thread; servers in test threads are stopped by flag
            return
        previous = {
            sig: signal.signal(sig, self.handle_exit)
            for sig in _STOP_SIGNALS
            if signal.getsignal(sig) is not signal.SIG_IGN  # started under nohup: SIGHUP stays ignored
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.cutting is None:
            await super().shutdown(sockets)
            return
        cut = asyncio.get_running_loop().call_later(SHUTDOWN_GRACE, self._cut_in_flight, self.cutting)
        try:
            await super().shutdown(sockets)
        finally:
            cut.cancel()

    def _cut_in_flight(self, cutting: _Cutting) -> None:
        """Close the connections still open (idle ones are closed already) and cancel their requests.

        Closing first tells each request its client is gone (a stream ends there); the cancellation, queued
        after the connection-lost callbacks, ends those that were not listening (a long latency, a relayed
        answer). The client sees the connection closed mid-answer, as when any server stops.
        """
        cutting.active = True
        if self._signalled:
            budget.stop_all()
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        asyncio.get_running_loop().call_soon(self._cancel_requests)

    def _cancel_requests(self) -> None:
        for task in list(self.server_state.tasks):
            task.cancel(msg="the server is shutting down")


def make_server(
    app: ASGIApp,
    *,
    log_level: str = "info",
    access_log: bool = True,
    log_format: LogFormat = "text",
    limits: ConnectionLimits | None = None,
) -> Server:
    """A server for `app` with `limits` on its connections (see `connections`), stopping as `Server` says."""
    limits = limits or ConnectionLimits()
    cutting = _Cutting()
    json_logs = log_format == "json"
    config = uvicorn.Config(
        _QuietWhenCut(app, cutting),
        log_level=log_level,
        # JSON: every logger writes JSON lines, and the access lines are the app's (`observability.logs`).
        log_config=logs.uvicorn_config(log_level) if json_logs else LOGGING_CONFIG,
        access_log=access_log and not json_logs,
        lifespan="on",
        http=protocol_for(limits),
        timeout_keep_alive=limits.keep_alive_timeout,
        timeout_graceful_shutdown=_SHUTDOWN_BACKSTOP,
        server_header=False,
    )
    return Server(config, cutting)


def serve_forever(
    app: ASGIApp,
    sock: socket.socket,
    *,
    log_level: str,
    access_log: bool,
    log_format: LogFormat = "text",
    limits: ConnectionLimits | None = None,
) -> None:
    server = make_server(app, log_level=log_level, access_log=access_log, log_format=log_format, limits=limits)
    with contextlib.closing(sock):
        server.run(sockets=[sock])
