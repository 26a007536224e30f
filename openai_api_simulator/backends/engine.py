"""A model served by a supervised local engine (llama-server) on a private port, relayed like a remote one.

The supervisor owns the process; this backend only reads its state for `/health` and the 503s, and relays
to it once it is READY, with the engine's internal API key.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.responses import Response

from openai_api_simulator.backends.base import ModelCard, ModelRequest, ModelStatus
from openai_api_simulator.backends.relay import Relay
from openai_api_simulator.engines import EngineState, Supervisor


class EngineBackend:
    """One model id, answered by the engine `supervisor` runs, through the shared `relay`."""

    def __init__(
        self,
        model: str,
        supervisor: Supervisor,
        relay: Relay,
        *,
        capabilities: frozenset[str],
        owned_by: str,
        created: int | None = None,
    ) -> None:
        self.model = model
        self.supervisor = supervisor
        self.relay = relay
        self.capabilities = capabilities
        self._card = ModelCard(model, owned_by, int(time.time()) if created is None else created)

    # -- Backend

    @property
    def name(self) -> str:
        return f"{self.supervisor.spec.program} for {self.model}"

    def models(self) -> Sequence[ModelCard]:
        return (self._card,)

    def status(self, model: str) -> ModelStatus:
        return ModelStatus(self.state, self.retry_after)

    async def handle(self, request: ModelRequest) -> Response:
        return await self.relay.forward(request, self)

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.relay.lifespan():
            yield

    # -- relay.Source

    @property
    def state(self) -> str:
        return self.supervisor.state.value

    def urls(self) -> Sequence[str]:
        url = self.supervisor.base_url
        return [url] if url and self.supervisor.state is EngineState.READY else []

    @property
    def api_key(self) -> str | None:
        return self.supervisor.spec.api_key

    @property
    def retry_after(self) -> float:
        return self.supervisor.retry_after

    def mark_down(self, url: str) -> None:
        pass  # one URL, and the supervisor notices a dead engine by itself

    def mark_up(self, url: str) -> None:
        pass
