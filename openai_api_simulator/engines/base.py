"""The engine interface: what a kind of local inference server must say for `run` and `pull` to use it.

An engine kind (llama.cpp's llama-server today) knows how to get what it needs onto the disk, how to start
its server for one model (a `LaunchSpec` the engine-agnostic `Supervisor` runs), which endpoints that server
answers, and how to describe what it provisioned. Everything else - supervision, relaying, the model list,
errors - is shared. A new engine is one module with an `Engine` subclass and one line in `kinds.ENGINE_KINDS`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import psutil

from openai_api_simulator.engines.launch import LaunchSpec
from openai_api_simulator.provision import ProvisionOptions

P = TypeVar("P")


def physical_cores() -> int:
    """Threads an engine should compute with: hyper-threads slow matrix kernels down, so physical cores."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


@dataclass(frozen=True)
class Launch:
    """How to start one model's server, and how the start-up line names it."""

    spec: LaunchSpec
    server: str  # "llama.cpp server b11434": what is starting
    device: str  # "CPU", "Metal", "CUDA": what it runs on
    notes: tuple[str, ...] = ()  # more for the start-up line: "bfloat16, 2 threads"


@dataclass(frozen=True)
class Identity:
    """The id a provisioned model is served as unless the user names it, and who publishes it."""

    model_id: str
    owned_by: str


class Engine(ABC, Generic[P]):
    """One kind of engine; `P` is what its `provision` returns and its `launch` takes."""

    kind: ClassVar[str]  # the name catalogue entries use ("llama.cpp")
    capabilities: ClassVar[frozenset[str]]  # the endpoints its server answers (`Endpoint.name`)

    @classmethod
    def claims(cls, spec: str) -> bool:
        """Whether a model spec that is no catalogue id belongs to this kind (the default kind takes the rest)."""
        return False

    @abstractmethod
    def provision(
        self, spec: str | None, options: ProvisionOptions, *, runtime: bool = True, weights: bool = True
    ) -> P:
        """Get the server (`runtime`) and the model (`weights`) for `spec` onto the disk, verified; once."""

    @abstractmethod
    def identity(self, prepared: P) -> Identity: ...

    @abstractmethod
    def launch(self, prepared: P, model_id: str, log_dir: Path) -> Launch:
        """The launch of `prepared` serving `model_id`, its log in `log_dir`."""

    @abstractmethod
    def describe(self, prepared: P) -> list[str]:
        """What was provisioned and where, a line each (what `pull` prints)."""
