"""A model served by a supervised local engine (llama-server) on a private port, relayed like a remote one.

The supervisor owns the process; this backend only reads its state for `/health` and the 503s, and relays
to it once it is READY, with the engine's internal API key. When a connection fails it asks whether the
process still runs: a dead engine is answered as restarting (503, Retry-After) from that moment, not only once
the supervisor has noticed. Client-facing messages name the engine, never its private URL.
"""

from __future__ import annotations

from collections.abc import Sequence

from openai_api_simulator.backends.relay import Relay, RelayedBackend
from openai_api_simulator.engines import EngineState, Supervisor


class EngineBackend(RelayedBackend):
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
        super().__init__(model, relay, owned_by=owned_by, created=created)
        self.supervisor = supervisor
        self.capabilities = capabilities

    @property
    def name(self) -> str:
        return f"{self.supervisor.spec.program} for {self.model}"

    # -- where the model is served: the supervisor's engine, once READY (it notices a dead engine itself)

    @property
    def state(self) -> str:
        return self.supervisor.state.value

    def urls(self) -> Sequence[str]:
        url = self.supervisor.base_url
        return [url] if url and self.supervisor.state is EngineState.READY else []

    @property
    def api_key(self) -> str | None:
        return self.supervisor.spec.api_key

    def confirm_state(self) -> str:
        state = self.supervisor.state
        if state is EngineState.READY and not self.supervisor.alive:
            # It crashed, and the supervisor restarts a READY engine that exits (or, after too many restarts in
            # a row, gives up: the client's retry then hears that the model has failed).
            return EngineState.RESTARTING.value
        return state.value

    def server_name(self, url: str) -> str:
        return f"{self.supervisor.spec.program} for model `{self.model}`"

    @property
    def retry_after(self) -> float:
        return self.supervisor.retry_after

    @property
    def restarts(self) -> int:
        """Relaunches of the engine after it exited (for /metrics)."""
        return self.supervisor.restarts
