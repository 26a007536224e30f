"""`run` as a pipeline: resolve the requested models → their engines provision → supervisors start → registry
→ serve. `pull` shares the provisioning step.

    RunPlan ──▶ resolve (engines.kinds) ──▶ provision (Engine.provision) ──▶ Orchestrator
                                                                           ├── Supervisor per local model
                                                                           ├── backends ──▶ ModelRegistry
                                                                           └── app ──▶ uvicorn on the bound socket

This module holds the plan and the first two steps; `orchestrator` the rest (`orchestrator.run`). Everything is
engine-agnostic: an engine kind only contributes its `Engine` (engines.base).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai_api_simulator import paths
from openai_api_simulator.backends import FakeBackend, ModelRegistry, Relay, RelaySettings, RemoteBackend
from openai_api_simulator.config import Settings
from openai_api_simulator.engines.base import Engine, Identity
from openai_api_simulator.engines.kinds import engine_for
from openai_api_simulator.provision import ProvisionOptions


@dataclass(frozen=True)
class ModelChoice:
    """A model the user asked for."""

    spec: str | None  # catalogue id, hf://…, URL or path; None: the catalogue default
    name: str | None = None  # the id clients use; None: what the engine calls it


@dataclass(frozen=True)
class RunPlan:
    """Everything `run` was asked for, before anything is downloaded or started."""

    settings: Settings
    models: tuple[ModelChoice, ...] = (ModelChoice(None),)
    provision: ProvisionOptions = field(default_factory=ProvisionOptions)
    # Configured engines by kind (`Engine.kind`); a kind not here runs in its default configuration.
    engines: Mapping[str, Engine[Any]] = field(default_factory=dict)
    upstreams: Mapping[str, Sequence[str]] = field(default_factory=dict)  # --upstream NAME → base URLs
    upstream_api_key: str | None = None
    relay: RelaySettings = field(default_factory=RelaySettings)
    log_dir: Path | None = None  # None: logs/ in the cache


@dataclass(frozen=True)
class PreparedModel:
    """A model provisioned by its engine, with the id it will be served as."""

    engine: Engine[Any]
    prepared: Any  # what `engine.provision` returned; only `engine` reads it
    identity: Identity

    def describe(self) -> list[str]:
        return self.engine.describe(self.prepared)


def provision_model(
    choice: ModelChoice,
    options: ProvisionOptions,
    engines: Mapping[str, Engine[Any]] | None = None,
    *,
    runtime: bool = True,
    weights: bool = True,
) -> PreparedModel:
    """Resolve `choice` to its engine and let the engine provision it (what `run` and `pull` both call)."""
    engine = engine_for(choice.spec, engines or {})
    prepared = engine.provision(choice.spec, options, runtime=runtime, weights=weights)
    identity = engine.identity(prepared) if weights else Identity(choice.name or "", engine.kind)
    if choice.name:
        identity = Identity(choice.name, identity.owned_by)
    return PreparedModel(engine, prepared, identity)


def remote_backends(plan: RunPlan, relay: Relay) -> list[RemoteBackend]:
    return [
        RemoteBackend(name, urls, relay, api_key=plan.upstream_api_key, created=plan.settings.fixed_created)
        for name, urls in plan.upstreams.items()
    ]


def check_upstream_ids(plan: RunPlan) -> None:
    """`DuplicateModel` now, before any download, when an `--upstream` NAME is a fake model's id."""
    ModelRegistry([FakeBackend(plan.settings), *remote_backends(plan, Relay(plan.relay))])


def log_dir(plan: RunPlan) -> Path:
    return plan.log_dir if plan.log_dir is not None else paths.cache_dir() / "logs"
