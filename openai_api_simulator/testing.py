"""Run the simulator inside a test process: `with running(Settings()) as base_url: ...`.

Used by the pytest plugin and by this project's own tests. The server runs in a thread on a socket bound
to a free loopback port, so many can run at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from starlette.types import ASGIApp

from openai_api_simulator.app import create_app
from openai_api_simulator.config import ConnectionLimits, Settings
from openai_api_simulator.net import free_port
from openai_api_simulator.server import bind_socket, make_server

__all__ = ["free_port", "running", "serving"]

_START_TIMEOUT_S = 10.0


@contextmanager
def serving(app: ASGIApp, *, limits: ConnectionLimits | None = None) -> Iterator[str]:
    """Serve any ASGI app (lifespan on) in a thread on a free loopback port; yield `http://127.0.0.1:PORT`.

    `limits`: what each connection may hold (timeouts, the connection cap), as the command line's flags set.
    """
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = make_server(app, log_level="warning", access_log=False, limits=limits)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"openai-api-simulator:{port}"
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"the app on 127.0.0.1:{port} did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running(settings: Settings | None = None) -> Iterator[str]:
    """Start a simulator on 127.0.0.1 and a free port; yield its base URL (`http://127.0.0.1:PORT/v1`)."""
    settings = replace(settings or Settings(), host="127.0.0.1", port=0)
    with serving(create_app(settings), limits=settings.connections) as url:
        yield url + "/v1"
