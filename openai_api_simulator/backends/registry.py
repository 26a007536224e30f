"""The model registry: which backend owns each model id, and the merged view `/v1/models` and `/health` show."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from openai_api_simulator.api.endpoint import Endpoint
from openai_api_simulator.backends.base import Backend, ModelCard
from openai_api_simulator.errors import InvalidRequest, ModelNotFound, StartupError


class DuplicateModel(StartupError, ValueError):
    """Two backends claim one model id; the message names both."""


class ModelRegistry:
    """Backends by model id, in the order they were given (which is the order models are listed in).

    Built once at start-up; two backends with one id are refused there, never resolved by order at request time.
    """

    def __init__(self, backends: Iterable[Backend]) -> None:
        self.backends: tuple[Backend, ...] = tuple(backends)
        self._owners: dict[str, Backend] = {}
        self._cards: dict[str, ModelCard] = {}
        for backend in self.backends:
            for card in backend.models():
                other = self._owners.get(card.id)
                if other is not None:
                    who = "twice by " + other.name if other is backend else f"by {other.name} and by {backend.name}"
                    raise DuplicateModel(
                        f"The model id {card.id!r} is served {who}; each model needs its own id "
                        "(rename one, e.g. with --name or --upstream NAME=URL)."
                    )
                self._owners[card.id] = backend
                self._cards[card.id] = card

    def lookup(self, model: str) -> Backend:
        """The backend that owns `model`; OpenAI's 404 `model_not_found` for an id nobody serves."""
        backend = self._owners.get(model)
        if backend is None:
            raise ModelNotFound(model)
        return backend

    def route(self, model: str, endpoint: Endpoint[Any]) -> Backend:
        """The backend to answer `endpoint` for `model`; a 400 naming both when it does not serve that endpoint."""
        backend = self.lookup(model)
        if endpoint.name not in backend.capabilities:
            served = ", ".join(f"/v1/{name}" for name in sorted(backend.capabilities)) or "nothing"
            raise InvalidRequest(
                f"The model `{model}` does not support /v1/{endpoint.name}: {backend.name} answers {served}.",
                param="model",
                code="unsupported_endpoint",
            )
        return backend

    def card(self, model: str) -> ModelCard:
        self.lookup(model)
        return self._cards[model]

    def cards(self) -> list[ModelCard]:
        return list(self._cards.values())

    def health(self) -> dict[str, Any]:
        """`/health`: "ok" when every model is ready, else "degraded", with each model's state."""
        states = {model: backend.status(model).state for model, backend in self._owners.items()}
        return {"status": "ok" if all(s == "ready" for s in states.values()) else "degraded", "models": states}

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Every backend's lifespan, entered in order and left in reverse."""
        async with AsyncExitStack() as stack:
            for backend in self.backends:
                await stack.enter_async_context(backend.lifespan())
            yield
