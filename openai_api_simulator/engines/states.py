"""The states of a supervised engine and the only moves allowed between them.

`TRANSITIONS` is the table the supervisor checks every state change against; any other move is a bug and
raises `InvalidTransition`::

    state        may become                       when
    stopped      starting                         start()
    starting     ready | failed | stopping        healthy | exited early or timed out | stop()
    ready        restarting | stopping | failed   the child exited | stop() | the supervisor itself broke
    restarting   ready | failed | stopping        healthy again | max_restarts in a row | stop()
    stopping     stopped                          the child and its tree are gone
    failed       starting | stopping              start() | stop()
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final


class EngineState(str, enum.Enum):
    """Where an engine is in its lifecycle (the value is what ``/health`` reports)."""

    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    FAILED = "failed"


_S = EngineState
TRANSITIONS: Final[Mapping[EngineState, frozenset[EngineState]]] = MappingProxyType(
    {
        _S.STOPPED: frozenset({_S.STARTING}),
        _S.STARTING: frozenset({_S.READY, _S.FAILED, _S.STOPPING}),
        # READY -> FAILED only when the supervisor itself breaks (a bug, the OS refusing); crashes restart.
        _S.READY: frozenset({_S.RESTARTING, _S.STOPPING, _S.FAILED}),
        _S.RESTARTING: frozenset({_S.READY, _S.FAILED, _S.STOPPING}),
        _S.STOPPING: frozenset({_S.STOPPED}),
        # FAILED keeps nothing running: start again, or stop to settle in STOPPED.
        _S.FAILED: frozenset({_S.STARTING, _S.STOPPING}),
    }
)


class InvalidTransition(RuntimeError):
    """A state change the table does not allow: a bug in the supervisor, never the user's doing."""


def check_transition(current: EngineState, new: EngineState) -> None:
    """Raise `InvalidTransition` unless `TRANSITIONS` allows `current` -> `new`."""
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"engine state cannot go from {current.value} to {new.value}")
