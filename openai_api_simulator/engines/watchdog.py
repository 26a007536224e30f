"""Stop an engine's process tree once the orchestrator that started it is gone.

On Linux the kernel does this for us: the supervisor sets the parent-death signal in each engine it starts
(see `supervisor`). Other platforms (macOS, the BSDs, Windows) have no ``prctl``, so the supervisor starts
this module beside each engine instead::

    python -m openai_api_simulator.engines.watchdog ORCHESTRATOR_PID CHILD_PID \\
        [--orchestrator-create-time T] [--child-create-time T] [--grace SECONDS] [--interval SECONDS]

It polls both processes. When the child exits, the watchdog exits too. When the orchestrator is gone - no
such pid, another process under that pid (a different create time), or a zombie nobody has reaped yet - it
stops the child's process group the way the supervisor would: SIGTERM, a grace period, then SIGKILL for the
whole tree.

The helpers here identify a process by pid *and* create time (a pid alone may have been reused by an
unrelated program) and stop a process tree. They are synchronous (psutil, short sleeps) and shared with the
supervisor, which runs the waiting ones in a worker thread.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
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
# How often the watchdog looks at the orchestrator: often enough that an orphan lives a fraction of a
# second, rarely enough to cost nothing (one stat of /proc or one sysctl per process).
WATCH_INTERVAL: Final = 0.25
# The supervisor's default grace period for an engine to exit after SIGTERM.
DEFAULT_GRACE: Final = 5.0
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


def _wait_gone(procs: list[psutil.Process], timeout: float, sleep: Callable[[float], None]) -> list[psutil.Process]:
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
        sleep(STOP_POLL)


def stop_tree(root: psutil.Process, grace: float, *, sleep: Callable[[float], None] = time.sleep) -> list[int]:
    """Stop `root` and everything it started: SIGTERM, up to `grace` seconds, then SIGKILL what is left.

    Returns the pids that had to be killed (empty when everything honoured SIGTERM). Blocks; the supervisor
    calls it from a worker thread.
    """
    members = [root, *_descendants(root)]  # before signalling: children are reparented once root exits
    group = _leads_own_group(root)
    _signal_tree(root, members, group, signal.SIGTERM)
    survivors = _wait_gone(members, grace, sleep)
    if not survivors:
        return []
    _signal_tree(root, survivors, group, _SIGKILL)
    _wait_gone(survivors, KILL_WAIT, sleep)
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


def watch(
    orchestrator: psutil.Process | None,
    child: psutil.Process,
    *,
    grace: float = DEFAULT_GRACE,
    interval: float = WATCH_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Block until `child` exits (False) or `orchestrator` is gone, in which case stop the child's tree (True).

    `orchestrator` None means it was already gone when the watchdog started.
    """
    while True:
        if not is_alive(child):
            return False
        if orchestrator is None or not is_alive(orchestrator):
            stop_tree(child, grace, sleep=sleep)
            return True
        sleep(interval)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openai_api_simulator.engines.watchdog",
        description="Stop CHILD_PID's process tree when ORCHESTRATOR_PID is gone.",
    )
    parser.add_argument("orchestrator_pid", type=int)
    parser.add_argument("child_pid", type=int)
    parser.add_argument("--orchestrator-create-time", type=float, default=None)
    parser.add_argument("--child-create-time", type=float, default=None)
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE)
    parser.add_argument("--interval", type=float, default=WATCH_INTERVAL)
    args = parser.parse_args(argv)
    # A terminal's Ctrl+C is for the orchestrator, which stops the engine itself; the watchdog must outlive
    # that stop, not race it. (It also runs in its own session, so this is belt and braces.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = find_process(args.child_pid, args.child_create_time)
    if child is None:
        return 0
    orchestrator = find_process(args.orchestrator_pid, args.orchestrator_create_time)
    if watch(orchestrator, child, grace=args.grace, interval=args.interval):
        print(
            f"watchdog: orchestrator pid {args.orchestrator_pid} is gone; stopped pid {args.child_pid} and its "
            "process group",
            file=sys.stderr,
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
