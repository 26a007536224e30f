"""Run the simulator inside a test process: `with running(Settings()) as base_url: ...`.

Used by the pytest plugin and by this project's own tests. The server runs in a thread on a socket bound
to a free loopback port, so many can run at once. `simulated()` adds the test double's view of it (rules,
journal, reset) for unittest and other frameworks without fixtures.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from starlette.types import ASGIApp

from openai_api_simulator.app import create_app
from openai_api_simulator.config import ConnectionLimits, Settings
from openai_api_simulator.net import free_port
from openai_api_simulator.server import bind_socket, make_server
from openai_api_simulator.testdouble.client import Simulator

__all__ = ["Simulator", "free_port", "running", "scope_id_for", "serving", "simulated"]

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


@contextmanager
def simulated(
    base_url: str | None = None, *, settings: Settings | None = None, test_id: str | None = None
) -> Iterator[Simulator]:
    """A `Simulator` with a test id of its own, on the server at `base_url` or on one started for the block.

        class WeatherTest(unittest.TestCase):
            def test_paris(self):
                with simulated() as sim:
                    sim.script(tool_call("get_weather", city="Paris"), text("Sunny."), tool="get_weather")
                    run_agent(sim.openai())
                    self.assertEqual(len(sim.requests), 2)

    The scope is reset when the block ends, so a long-lived server keeps nothing of the test.
    """
    test_id = test_id or f"t-{uuid.uuid4().hex}"
    if base_url is None:
        with running(settings) as url, Simulator(url, test_id=test_id, api_key=(settings or Settings()).api_key) as sim:
            yield sim
        return
    with Simulator(base_url, test_id=test_id) as sim:
        try:
            yield sim
        finally:
            sim.reset()


_UNSAFE = re.compile(r"[^\x21-\x7e]+")


def scope_id_for(name: str) -> str:
    """A test id (printable ASCII, no spaces, at most 200 characters) for a test's name, such as a pytest node
    id; long names keep their end, where the test's own name is, and a digest of the whole."""
    clean = _UNSAFE.sub("_", name)
    if len(clean) <= 200:
        return clean
    return hashlib.sha256(name.encode()).hexdigest()[:16] + "~" + clean[-183:]
