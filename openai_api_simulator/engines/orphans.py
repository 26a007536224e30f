"""No engine outlives its orchestrator: pid files, the parent-death signal and the watchdog.

An orchestrator that exits normally stops its engines itself (`supervisor`). This module covers the ways
it can end without doing so, and their aftermath:

* **Parent-death signal** (Linux): each child asks the kernel, between fork and exec, for SIGKILL when its
  parent goes (``prctl(PR_SET_PDEATHSIG)``), so even a SIGKILLed orchestrator takes its engines along.
* **Watchdog** (everywhere else): a small process started beside each engine (`watchdog`) that stops the
  engine's tree once the orchestrator is gone.
* **Pid files**: one per engine (``{pid_dir}/{name}.pid``: pid, create time, argv[0], the orchestrator's
  pid and create time, ...) lets the next start find an engine a crashed run left behind and stop it - only
  if that very process (same create time) still runs and its orchestrator is gone, so a reused pid or an
  engine another live orchestrator owns is never touched.

`OrphanGuard` names the choice between the first two ("auto" picks the parent-death signal where it
exists). Nothing here depends on which engine runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import psutil

from .. import paths
from . import proctree
from .launch import LaunchSpec, open_log

log = logging.getLogger(__name__)

OrphanGuard = Literal["auto", "pdeathsig", "watchdog", "none"]

_PR_SET_PDEATHSIG: Final = 1
# The folder holding the `openai_api_simulator` package, for the watchdog's PYTHONPATH.
_PACKAGE_ROOT: Final = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------------
# Pid files and orphans from an earlier run


def default_pid_dir() -> Path:
    """Where pid files go unless told otherwise: ``run/`` in the cache (``OAS_CACHE_DIR`` moves it)."""
    return paths.cache_dir() / "run"


def pid_file_path(pid_dir: Path, name: str) -> Path:
    """The pid file of engine `name` (a model id such as ``hf://org/Model:Q4``, made safe as a file name)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return pid_dir / f"{stem or 'engine'}.pid"


def write_pid_file(pid_file: Path, spec: LaunchSpec, *, pid: int, create_time: float, argv0: str, port: int) -> None:
    """Record the engine just started from `spec` (and this orchestrator) for the next run's orphan check."""
    me = psutil.Process()
    record = {
        "pid": pid,
        "create_time": create_time,
        "argv0": argv0,
        "program": spec.program,
        "orchestrator_pid": me.pid,
        "orchestrator_create_time": me.create_time(),
        "name": spec.name,
        "port": port,
        "log_file": str(spec.log_file),
    }
    try:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a run that reads it meanwhile sees the old record or the new, never half.
        staging = pid_file.with_name(f".{pid_file.name}.{os.getpid()}")
        staging.write_text(json.dumps(record) + "\n")
        staging.replace(pid_file)
    except OSError as exc:  # only the next run's orphan check needs it: go on without
        log.warning("could not write the pid file %s: %s", pid_file, exc)


def _read_pid_file(pid_file: Path) -> dict[str, Any] | None:
    """The record, None when there is no pid file, {} when it cannot be read or parsed."""
    try:
        record = json.loads(pid_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def remove_pid_file(pid_file: Path, pid: int | None = None) -> None:
    """Remove the pid file; with `pid`, only while it still names that process (another run may own it)."""
    if pid is not None:
        record = _read_pid_file(pid_file)
        if record is None or record.get("pid") != pid:
            return
    with contextlib.suppress(OSError):
        pid_file.unlink()


@dataclass(frozen=True)
class StoppedOrphan:
    """An engine a crashed earlier run left behind, now stopped."""

    pid: int
    program: str | None  # the name of the program the pid file recorded, when it did


async def stop_orphan(pid_file: Path, grace: float) -> StoppedOrphan | None:
    """Stop the engine a crashed earlier run left behind, if `pid_file` names one; say which it was."""
    record = _read_pid_file(pid_file)
    if record is None:
        return None
    pid, create_time = record.get("pid"), record.get("create_time")
    orch_pid, orch_time = record.get("orchestrator_pid"), record.get("orchestrator_create_time")
    if not isinstance(pid, int) or not isinstance(create_time, (int, float)):
        remove_pid_file(pid_file)  # unreadable: nothing can be safely done with it
        return None
    orphan = proctree.find_process(pid, float(create_time))
    if orphan is None:
        remove_pid_file(pid_file)  # gone, or the pid now belongs to an unrelated program: leave that alone
        return None
    if isinstance(orch_pid, int):
        owner = proctree.find_process(orch_pid, float(orch_time) if isinstance(orch_time, (int, float)) else None)
        if owner is not None:
            log.info("%s: pid %s belongs to a running orchestrator (pid %s)", pid_file, pid, orch_pid)
            return None
    await asyncio.to_thread(proctree.stop_tree, orphan, grace)
    remove_pid_file(pid_file)
    program, argv0 = record.get("program"), record.get("argv0")
    if isinstance(program, str) and program:
        return StoppedOrphan(pid, program)
    return StoppedOrphan(pid, Path(argv0).name if isinstance(argv0, str) and argv0 else None)


# ------------------------------------------------------------------------------------------------
# The parent-death signal


@functools.cache
def _prctl() -> Any | None:
    """libc's prctl on Linux, loaded in the parent: a forked child must not load libraries."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    func.restype = ctypes.c_int
    func.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return func


def resolve_guard(guard: OrphanGuard) -> OrphanGuard:
    """`guard` with "auto" made concrete: the parent-death signal where the OS has it, else the watchdog."""
    if guard == "auto":
        return "pdeathsig" if _prctl() is not None else "watchdog"
    if guard == "pdeathsig" and _prctl() is None:
        raise ValueError("orphan_guard='pdeathsig' needs Linux (prctl); use 'watchdog'")
    return guard


def pdeathsig_preexec() -> Callable[[], None]:
    """Code for the forked child to run before exec: die with SIGKILL when this process goes.

    The kernel sends the parent-death signal when the *thread* that forked the child exits, not the
    process. asyncio forks from the event loop's thread (``create_subprocess_exec`` runs ``Popen`` there),
    which lives as long as the orchestrator serves, so that is the right owner; never launch engines from a
    short-lived worker thread (``asyncio.to_thread``), or they would die with it.
    """
    prctl, parent_pid = _prctl(), os.getpid()
    if prctl is None:
        raise RuntimeError("the parent-death signal needs Linux (prctl)")

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:
            # The orchestrator died between fork and prctl: the signal will never come, so go now.
            os._exit(1)

    return preexec


# ------------------------------------------------------------------------------------------------
# The watchdog


async def start_watchdog(
    child_pid: int, child_create_time: float, *, grace: float, log_file: Path, name: str
) -> asyncio.subprocess.Process | None:
    """Start `watchdog` for the child (platforms without a parent-death signal); None if it cannot run.

    Its complaints go to the engine's log, where whoever reads about the engine will see them.
    """
    me = psutil.Process()
    argv = [
        sys.executable,
        "-m",
        "openai_api_simulator.engines.watchdog",
        str(me.pid),
        str(child_pid),
        f"--orchestrator-create-time={me.create_time()!r}",
        f"--child-create-time={child_create_time!r}",
        f"--grace={grace!r}",
    ]
    # The package may run from a source tree the child's sys.path does not know; name its root.
    pythonpath = (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p)}
    kwargs: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
    try:
        with open_log(log_file) as log_fh:
            return await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_fh, env=env, **kwargs
            )
    except OSError as exc:
        log.warning("could not start the watchdog for %s (%s); it may outlive a crash", name, exc)
        return None


async def stop_watchdog(dog: asyncio.subprocess.Process) -> None:
    """End the watchdog of an engine that is gone, and reap it."""
    if dog.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            dog.kill()
    await dog.wait()
