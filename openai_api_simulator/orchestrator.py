"""Serving a `RunPlan`: one supervisor per local model, the registry of every backend, and one event loop.

Order matters for the user: the public port is bound first (by the caller: a busy port fails before any
download), then the models are provisioned (`pipeline`), then one event loop runs the public server and the
supervisors. The fake models answer from the first moment; a real model answers 503 with Retry-After until its
engine's health check passes. Ctrl+C or SIGTERM stop the public server, then the supervisors stop their
engines; if the orchestrator is killed outright, the children die with it (`engines.orphans`).

What happens is told to a `RunEvents` (the command line prints it); nothing here prints.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from openai_api_simulator import net
from openai_api_simulator.app import create_app
from openai_api_simulator.backends import Backend, FakeBackend, Relay
from openai_api_simulator.backends.engine import EngineBackend
from openai_api_simulator.engines import EngineStartError, EngineState, Supervisor
from openai_api_simulator.engines.base import Launch
from openai_api_simulator.pipeline import PreparedModel, RunPlan, check_upstream_ids, log_dir, provision_model
from openai_api_simulator.pipeline import remote_backends as build_remotes
from openai_api_simulator.server import make_server


class RunEvents(Protocol):
    """What `run` reports while it serves."""

    def engine_starting(self, model: str, launch: Launch, port: int) -> None:
        """The first launch of `model`'s engine, about to start on `port` (restarts are `engine_state`)."""

    def engine_state(self, model: str, state: EngineState, message: str) -> None:
        """A state change of `model`'s engine, or a notable event within one."""

    def engine_failed(self, model: str, message: str) -> None:
        """`model`'s engine failed for good (it did not start, or crashed too often); `run` stops."""

    def ready(self, base_url: str, models: list[str], sample_model: str, took: float) -> None:
        """Every engine is ready: the API at `base_url` serves `models`."""


@dataclass
class _Engine:
    model: str
    launch: Launch
    supervisor: Supervisor = field(init=False)
    announced: bool = False  # its first start was told (later ones are restarts)


class Orchestrator:
    def __init__(self, plan: RunPlan, prepared: list[PreparedModel], events: RunEvents) -> None:
        self.plan = plan
        self.events = events
        self.exit_code = 0
        self._started_at = time.monotonic()
        logs = log_dir(plan)
        logs.mkdir(parents=True, exist_ok=True)
        relay = Relay(plan.relay)
        self.engines: list[_Engine] = []
        backends: list[Backend] = [FakeBackend(plan.settings)]
        for model in prepared:
            model_id = model.identity.model_id
            launch = model.engine.launch(model.prepared, model_id, logs)
            engine = _Engine(model_id, launch)
            engine.supervisor = Supervisor(
                launch.spec,
                on_state=partial(self._on_state, engine),
                on_fatal=partial(self._on_fatal, engine),
                on_spawn=partial(self._on_spawn, engine),
            )
            self.engines.append(engine)
            backends.append(
                EngineBackend(
                    model_id,
                    engine.supervisor,
                    relay,
                    capabilities=model.engine.capabilities,
                    owned_by=model.identity.owned_by,
                    created=plan.settings.fixed_created,
                )
            )
        self.remotes = build_remotes(plan, relay)
        backends.extend(self.remotes)
        settings = plan.settings
        # Raises DuplicateModel before anything starts when two models share an id.
        self.app = create_app(settings, backends)
        self.server = make_server(
            self.app,
            log_level=settings.log_level,
            access_log=settings.access_log,
            log_format=settings.log_format,
            limits=settings.connections,
        )

    # -- what the supervisors report

    def _on_state(self, engine: _Engine, state: EngineState, message: str) -> None:
        if state is EngineState.STARTING and not engine.announced:
            return  # `_on_spawn` says it, with the port, the device and the log file
        self.events.engine_state(engine.model, state, message)

    def _on_spawn(self, engine: _Engine, port: int) -> None:
        if not engine.announced:  # a restart: the supervisor's own messages say so
            engine.announced = True
            self.events.engine_starting(engine.model, engine.launch, port)

    def _on_fatal(self, engine: _Engine, message: str) -> None:
        self._fail(engine.model, message)

    def _fail(self, model: str, message: str) -> None:
        self.events.engine_failed(model, message)
        self.exit_code = 1
        self.server.should_exit = True

    # -- the lifecycle

    async def _start_engines(self, sock: socket.socket) -> None:
        async def start(engine: _Engine) -> bool:
            try:
                await engine.supervisor.start()
            except EngineStartError as exc:
                self._fail(engine.model, str(exc))
                return False
            return True

        started = await asyncio.gather(*(start(engine) for engine in self.engines))
        if all(started):
            host, port = sock.getsockname()[:2]
            models = [
                *(e.model for e in self.engines),
                *self.plan.settings.fake_models,
                *(remote.model for remote in self.remotes),
            ]
            sample = self.engines[0].model if self.engines else self.plan.settings.fake_models[0]
            took = time.monotonic() - self._started_at
            self.events.ready(net.base_url(host, port) + "/v1", models, sample, took)

    async def serve(self, sock: socket.socket) -> int:
        starting = asyncio.create_task(self._start_engines(sock))
        try:
            await self.server.serve(sockets=[sock])
        finally:
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await asyncio.gather(*(engine.supervisor.stop() for engine in self.engines))
        return self.exit_code


def run(plan: RunPlan, sock: socket.socket, events: RunEvents) -> int:
    """Provision, supervise and serve `plan` on `sock` until Ctrl+C/SIGTERM or a fatal engine failure.

    Returns the process exit code. Raises `ProvisionError` (nothing to serve) and `DuplicateModel` (two models
    with one id) before anything is started; an `--upstream` that takes a fake model's id fails before any
    download.
    """
    check_upstream_ids(plan)
    prepared = [provision_model(choice, plan.provision, plan.engines) for choice in plan.models]
    orchestrator = Orchestrator(plan, prepared, events)
    return asyncio.run(orchestrator.serve(sock))
