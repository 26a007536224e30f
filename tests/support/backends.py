"""Helpers for the backend and app tests: a hand-driven relayed backend and apps over `httpx.MockTransport`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
from starlette.testclient import TestClient

from openai_api_simulator.api.endpoints import NAMES
from openai_api_simulator.app import create_app
from openai_api_simulator.backends import Backend, FakeBackend, Relay
from openai_api_simulator.backends.relay import RelayedBackend, RelaySettings
from openai_api_simulator.config import Settings

FIXED = Settings(fixed_created=1_700_000_000)
CHAT = {"model": "smol", "messages": [{"role": "user", "content": "Hi"}]}
Handler = Callable[[httpx.Request], Any]


class Source(RelayedBackend):
    """A relayed backend whose state the test sets by hand (what a supervised engine looks like from outside)."""

    name = "a hand-driven upstream"

    def __init__(
        self,
        urls: Sequence[str],
        relay: Relay,
        *,
        model: str = "smol",
        state: str = "ready",
        api_key: str | None = "INTERNAL",
        owned_by: str = "llama.cpp",
        capabilities: frozenset[str] = NAMES,
    ) -> None:
        super().__init__(model, relay, owned_by=owned_by, created=1_700_000_000)
        self._urls = list(urls)
        self._state = state
        self._api_key = api_key
        self.capabilities = capabilities

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        self._state = value

    @property
    def api_key(self) -> str | None:
        return self._api_key

    @property
    def retry_after(self) -> float:
        return 2.5

    def urls(self) -> list[str]:
        return self._urls if self.state == "ready" else []


def mock_relay(handler: Handler, **settings: Any) -> Relay:
    return Relay(RelaySettings(transport=httpx.MockTransport(handler), **settings))


def app_with(backends: Sequence[Backend], settings: Settings = FIXED) -> Any:
    """The app `run` builds: the fake model first, then `backends`."""
    return create_app(settings, [FakeBackend(settings), *backends])


def mock_client(
    handler: Handler, make: Callable[[Relay], Sequence[Backend]], settings: Settings = FIXED, **relay: Any
) -> TestClient:
    """A test client for the app serving the backends `make` builds on a relay that answers with `handler`."""
    return TestClient(app_with(make(mock_relay(handler, **relay)), settings), raise_server_exceptions=True)


def one_upstream(handler: Handler, **source: Any) -> TestClient:
    """The app with one hand-driven upstream model `smol` at http://up:8080."""
    return mock_client(handler, lambda relay: [Source(["http://up:8080"], relay, **source)])


def recorder(
    answer: Callable[[httpx.Request], httpx.Response] | None = None,
) -> tuple[list[httpx.Request], Handler]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if answer is not None:
            return answer(request)
        return httpx.Response(200, json={"object": "chat.completion", "model": "smol"})

    return seen, handler


def assert_openai_error(response: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    return dict(error)
