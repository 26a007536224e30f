"""`openai-api-simulator run`: provision, supervise llama-server, and serve it beside the fake on one port.

Order matters for the user: the public port is bound first (a busy port fails before any download), then
llama-server and the model are provisioned, then one event loop runs both the public server and the
supervisor. The fake models answer from the first moment; the real model answers 503 with Retry-After
until llama-server's health check passes. Ctrl+C or SIGTERM stop the public server, then the supervisor
stops llama-server; if the orchestrator is killed outright, the child dies with it (parent-death signal
or watchdog, see `engines.supervisor`).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from openai_api_simulator.config import Settings
from openai_api_simulator.engines import EngineStartError, EngineState, Supervisor
from openai_api_simulator.engines.llama import LlamaLaunch, LlamaOptions, build_launch
from openai_api_simulator.paths import cache_dir
from openai_api_simulator.provision import LlamaInstall, ModelFile
from openai_api_simulator.proxy import ProxySettings, UpstreamModel, create_proxy_app
from openai_api_simulator.server import make_server


class SupervisedUpstream:
    """The proxy's view of a supervised engine (an `UpstreamSource`)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

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


@dataclass
class RunPlan:
    """Everything `run` decided before serving."""

    settings: Settings
    install: LlamaInstall
    model: ModelFile
    public_id: str
    options: LlamaOptions
    extra_upstreams: list[UpstreamModel] = field(default_factory=list)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    log_dir: Path = field(default_factory=lambda: cache_dir() / "logs")


def _build_label(install: LlamaInstall) -> str:
    """`b11434`, or the build a user's own binary reports (`version: 0.6.0-dev (build 11434, …)`)."""
    if install.tag:
        return install.tag
    match = re.search(r"build (\d+)", install.version)
    return f"b{match.group(1)}" if match else install.version.removeprefix("version: ")


def _owner(model: ModelFile) -> str:
    return model.entry.owner if model.entry is not None and model.entry.owner else "llama.cpp"


class Orchestrator:
    def __init__(self, plan: RunPlan, console: Console) -> None:
        self.plan = plan
        self.console = console
        plan.log_dir.mkdir(parents=True, exist_ok=True)
        self.launch: LlamaLaunch = build_launch(plan.install, plan.model, plan.public_id, plan.options, plan.log_dir)
        self.exit_code = 0
        self.supervisor = Supervisor(
            self.launch.spec, on_state=self._on_state, on_fatal=self._on_fatal, on_spawn=self._on_spawn
        )
        self.server = make_server(
            create_proxy_app(plan.settings, self.upstreams(), plan.proxy),
            log_level=plan.settings.log_level,
            access_log=plan.settings.access_log,
        )
        self._started_at = time.monotonic()
        self._announced_start = False

    def upstreams(self) -> list[UpstreamModel]:
        real = UpstreamModel(
            id=self.plan.public_id, source=SupervisedUpstream(self.supervisor), owned_by=_owner(self.plan.model)
        )
        return [real, *self.plan.extra_upstreams]

    # -- output ---------------------------------------------------------------------------------------

    def _on_state(self, state: EngineState, message: str) -> None:
        if state is EngineState.STARTING and not self._announced_start:
            return  # `_on_spawn` says it, with the port, the backend and the log file
        style = {EngineState.READY: "green", EngineState.RESTARTING: "yellow", EngineState.FAILED: "red"}.get(
            state, "dim"
        )
        self.console.print(f"[{style}]{message}[/]")

    def _on_fatal(self, message: str) -> None:
        self.console.print(f"[red]Error:[/] {message}\nStopping: the model cannot be served.")
        self.exit_code = 1
        self.server.should_exit = True

    def _banner(self, sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{shown}:{port}/v1"
        models = [self.plan.public_id, *self.plan.settings.fake_models, *(u.id for u in self.plan.extra_upstreams)]
        took = time.monotonic() - self._started_at
        self.console.print(f"\n[bold green]Ready[/] in {took:.1f} s — OpenAI-compatible API at [cyan]{base}[/]")
        self.console.print(f"  models: {', '.join(models)}")
        sample = json.dumps({"model": self.plan.public_id, "messages": [{"role": "user", "content": "Hello!"}]})
        auth = " -H 'Authorization: Bearer $OAS_API_KEY'" if self.plan.settings.api_key else ""
        self.console.print(
            f"  try:    curl {base}/chat/completions -H 'Content-Type: application/json'{auth} -d '{sample}'",
            soft_wrap=True,
        )
        self.console.print("  stop:   Ctrl+C\n")

    # -- lifecycle ------------------------------------------------------------------------------------

    def _on_spawn(self, port: int) -> None:
        p = self.plan
        if self._announced_start:  # a restart: the supervisor's own messages say so
            return
        self._announced_start = True
        self.console.print(
            f"Starting llama.cpp server {_build_label(p.install)} on 127.0.0.1:{port} ({self.launch.backend}) "
            f"for [bold]{p.public_id}[/]; log: {self.launch.spec.log_file}"
        )

    async def _start_engine(self, sock: socket.socket) -> None:
        try:
            await self.supervisor.start()
        except EngineStartError as exc:
            self.console.print(f"[red]Error:[/] {exc}")
            self.exit_code = 1
            self.server.should_exit = True
            return
        self._banner(sock)

    async def serve(self, sock: socket.socket) -> int:
        engine = asyncio.create_task(self._start_engine(sock))
        try:
            await self.server.serve(sockets=[sock])
        finally:
            engine.cancel()
            await asyncio.gather(engine, return_exceptions=True)
            await self.supervisor.stop()
        return self.exit_code


def run(plan: RunPlan, sock: socket.socket, console: Console) -> int:
    """Serve until Ctrl+C/SIGTERM or a fatal engine failure; the process exit code."""
    orchestrator = Orchestrator(plan, console)
    try:
        return asyncio.run(orchestrator.serve(sock))
    finally:
        sock.close()
