"""What answers a model: the `Backend` interface, and the request and model facts it deals in.

In the spirit of httpx's one-method transport, a backend is small: it names the models it serves and their
state, lists the endpoints it answers, opens and closes what it needs around the server's life, and turns one
`ModelRequest` into a response. The app does everything else once for all of them (body, JSON, model lookup,
API key, `/v1/models`, `/health`)::

    Backend                  served by
    ├── FakeBackend          the built-in deterministic `gpt-sim-1` and its aliases, in process
    ├── EngineBackend        a supervised local engine (llama-server) on a private port, relayed
    └── RemoteBackend        an OpenAI-compatible server elsewhere (`--upstream`), balanced, relayed
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from starlette.datastructures import Headers
from starlette.responses import Response

from openai_api_simulator.api.endpoint import Endpoint
from openai_api_simulator.api.http import parse_json

READY: Final = "ready"
# States in which a model is expected to come (back) up: its requests get 503 with Retry-After.
NOT_READY_STATES: Final = frozenset({"starting", "restarting", "stopping", "stopped"})


@dataclass(frozen=True)
class ModelCard:
    """A model as `/v1/models` lists it."""

    id: str  # what clients send in `model`
    owned_by: str
    created: int  # Unix time

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": self.owned_by}


@dataclass(frozen=True)
class ModelStatus:
    """Where a model is in its life: "ready", one of `NOT_READY_STATES`, or "failed"."""

    state: str
    retry_after: float = 1.0  # seconds a client should wait while the model is not ready


class ModelRequest:
    """One POST to an endpoint, read and parsed once by the app, for the backend that owns `model`.

    `body` is parsed on first use when the app routed the request without parsing it (the same bytes were
    routed before); a backend that answers from the raw bytes (the fake's memo, a relay) never parses it.
    A plain class with slots, not a dataclass: it is built for every request.
    """

    __slots__ = ("_body", "endpoint", "headers", "model", "query", "raw", "rule")

    def __init__(
        self,
        endpoint: Endpoint[Any],
        model: str,
        raw: bytes,
        headers: Headers,
        *,
        body: dict[str, Any] | None = None,
        query: bytes = b"",
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.raw = raw  # the body exactly as received (relayed as is; the fake's memo key)
        self.headers = headers
        self.query = query  # the raw query string, relayed as is
        self._body = body
        # Set by the backend when a scripted rule answered (`testdouble.rules`); the app notes it in the scope.
        self.rule: str | None = None

    @property
    def body(self) -> dict[str, Any]:
        """The body as a JSON object (parsed once)."""
        if self._body is None:
            self._body = parse_json(self.raw)
        return self._body


class Backend(Protocol):
    """Answers requests for the models it serves (see the module docstring for the implementations)."""

    @property
    def name(self) -> str:
        """What the backend is, for messages: "the built-in fake model", "llama-server for smollm2"."""
        ...

    @property
    def capabilities(self) -> frozenset[str]:
        """The names of the endpoints it answers (`Endpoint.name`, e.g. "chat/completions")."""
        ...

    def models(self) -> Sequence[ModelCard]:
        """The models it serves, in the order `/v1/models` lists them."""
        ...

    def status(self, model: str) -> ModelStatus:
        """The state of one of its models."""
        ...

    async def handle(self, request: ModelRequest) -> Response:
        """The answer (any Starlette response, streaming or not); an `APIError` for a failure before it."""
        ...

    def lifespan(self) -> AbstractAsyncContextManager[None]:
        """Entered while the server runs: open connection pools here, close them on exit."""
        ...
