"""The model registry: owners by id, duplicates refused, capabilities, the merged list, health, lifespans."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.responses import Response

from openai_api_simulator.api.endpoints import ENDPOINTS
from openai_api_simulator.backends import (
    DuplicateModel,
    FakeBackend,
    ModelCard,
    ModelRegistry,
    ModelRequest,
    ModelStatus,
)
from openai_api_simulator.config import Settings
from openai_api_simulator.errors import InvalidRequest, ModelNotFound
from tests.support.backends import Source, mock_relay

CHAT, EMBEDDINGS = (next(e for e in ENDPOINTS if e.name == name) for name in ("chat/completions", "embeddings"))


class Named:
    """A backend that serves given ids, records its lifespan, and answers nothing."""

    def __init__(self, name: str, ids: Sequence[str], log: list[str] | None = None) -> None:
        self.name = name
        self.capabilities = frozenset({"chat/completions"})
        self._cards = tuple(ModelCard(i, "test", 0) for i in ids)
        self.log = log if log is not None else []

    def models(self) -> Sequence[ModelCard]:
        return self._cards

    def status(self, model: str) -> ModelStatus:
        return ModelStatus("starting", 4)

    async def handle(self, request: ModelRequest) -> Response:
        raise AssertionError("not called")

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        self.log.append(f"open {self.name}")
        try:
            yield
        finally:
            self.log.append(f"close {self.name}")


def test_owners_in_order_and_unknown_ids() -> None:
    fake = FakeBackend(Settings(aliases=("gpt-4o",)))
    other = Named("other", ["m1", "m2"])
    registry = ModelRegistry([fake, other])
    assert [c.id for c in registry.cards()] == ["gpt-sim-1", "gpt-4o", "m1", "m2"]
    assert registry.lookup("gpt-4o") is fake and registry.lookup("m2") is other
    assert registry.lookup("m1").status("m1") == ModelStatus("starting", 4)
    with pytest.raises(ModelNotFound, match="`nope` does not exist"):
        registry.lookup("nope")
    with pytest.raises(ModelNotFound):
        registry.card("nope")


def test_a_duplicate_id_is_refused_naming_both_backends() -> None:
    with pytest.raises(DuplicateModel) as between:
        ModelRegistry([Named("the first", ["a", "b"]), Named("the second", ["c", "b"])])
    assert "'b'" in str(between.value) and "by the first and by the second" in str(between.value)
    with pytest.raises(DuplicateModel, match="twice by the first"):
        ModelRegistry([Named("the first", ["a", "a"])])
    assert isinstance(between.value, ValueError)  # library callers may catch it as a bad argument


def test_route_refuses_an_endpoint_the_backend_lacks() -> None:
    registry = ModelRegistry([Named("chat-only", ["m"])])
    assert registry.route("m", CHAT).name == "chat-only"
    with pytest.raises(InvalidRequest) as refused:
        registry.route("m", EMBEDDINGS)
    assert refused.value.code == "unsupported_endpoint" and refused.value.param == "model"
    assert "chat-only answers /v1/chat/completions" in refused.value.message


def test_health_is_ok_only_when_every_model_is_ready() -> None:
    relay = mock_relay(lambda request: httpx.Response(200))
    up = Source(["http://u:1"], relay)
    registry = ModelRegistry([FakeBackend(Settings()), up])
    assert registry.health() == {"status": "ok", "models": {"gpt-sim-1": "ready", "smol": "ready"}}
    up.state = "restarting"
    assert registry.health() == {"status": "degraded", "models": {"gpt-sim-1": "ready", "smol": "restarting"}}


def test_lifespans_open_in_order_and_close_in_reverse() -> None:
    log: list[str] = []
    registry = ModelRegistry([Named("a", ["x"], log), Named("b", ["y"], log)])

    async def main() -> None:
        async with registry.lifespan():
            log.append("serving")

    asyncio.run(main())
    assert log == ["open a", "open b", "serving", "close b", "close a"]


def test_a_shared_relay_opens_its_pool_once_and_closes_it_with_the_last_user() -> None:
    relay = mock_relay(lambda request: httpx.Response(200))
    a, b = Source(["http://u:1"], relay, model="a"), Source(["http://u:2"], relay, model="b")
    registry = ModelRegistry([a, b])
    opened: list[object] = []

    async def main() -> None:
        async with registry.lifespan():
            opened.append(relay._transport)
        opened.append(relay._transport)

    asyncio.run(main())
    assert opened[0] is not None and opened[1] is None
