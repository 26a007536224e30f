"""Binding the listening socket and running uvicorn on it.

The socket is bound here, before uvicorn starts, so a busy port fails at once with the holder named
(instead of uvicorn's generic message), and so tests can bind port 0 and learn the port without a race.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Final

import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import LOGGING_CONFIG

from openai_api_simulator import net
from openai_api_simulator.config import LogFormat
from openai_api_simulator.errors import StartupError
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


class Server(uvicorn.Server):
    """uvicorn's server, exiting 0 after a graceful shutdown on SIGINT/SIGTERM.

    uvicorn re-raises the caught signal once it has shut down, so the process would end "killed by SIGTERM"
    (rc -15) even though it stopped cleanly; supervisors and shells read that as a crash.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled in the main thread; servers in test threads are stopped by flag
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def make_server(
    app: ASGIApp, *, log_level: str = "info", access_log: bool = True, log_format: LogFormat = "text"
) -> uvicorn.Server:
    json_logs = log_format == "json"
    config = uvicorn.Config(
        app,
        log_level=log_level,
        # JSON: every logger writes JSON lines, and the access lines are the app's (`observability.logs`).
        log_config=logs.uvicorn_config(log_level) if json_logs else LOGGING_CONFIG,
        access_log=access_log and not json_logs,
        lifespan="on",
        # Streams end on their own; don't make Ctrl+C wait on an idle keep-alive client.
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    return Server(config)


def serve_forever(
    app: ASGIApp, sock: socket.socket, *, log_level: str, access_log: bool, log_format: LogFormat = "text"
) -> None:
    server = make_server(app, log_level=log_level, access_log=access_log, log_format=log_format)
    with contextlib.closing(sock):
        server.run(sockets=[sock])
