"""An engine kind made for tests: the fake upstream program (tests/support/fakes/upstream.py) as a server.

It is a complete `Engine` in a few lines - what a new engine kind has to provide - and it claims the model
specs `example://NAME`. `register` adds it to `ENGINE_KINDS` for one test.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from openai_api_simulator.engines import LaunchSpec
from openai_api_simulator.engines import kinds as kinds_module
from openai_api_simulator.engines.base import Engine, Identity, Launch
from openai_api_simulator.provision import ModelSpecError, ProvisionOptions

UPSTREAM = Path(__file__).resolve().parent / "fakes" / "upstream.py"
PREFIX = "example://"


@dataclass(frozen=True)
class ExamplePrepared:
    name: str
    flags: tuple[str, ...]


class ExampleEngine(Engine[ExamplePrepared]):
    kind: ClassVar[str] = "example"
    capabilities: ClassVar[frozenset[str]] = frozenset({"chat/completions"})

    def __init__(self, *flags: str) -> None:
        self.flags = flags  # passed to the fake upstream (--slow-start 0.3, --exit-at-once 1, ...)
        self.provisioned: list[tuple[str | None, bool, bool]] = []

    @classmethod
    def claims(cls, spec: str) -> bool:
        return spec.startswith(PREFIX)

    def provision(
        self, spec: str | None, options: ProvisionOptions, *, runtime: bool = True, weights: bool = True
    ) -> ExamplePrepared:
        self.provisioned.append((spec, runtime, weights))
        if spec is None or not spec.startswith(PREFIX) or spec == PREFIX:
            raise ModelSpecError(f"{spec!r} is not an example:// model")
        return ExamplePrepared(spec.removeprefix(PREFIX), self.flags)

    def identity(self, prepared: ExamplePrepared) -> Identity:
        return Identity(prepared.name, "example-lab")

    def launch(self, prepared: ExamplePrepared, model_id: str, log_dir: Path) -> Launch:
        argv = [sys.executable, str(UPSTREAM), "--port", "{port}", *prepared.flags]
        spec = LaunchSpec(name=model_id, argv=argv, log_file=log_dir / f"example-{model_id}.log", ready_timeout=20)
        return Launch(spec, server="example server", device="CPU")

    def describe(self, prepared: ExamplePrepared) -> list[str]:
        return [f"example model {prepared.name}"]


def register(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `example` a known kind (after the default one) for the current test."""
    kinds = {**kinds_module.ENGINE_KINDS, "example": f"{__name__}:ExampleEngine"}
    monkeypatch.setattr(kinds_module, "ENGINE_KINDS", kinds)
