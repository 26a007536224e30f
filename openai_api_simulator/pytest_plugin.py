"""pytest plugin (registered through the `pytest11` entry point): a simulator for your test session.

    def test_my_client(openai_simulator_url):
        client = openai.OpenAI(base_url=openai_simulator_url, api_key="test")
        ...

`openai_simulator_url` is session-scoped and starts one server on a free loopback port (or, when
`OAS_SIMULATOR_URL` is set, uses the server there: a service container shared by CI jobs). For other settings
(faults, aliases), use `openai_api_simulator.testing.running(Settings(...))` directly.

`openai_simulator` gives each test its own scope on that server, so tests in parallel do not see each other's
rules or requests:

    def test_agent_asks_for_the_weather(openai_simulator):
        sim = openai_simulator
        sim.script(tool_call("get_weather", city="Paris"), text("Sunny."), tool="get_weather")
        run_agent(sim.openai())            # or any client given sim.base_url and default_headers=sim.headers
        assert [r["path"] for r in sim.requests] == ["/v1/chat/completions"] * 2
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from openai_api_simulator.testing import Simulator, running, scope_id_for


@pytest.fixture(scope="session")
def openai_simulator_url() -> Iterator[str]:
    """Base URL (`http://127.0.0.1:PORT/v1`) of a simulator running for the whole test session."""
    external = os.environ.get("OAS_SIMULATOR_URL")
    if external:
        yield external.rstrip("/").removesuffix("/v1") + "/v1"
        return
    with running() as url:
        yield url


@pytest.fixture
def openai_simulator(openai_simulator_url: str, request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """The session's simulator as this test sees it: rules, journal and faults scoped to the test's node id,
    reset when the test ends (`Simulator`: `.base_url`, `.headers`, `.openai()`, `.on()`, `.script()`,
    `.requests`, `.reset()`)."""
    api_key = os.environ.get("OAS_SIMULATOR_API_KEY")
    with Simulator(openai_simulator_url, test_id=scope_id_for(request.node.nodeid), api_key=api_key) as sim:
        sim.reset()  # a rerun of the same test on a long-lived server starts clean
        yield sim
        sim.reset()
