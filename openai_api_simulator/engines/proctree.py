"""Process identity and process-tree stopping, shared by the supervisor, the orphan check and the watchdog.

A process is identified by pid *and* create time: a pid alone may have been reused by an unrelated program,
which must never be signalled. Stopping an engine means stopping its tree - its process group (the
supervisor starts every engine in a new session) and any descendant that left the group: SIGTERM once, a
grace period, then SIGKILL for whatever is left.

Everything here is synchronous (psutil, short sleeps): the supervisor runs the waiting helpers in a worker
thread, the watchdog calls them directly. This module loads only psutil, so the watchdog stays small.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from typing import Final

import psutil

# psutil computes create times from the boot time and the process start tick, so two readings of the same
# process agree to well under this; a reused pid starts at least a scheduler tick later.
CREATE_TIME_TOLERANCE: Final = 0.05
# After SIGKILL the kernel tears a process down in milliseconds; this only bounds a pathological wait
# (a process stuck in uninterruptible I/O) so that shutting down never hangs.
KILL_WAIT: Final = 5.0
# How often a grace period checks whether the tree has exited.
STOP_POLL: Final = 0.05
# Windows has no SIGKILL; psutil turns any signal there into TerminateProcess.
_SIGKILL: Final = int(getattr(signal, "SIGKILL", signal.SIGTERM))


def find_process(pid: int, create_time: float | None = None) -> psutil.Process | None:
    """The live process `pid`, if it is still the one that started at `create_time` (when given)."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > CREATE_TIME_TOLERANCE:
            return None  # the pid was reused by another program: not ours to touch
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None
    return proc if is_alive(proc) else None


def is_alive(proc: psutil.Process) -> bool:
    """Whether `proc` still runs: it exists, its pid was not reused, and it is not a zombie."""
    try:
        # is_running() compares the create time, so a reused pid reads as "not running".
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists; we may not look inside


def _descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def _leads_own_group(proc: psutil.Process) -> bool:
    """Whether `proc` leads its own process group (the supervisor starts every engine in a new session)."""
    if not hasattr(os, "killpg"):
        return False
    try:
        return os.getpgid(proc.pid) == proc.pid
    except OSError:
        return False


def _in_group(pid: int, pgid: int) -> bool:
    try:
        return os.getpgid(pid) == pgid
    except OSError:
        return False


def _signal_tree(root: psutil.Process, members: Iterable[psutil.Process], group: bool, sig: int) -> None:
    """Send `sig` to root's process group (when it leads one) and to every member outside that group.

    Each process gets the signal once: llama-server treats a second SIGTERM as "terminate immediately"
    (exit code 1) instead of shutting down cleanly.
    """
    if group:
        # Safe even after the root exited: a process-group id cannot be reused while the group has a
        # member, and an empty group answers ESRCH.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(root.pid, sig)
    for proc in members:
        if group and _in_group(proc.pid, root.pid):
            continue
        try:
            if is_alive(proc):
                proc.send_signal(sig)  # psutil refuses a reused pid (NoSuchProcess)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` for `procs` (and children they spawn meanwhile) to exit; return the survivors."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if is_alive(p)]
        seen = {p.pid for p in alive}
        for proc in list(alive):
            for child in _descendants(proc):
                if child.pid not in seen:
                    seen.add(child.pid)
                    alive.append(child)
        if not alive or time.monotonic() >= deadline:
            return alive
        procs = alive
        time.sleep(STOP_POLL)


def stop_tree(root: psutil.Process, grace: float) -> list[int]:
    """Stop `root` and everything it started: SIGTERM, up to `grace` seconds, then SIGKILL what is left.

    Returns the pids that had to be killed (empty when everything honoured SIGTERM). Blocks; the supervisor
    calls it from a worker thread.
    """
    members = [root, *_descendants(root)]  # before signalling: children are reparented once root exits
    group = _leads_own_group(root)
    _signal_tree(root, members, group, signal.SIGTERM)
    survivors = _wait_gone(members, grace)
    if not survivors:
        return []
    _signal_tree(root, survivors, group, _SIGKILL)
    _wait_gone(survivors, KILL_WAIT)
    return [p.pid for p in survivors]


def kill_group(pgid: int) -> None:
    """SIGKILL what is left of an exited engine's process group (helpers it spawned).

    Called right after the engine itself exited: the group id stays reserved while any member lives, so this
    reaches the engine's own leftovers. (Only once the group is empty could its number be reused, and then
    only by a new group leader in the milliseconds since the exit; ESRCH is the usual answer.)
    """
    if not hasattr(os, "killpg"):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, _SIGKILL)
