from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from openai_api_simulator.config import Settings
from openai_api_simulator.testing import running

pytest_plugins = ["pytester", "tests.provision_fixtures"]

FIXED_CREATED = 1_700_000_000


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """One simulator for the session, with an alias and a fixed clock (byte-identical answers)."""
    with running(Settings(aliases=("gpt-4o-mini",), fixed_created=FIXED_CREATED)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    # max_retries=0: injected errors must surface, not be retried away by the SDK.
    with openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url.removesuffix("/v1"), timeout=30) as c:
        yield c
