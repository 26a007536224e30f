"""Engines: local inference servers (llama.cpp's llama-server today) run and watched by the orchestrator.

Each engine is described by a `LaunchSpec` (its command with a ``{port}`` placeholder, log file, health
path, start-up deadline) and owned by one `Supervisor`, whatever the engine::

    sup = Supervisor(spec, on_state=print, on_fatal=shutdown)
    await sup.start()          # STOPPED -> STARTING -> READY, or EngineStartError with the log's last lines
    sup.base_url               # "http://127.0.0.1:PORT" while READY; the proxy forwards there
    ...                        # a crash: READY -> RESTARTING (clients get 503 + Retry-After) -> READY
    await sup.stop()           # SIGTERM to the process group, grace period, kill the tree -> STOPPED

The lifecycle in one place:

* start: an engine left by a crashed earlier run (pid file) is stopped first; the child is launched in its
  own session on a free port (picked again if someone takes it first); ``/health`` is polled until 200.
* ready: a monitor waits for the child to exit; an exit is a crash and leads to a relaunch after an
  exponential backoff, or to FAILED and ``on_fatal`` after ``max_restarts`` in a row.
* stop: always the whole tree, always waited for; nothing survives the orchestrator, even a SIGKILLed one
  (the parent-death signal on Linux, `watchdog` elsewhere).

States and legal transitions: `EngineState`, `TRANSITIONS`. Each engine's launch recipe lives in its own
module (``llama`` for llama-server) and only builds a `LaunchSpec`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .supervisor import (
        TRANSITIONS,
        EngineStartError,
        EngineState,
        InvalidTransition,
        LaunchSpec,
        OrphanGuard,
        Supervisor,
        check_transition,
        default_pid_dir,
    )

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
    # nor the supervisor - which imports the watchdog module and would make runpy warn about running a
    # module that is already imported.
    if name in __all__:
        from . import supervisor

        return getattr(supervisor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
