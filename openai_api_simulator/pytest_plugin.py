"""pytest plugin (registered through the `pytest11` entry point): a simulator for your test session.

    def test_my_client(openai_simulator_url):
        client = openai.OpenAI(base_url=openai_simulator_url, api_key="test")
        ...

`openai_simulator_url` is session-scoped and starts one server on a free loopback port. For other
settings (faults, aliases), use `openai_api_simulator.testing.running(Settings(...))` directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openai_api_simulator.testing import running


@pytest.fixture(scope="session")
def openai_simulator_url() -> Iterator[str]:
    """Base URL (`http://127.0.0.1:PORT/v1`) of a simulator running for the whole test session."""
    with running() as url:
        yield url
