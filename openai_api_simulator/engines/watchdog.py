"""Stop an engine's process tree once the orchestrator that started it is gone.

On Linux the kernel does this for us: the supervisor sets the parent-death signal in each engine it starts
(see `orphans`). Other platforms (macOS, the BSDs, Windows) have no ``prctl``, so the supervisor starts
this module beside each engine instead::

    python -m openai_api_simulator.engines.watchdog ORCHESTRATOR_PID CHILD_PID \\
        [--orchestrator-create-time T] [--child-create-time T] [--grace SECONDS] [--interval SECONDS]

It polls both processes. When the child exits, the watchdog exits too. When the orchestrator is gone - no
such pid, another process under that pid (a different create time), or a zombie nobody has reaped yet - it
stops the child's process group the way the supervisor would: SIGTERM, a grace period, then SIGKILL for the
whole tree.

Finding a process by pid and create time and stopping its tree are `proctree`'s, shared with the supervisor.
One runs beside every engine, so this module loads nothing but psutil and `proctree`: neither httpx nor the
supervisor.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from typing import Final

import psutil

from .proctree import find_process, is_alive, stop_tree

# How often the watchdog looks at the orchestrator: often enough that an orphan lives a fraction of a
# second, rarely enough to cost nothing (one stat of /proc or one sysctl per process).
WATCH_INTERVAL: Final = 0.25
# The supervisor's default grace period for an engine to exit after SIGTERM.
DEFAULT_GRACE: Final = 5.0


def watch(
    orchestrator: psutil.Process | None,
    child: psutil.Process,
    *,
    grace: float = DEFAULT_GRACE,
    interval: float = WATCH_INTERVAL,
) -> bool:
    """Block until `child` exits (False) or `orchestrator` is gone, in which case stop the child's tree (True).

    `orchestrator` None means it was already gone when the watchdog started.
    """
    while True:
        if not is_alive(child):
            return False
        if orchestrator is None or not is_alive(orchestrator):
            stop_tree(child, grace)
            return True
        time.sleep(interval)


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
