"""Engines: local inference servers (llama.cpp's llama-server today) run and watched by the orchestrator.

Each engine is described by a `LaunchSpec` (its command with a ``{port}`` placeholder, log file, health
path, start-up deadline) and owned by one `Supervisor`, whatever the engine::

    sup = Supervisor(spec, on_state=print, on_fatal=shutdown)
    await sup.start()          # STOPPED -> STARTING -> READY, or EngineStartError with the log's last lines
    sup.base_url               # "http://127.0.0.1:PORT" while READY; the relay forwards there
    ...                        # a crash: READY -> RESTARTING (clients get 503 + Retry-After) -> READY
    await sup.stop()           # SIGTERM to the process group, grace period, kill the tree -> STOPPED

The lifecycle in one place:

* start: an engine left by a crashed earlier run (pid file, `orphans`) is stopped first; the child is launched
  in its own session on a free port (picked again if someone takes it first); ``/health`` is polled until 200.
* ready: a monitor waits for the child to exit; an exit is a crash and leads to a relaunch after an
  exponential backoff, or to FAILED and ``on_fatal`` after ``max_restarts`` in a row.
* stop: always the whole tree (`proctree`), always waited for; nothing survives the orchestrator, even a
  SIGKILLed one (the parent-death signal on Linux, `watchdog` elsewhere).

The modules, one concern each:

* `states`: `EngineState`, the `TRANSITIONS` table and its check.
* `launch`: `LaunchSpec`, the launch's log, `EngineStartError`.
* `supervisor`: `Supervisor`, the lifecycle above.
* `health`: asking an engine whether it is ready.
* `proctree`: finding a process by pid and create time, stopping a process tree.
* `orphans`: pid files, the parent-death signal, starting the watchdog.
* `watchdog`: the watchdog process itself (``python -m openai_api_simulator.engines.watchdog``).

What an engine kind contributes is `base.Engine` (provisioning, its launch, its capabilities); the kinds
are listed in `kinds`, and each lives in its own module (``llama`` for llama.cpp's llama-server).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .launch import EngineStartError, LaunchSpec
    from .orphans import OrphanGuard, default_pid_dir
    from .states import TRANSITIONS, EngineState, InvalidTransition, check_transition
    from .supervisor import Supervisor

# Where each re-exported name lives.
_HOMES = {
    "TRANSITIONS": "states",
    "EngineState": "states",
    "InvalidTransition": "states",
    "check_transition": "states",
    "EngineStartError": "launch",
    "LaunchSpec": "launch",
    "OrphanGuard": "orphans",
    "default_pid_dir": "orphans",
    "Supervisor": "supervisor",
}

__all__ = [
    "TRANSITIONS",
    "EngineStartError",
    "EngineState",
    "InvalidTransition",
    "LaunchSpec",
    "OrphanGuard",
    "Supervisor",
    "check_transition",
    "default_pid_dir",
]


def __getattr__(name: str) -> Any:
    # Re-exported lazily: `python -m openai_api_simulator.engines.watchdog` imports this package first, and
    # the watchdog (one beside every engine where there is no parent-death signal) should load neither httpx
    # nor the supervisor.
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{home}")
    return getattr(module, name)
