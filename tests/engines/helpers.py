"""What the engine tests share: the fake upstream program, a supervisor built for a test, what it reported.

Async code runs under ``asyncio.run`` inside plain tests, as it runs under uvicorn's loop in the product.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from openai_api_simulator.engines import EngineState, LaunchSpec, Supervisor

T = TypeVar("T")
FAKES = Path(__file__).resolve().parents[1] / "support" / "fakes"
UPSTREAM = FAKES / "upstream.py"
# Generous deadlines for "eventually": the machine may be slow and busy; passing tests never wait them out.
EVENTUALLY = 15.0


def fake(*flags: str) -> list[str]:
    """The command of the fake upstream (tests/support/fakes/upstream.py) with `flags`."""
    return [sys.executable, str(UPSTREAM), "--port", "{port}", *flags]


async def wait_ready(sup: Supervisor, timeout: float) -> bool:
    """Whether `sup` is READY within `timeout` (False at once once it stops or fails)."""
    deadline = time.monotonic() + timeout
    while sup.state is not EngineState.READY:
        if sup.state in (EngineState.STOPPED, EngineState.STOPPING, EngineState.FAILED):
            return False
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 90))


@dataclass
class Recorder:
    """Everything the supervisor reported, in order."""

    events: list[tuple[EngineState, str]] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)

    def on_state(self, state: EngineState, message: str) -> None:
        self.events.append((state, message))

    def on_fatal(self, message: str) -> None:
        self.fatal.append(message)

    def transitions(self) -> list[EngineState]:
        """The states entered (an event repeating the previous state is a notice, not a transition)."""
        states: list[EngineState] = []
        for state, _ in self.events:
            if not states or states[-1] is not state:
                states.append(state)
        return states

    def messages(self) -> str:
        return "\n".join(message for _, message in self.events)


def make(
    tmp_path: Path, argv: list[str], rec: Recorder | None = None, *, ready_timeout: float = 20.0, **kwargs: Any
) -> Supervisor:
    """A supervisor for `argv` with quick test timings, its pid file and log under `tmp_path`."""
    rec = rec or Recorder()
    spec = LaunchSpec(
        name=kwargs.pop("name", "fake-model"),
        argv=argv,
        log_file=tmp_path / "logs" / "fake-model.log",
        ready_timeout=ready_timeout,
        port=kwargs.pop("port", None),
        api_key=kwargs.pop("api_key", None),
    )
    options: dict[str, Any] = {
        "grace_period": 2.0,
        "backoff_initial": 0.05,
        "pid_dir": tmp_path / "run",
        "on_state": rec.on_state,
        "on_fatal": rec.on_fatal,
        **kwargs,
    }
    return Supervisor(spec, **options)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pid: int, timeout: float = EVENTUALLY) -> bool:
    """Whether `pid` is gone (or a zombie nobody reaps: a dead orphan under a non-reaping init) in time."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
