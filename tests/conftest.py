from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from openai_api_simulator.config import Settings
from openai_api_simulator.fake.caches import size_caches
from openai_api_simulator.testing import running

pytest_plugins = ["pytester", "tests.support.provision", "tests.support.tallies"]

FIXED_CREATED = 1_700_000_000


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets a cache of its own (`OAS_CACHE_DIR`, inherited by the processes it starts), so no test
    reads or writes the user's cache, or another test's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("OAS_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def default_cache_sizes() -> Iterator[None]:
    """For a test that starts a server with a small `cache_mb`: the fake's process-wide caches (which the last
    server started sizes) go back to their default size afterwards, for the tests that follow."""
    yield
    size_caches(Settings())


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI a `rig` test must run: a skip there (whatever its cause) is reported as a failure."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") and report.skipped and item.get_closest_marker("rig") is not None:
        report.outcome = "failed"
        report.longrepr = f"rig test skipped under CI, where it must run: {report.longrepr}"
