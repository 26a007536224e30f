"""The supervisor: the one owner of an engine process's lifecycle (llama-server today, any engine later).

States and the legal transitions between them (`TRANSITIONS`; any other move is a bug and raises
`InvalidTransition`)::

    state        may become                       when
    stopped      starting                         start()
    starting     ready | failed | stopping        healthy | exited early or timed out | stop()
    ready        restarting | stopping | failed   the child exited | stop() | the supervisor itself broke
    restarting   ready | failed | stopping        healthy again | max_restarts in a row | stop()
    stopping     stopped                          the child and its tree are gone
    failed       starting | stopping              start() | stop()

One asyncio task per start (the *lifecycle*) owns the child: it launches it, polls its health endpoint,
watches it while READY, relaunches it after a crash, and - in a ``finally`` that cancellation cannot
interrupt - stops it. `start()` and `stop()` only ask that task to begin or end, so there is exactly one
place that spawns or kills the engine. The supervisor lives in the event loop that serves the proxy and is
not thread-safe: call it from that loop only.

Launching:

* The port is ``spec.port`` or, when that is None, a free one picked just before each launch. Another
  program can take a picked port before the child binds it (llama-server then exits with "couldn't bind HTTP
  server socket"); the supervisor retries at once on another port without counting a crash.
* The child runs in its own session (``start_new_session``): a terminal's Ctrl+C reaches the orchestrator
  only, and the orchestrator stops the engine deliberately, after in-flight work is cut off.
* Its stdout and stderr are appended to ``spec.log_file`` directly (no pipe through this process, so the
  child never blocks on us nor dies of SIGPIPE); `log_tail()` reads the lines of the current launch back.
* Health: ``GET http://HOST:PORT{health_path}`` every ``HEALTH_POLL_INTERVAL``; no connection and 503
  ("Loading model") mean keep waiting, 200 means READY. If the child exits first, `EngineStartError` says
  "exited prematurely with code N" with the last log lines; past ``spec.ready_timeout`` the child is stopped
  and the error says so. Either way nothing is left running.

No orphans:

* `stop()`: SIGTERM to the child's process group, ``grace_period`` seconds, then SIGKILL for whatever is
  left of the tree (psutil), so helpers the engine spawned go too.
* A SIGKILLed orchestrator cannot clean up, so on Linux every child gets the parent-death signal
  (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); elsewhere a small `watchdog` process does the same job.
* A pid file per engine (``{pid_dir}/{name}.pid``: pid, create time, argv[0], orchestrator pid) lets the
  next start find an engine left by a crashed run and stop it - only if that very process (same create
  time) still runs and its orchestrator is gone, so a reused pid is never killed.

Restarts: a child that exits while READY is relaunched after ``backoff_initial * 2**k`` seconds (capped at
``backoff_max``). ``max_restarts`` failures in a row (exits and failed relaunches) end in FAILED and
``on_fatal(message)``; a run that stays READY for ``stable_after`` seconds clears the count.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import functools
import json
import logging
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Final, Literal

import httpx
import psutil

from .. import net, paths
from ..errors import SimulatorError
from . import watchdog

log = logging.getLogger(__name__)

# How often to ask /health while an engine starts: llama-server answers 503 for a few hundred ms on a small
# model, so 75 ms adds at most that much to a start while costing the loading server nothing.
HEALTH_POLL_INTERVAL: Final = 0.075
# First look at /health: a child that cannot start (bad flag, missing model, busy port) usually exits
# within this, and the exit is reported rather than a refused connection.
HEALTH_FIRST_POLL: Final = 0.02
# One /health request; a server that cannot answer its health check within this is not ready.
HEALTH_REQUEST_TIMEOUT: Final = 2.0
# Retries when a picked port was taken before the child could bind it. Each try picks a fresh free port,
# so a second collision is already rare; five only guards against a machine out of ports.
PORT_RETRIES: Final = 5
# A run READY this long is "stable": the next crash starts the restart count (and its backoff) afresh.
STABLE_AFTER: Final = 30.0
# Log lines quoted in errors: enough for llama-server's error and the lines that lead to it.
ERROR_LOG_LINES: Final = 12
# Load time assumed for `retry_after` until a launch has been measured.
DEFAULT_LOAD_ESTIMATE: Final = 2.0
# Reading back at most this much of the log keeps `log_tail` cheap on a log that has grown large.
_TAIL_BYTES: Final = 64 * 1024
# What llama-server (cpp-httplib) and most servers print when the port is taken.
_BIND_MARKERS: Final = ("couldn't bind http server socket", "address already in use", "eaddrinuse")
_PR_SET_PDEATHSIG: Final = 1
# The folder holding the `openai_api_simulator` package, for the watchdog's PYTHONPATH.
_PACKAGE_ROOT: Final = Path(__file__).resolve().parents[2]


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

OrphanGuard = Literal["auto", "pdeathsig", "watchdog", "none"]


class InvalidTransition(RuntimeError):
    """A state change the table does not allow: a bug in the supervisor, never the user's doing."""


def check_transition(current: EngineState, new: EngineState) -> None:
    """Raise `InvalidTransition` unless `TRANSITIONS` allows `current` -> `new`."""
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"engine state cannot go from {current.value} to {new.value}")


class EngineStartError(SimulatorError):
    """An engine did not become ready. The message names the program, port and log, quotes the log's tail
    and says what to try; the parts are kept as attributes for callers that lay them out themselves."""

    def __init__(
        self,
        reason: str,
        *,
        hint: str = "",
        log_file: Path | None = None,
        log_tail: Sequence[str] = (),
        returncode: int | None = None,
    ) -> None:
        self.reason = reason
        self.hint = hint
        self.log_file = log_file
        self.log_tail = list(log_tail)
        self.returncode = returncode
        parts = [reason]
        if self.log_tail:
            parts.append(f"Last lines of {log_file}:")
            parts += [f"    {line}" for line in self.log_tail]
        elif log_file is not None:
            parts.append(f"It wrote nothing to its log ({log_file}).")
        if hint:
            parts.append(hint)
        super().__init__("\n".join(parts))


@dataclass(frozen=True)
class LaunchSpec:
    """How to run one engine. Every ``{port}`` in `argv` becomes the port of the launch."""

    name: str  # the public model id, used in messages and the pid file name
    argv: Sequence[str]  # the full command
    log_file: Path  # the child's stdout+stderr are appended here
    host: str = "127.0.0.1"
    port: int | None = None  # None: a free port, picked again on each launch
    env: Mapping[str, str] | None = None  # extra variables on top of os.environ
    health_path: str = "/health"
    ready_timeout: float = 60.0  # seconds for one launch to become healthy (callers scale it with model size)
    api_key: str | None = None  # not needed for /health; kept for the proxy, and redacted from the log header

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError(f"LaunchSpec for {self.name!r} has an empty argv")
        if self.ready_timeout <= 0:
            raise ValueError(f"LaunchSpec for {self.name!r}: ready_timeout must be positive")

    def command(self, port: int) -> list[str]:
        return [arg.replace("{port}", str(port)) for arg in self.argv]

    @property
    def program(self) -> str:
        """The program's name for messages: ``llama-server``."""
        return Path(self.argv[0]).name or str(self.argv[0])


def default_pid_dir() -> Path:
    """Where pid files go unless told otherwise: ``run/`` in the cache (``OAS_CACHE_DIR`` moves it)."""
    return paths.cache_dir() / "run"


def _pid_file_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "engine"


def _held_by(port: int) -> str:
    holder = net.port_holder(port)
    return f" (held by {holder})" if holder else ""


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"code {returncode} (killed by {signal.Signals(-returncode).name})"
    return f"code {returncode}"


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


def _pdeathsig_preexec(prctl: Any, parent_pid: int) -> Callable[[], None]:
    """Code run in the forked child before exec: die with SIGKILL when the parent goes.

    The kernel sends the parent-death signal when the *thread* that forked the child exits, not the
    process. asyncio forks from the event loop's thread (``create_subprocess_exec`` runs ``Popen`` there),
    which lives as long as the orchestrator serves, so that is the right owner; never launch engines from a
    short-lived worker thread (``asyncio.to_thread``), or they would die with it.
    """

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:
            # The orchestrator died between fork and prctl: the signal will never come, so go now.
            os._exit(1)

    return preexec


async def _shielded(aw: Awaitable[None]) -> None:
    """Run `aw` to the end even if the caller is cancelled meanwhile (then re-raise the cancellation).

    Used for stopping a child: an interrupted stop is exactly how orphans are made.
    """
    inner = asyncio.ensure_future(aw)
    cancelled = False
    while not inner.done():
        try:
            await asyncio.shield(inner)
        except asyncio.CancelledError:
            if inner.done():
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    inner.result()


def _call(callback: Callable[..., None] | None, *args: object) -> None:
    """Run a user callback; its bug must not break the supervisor's own bookkeeping."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        log.exception("engine state callback %r failed", callback)


class Supervisor:
    """Start, watch, restart and stop one engine process (see the module docstring for the lifecycle).

    `on_state(state, message)` is called on every transition, and with the unchanged state for notable
    events within one (an orphan stopped, a port retried, another restart attempt). `on_fatal(message)` is
    called once the engine has failed for good while running; a failed `start()` raises instead.
    `orphan_guard` picks how a SIGKILLed orchestrator takes the child with it: "auto" (the parent-death
    signal on Linux, the watchdog elsewhere), one of those explicitly, or "none".
    """

    def __init__(
        self,
        spec: LaunchSpec,
        *,
        max_restarts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        grace_period: float = 5.0,
        pid_dir: Path | None = None,
        on_state: Callable[[EngineState, str], None] | None = None,
        on_fatal: Callable[[str], None] | None = None,
        on_spawn: Callable[[int], None] | None = None,  # (port): a launch is about to start on this port
        stable_after: float = STABLE_AFTER,
        orphan_guard: OrphanGuard = "auto",
    ) -> None:
        if max_restarts < 0:
            raise ValueError("max_restarts must be >= 0")
        if backoff_initial <= 0 or backoff_max < backoff_initial:
            raise ValueError("need 0 < backoff_initial <= backoff_max")
        if grace_period < 0:
            raise ValueError("grace_period must be >= 0")
        self.spec = spec
        self.max_restarts = max_restarts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.grace_period = grace_period
        self.stable_after = stable_after
        self.pid_file = (pid_dir if pid_dir is not None else default_pid_dir()) / f"{_pid_file_stem(spec.name)}.pid"
        self.on_state = on_state
        self.on_fatal = on_fatal
        self.on_spawn = on_spawn
        if orphan_guard == "auto":
            orphan_guard = "pdeathsig" if _prctl() is not None else "watchdog"
        elif orphan_guard == "pdeathsig" and _prctl() is None:
            raise ValueError("orphan_guard='pdeathsig' needs Linux (prctl); use 'watchdog'")
        self.orphan_guard: OrphanGuard = orphan_guard

        self._state = EngineState.STOPPED
        self._changed: asyncio.Event | None = None  # set (and replaced) on every transition
        self._task: asyncio.Task[None] | None = None  # the lifecycle
        self._first: asyncio.Future[None] | None = None  # the outcome of the first launch, for start()
        self._stopping: asyncio.Future[None] | None = None  # a stop() in progress, for concurrent callers
        # The current child, from spawn until it is reaped.
        self._proc: asyncio.subprocess.Process | None = None
        self._ps: psutil.Process | None = None  # its identity (pid + create time) for the kill helpers
        self._exit: asyncio.Task[int] | None = None  # completes with its exit code
        self._watchdog: asyncio.subprocess.Process | None = None
        self._port: int | None = None
        self._returncode: int | None = None
        self._log_offset = 0  # where the current launch's output starts in the log
        self._spawned_at = 0.0
        self._ready_since = 0.0
        self._failures = 0  # exits and failed relaunches since the last stable run
        self._load_estimate = DEFAULT_LOAD_ESTIMATE
        self._eta: float | None = None  # monotonic time the engine should be READY (again)

    # ------------------------------------------------------------------------------------------------
    # What callers read

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def base_url(self) -> str | None:
        """``http://HOST:PORT`` (no ``/v1``) while READY, else None."""
        if self._state is not EngineState.READY or self._port is None:
            return None
        return self._url(self._port)

    @property
    def port(self) -> int | None:
        """The port of the child being started or running."""
        return self._port if self._proc is not None else None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def returncode(self) -> int | None:
        """The exit code of the last child that exited (negative: killed by that signal)."""
        return self._returncode

    @property
    def retry_after(self) -> float:
        """Whole seconds (>= 1) a client should wait: the backoff left plus a typical load time."""
        now = time.monotonic()
        wait = self._eta - now if self._eta is not None else self._load_estimate
        return float(max(1, math.ceil(wait)))

    def log_tail(self, n: int = 20) -> list[str]:
        """The last `n` lines the current (or last) launch wrote to its log."""
        if n <= 0:
            return []
        try:
            with open(self.spec.log_file, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                start = self._log_offset if self._log_offset <= size else 0  # the log was truncated
                start = max(start, size - _TAIL_BYTES)
                fh.seek(start)
                data = fh.read()
        except OSError:
            return []
        lines = data.decode("utf-8", errors="replace").splitlines()
        return [line.rstrip() for line in lines if line.strip()][-n:]

    async def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for READY. False at once when stopped, stopping or failed."""
        deadline = time.monotonic() + timeout
        while True:
            if self._state is EngineState.READY:
                return True
            if self._state in (EngineState.STOPPED, EngineState.STOPPING, EngineState.FAILED):
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._changed is None:
                self._changed = asyncio.Event()
            waiter = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                waiter.cancel()

    # ------------------------------------------------------------------------------------------------
    # Start and stop

    async def start(self) -> None:
        """Launch the engine and wait until it is READY.

        Raises `EngineStartError` (state FAILED, nothing left running) when it exits first, misses
        ``spec.ready_timeout`` or cannot be run at all. Already starting or running: waits for that start.
        """
        if self._stopping is not None:
            await asyncio.shield(self._stopping)
        if self._task is not None and not self._task.done() and self._first is not None:
            await asyncio.shield(self._first)
            return
        self._failures = 0
        self._transition(EngineState.STARTING, f"Starting {self.spec.program} for {self.spec.name}")
        first = self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._lifecycle(first), name=f"engine supervisor: {self.spec.name}")
        try:
            await asyncio.shield(first)
        except asyncio.CancelledError:
            if not first.done():  # our caller gave up waiting: nothing it started may keep running
                await _shielded(self.stop())
            if first.done() and not first.cancelled():
                first.exception()  # retrieved: the caller sees the cancellation instead
            raise

    async def stop(self) -> None:
        """Stop the engine: SIGTERM to its process group, `grace_period`, then kill the tree. Idempotent."""
        if self._stopping is not None:
            await asyncio.shield(self._stopping)
            return
        task = self._task
        if self._state is EngineState.STOPPED and (task is None or task.done()):
            self._remove_pid_file()
            return
        done = self._stopping = asyncio.get_running_loop().create_future()
        try:
            pid = self.pid
            self._transition(
                EngineState.STOPPING,
                f"Stopping {self.spec.program} for {self.spec.name}" + (f" (pid {pid})" if pid else ""),
            )
            if task is not None:
                task.cancel()  # the lifecycle stops the child in its finally
                await _shielded(self._reap_task(task))
            await _shielded(self._release())  # nothing left to do unless the lifecycle never ran
        finally:
            if self._state is EngineState.STOPPING:
                rc = self._returncode
                self._transition(
                    EngineState.STOPPED,
                    f"{self.spec.program} for {self.spec.name} stopped"
                    + (f" (exit {_describe_exit(rc)})" if rc is not None else ""),
                )
            self._stopping = None
            done.set_result(None)

    async def _reap_task(self, task: asyncio.Task[None]) -> None:
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("the supervisor of %s failed", self.spec.name)

    # ------------------------------------------------------------------------------------------------
    # The lifecycle: the one task that owns the child

    async def _lifecycle(self, first: asyncio.Future[None]) -> None:
        # No keep-alive: a connection to a loading server is cheap, and llama-server may drop a reused one.
        client = httpx.AsyncClient(
            trust_env=False,  # a proxy from the environment must never see a loopback health check
            timeout=HEALTH_REQUEST_TIMEOUT,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        try:
            await self._stop_orphan()
            try:
                await self._launch(client)
            except EngineStartError as exc:
                self._transition(EngineState.FAILED, str(exc))
                first.set_exception(exc)
                return
            self._transition(EngineState.READY, self._ready_message())
            first.set_result(None)
            await self._supervise(client)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an OS failure: the engine must not stay half-supervised
            log.exception("the supervisor of %s failed", self.spec.name)
            await _shielded(self._release())  # FAILED promises that nothing runs
            message = f"the supervisor of {self.spec.name} failed: {type(exc).__name__}: {exc}"
            running = self._state in (EngineState.READY, EngineState.RESTARTING)
            if EngineState.FAILED in TRANSITIONS[self._state]:
                self._transition(EngineState.FAILED, message)
            if not first.done():
                first.set_exception(exc)
            elif running:
                _call(self.on_fatal, message)
        finally:
            # Nested so that a second cancellation (the loop shutting down) still settles `first`: start()
            # waits on it, and it must only hear the outcome once the child is gone.
            try:
                await _shielded(self._release())
            finally:
                try:
                    await _shielded(client.aclose())
                finally:
                    if not first.done():
                        first.set_exception(
                            EngineStartError(
                                f"{self.spec.program} for {self.spec.name} was stopped before it became ready.",
                                log_file=self.spec.log_file,
                            )
                        )

    async def _supervise(self, client: httpx.AsyncClient) -> None:
        """Watch the READY child; relaunch it after an exit until it is stable or has failed too often."""
        while True:
            exited = self._exit
            assert exited is not None
            # wait(), not `await exited`: cancelling this task (stop()) must not cancel the exit watcher,
            # which the final release still needs.
            await asyncio.wait({exited})
            rc = exited.result()
            ran_for = time.monotonic() - self._ready_since
            if ran_for >= self.stable_after:
                self._failures = 0
            reason = f"{self.spec.program} for {self.spec.name} exited unexpectedly with {_describe_exit(rc)}"
            tail = self.log_tail(ERROR_LOG_LINES)
            await self._release()
            while True:
                if self._failures >= self.max_restarts:
                    message = str(
                        EngineStartError(
                            f"{reason}; giving up after {self.max_restarts} restart(s) in a row.",
                            log_file=self.spec.log_file,
                            log_tail=tail,
                            hint="Look at the log for the cause, then start it again.",
                        )
                    )
                    self._eta = None
                    self._transition(EngineState.FAILED, message)
                    _call(self.on_fatal, message)
                    return
                self._failures += 1
                delay = min(self.backoff_max, self.backoff_initial * 2 ** (self._failures - 1))
                self._eta = time.monotonic() + delay + self._load_estimate
                message = f"{reason}; restarting in {delay:g} s (restart {self._failures} of {self.max_restarts})"
                if self._state is EngineState.READY:
                    self._transition(EngineState.RESTARTING, message)
                else:
                    self._notify(message)
                await asyncio.sleep(delay)
                try:
                    await self._launch(client)
                except EngineStartError as exc:
                    reason, tail = f"the restart failed: {exc.reason}", exc.log_tail
                    continue
                self._transition(EngineState.READY, self._ready_message())
                break

    async def _launch(self, client: httpx.AsyncClient) -> None:
        """Spawn the child and wait until it is healthy; on failure stop it and raise `EngineStartError`."""
        spec = self.spec
        host = spec.host
        for attempt in range(PORT_RETRIES + 1):
            if spec.port is None:
                port = net.free_port(host)
            else:
                port = spec.port
                if not net.port_is_free(host, port):
                    raise self._port_busy_error(port)
            _call(self.on_spawn, port)
            await self._spawn(port)
            outcome, last_answer = await self._await_health(client, port)
            if outcome == "ready":
                now = time.monotonic()
                self._load_estimate = now - self._spawned_at
                self._ready_since = now
                self._eta = None
                return
            tail = self.log_tail(ERROR_LOG_LINES)
            if outcome == "timeout":
                await self._release()
                raise EngineStartError(
                    f"{spec.program} for {spec.name} did not become ready on {host}:{port} within "
                    f"{spec.ready_timeout:g} s (last health check: {last_answer}); it was stopped.",
                    log_file=spec.log_file,
                    log_tail=tail,
                    hint="A large model on a slow disk can need longer to load: allow more time, or look in "
                    "the log for where it got stuck.",
                )
            assert self._exit is not None
            rc = self._exit.result()
            bind_failed = self._bind_failed(host, port)
            await self._release()
            if bind_failed and spec.port is None and attempt < PORT_RETRIES:
                self._notify(f"port {port} was taken before {spec.program} could bind it; trying another free port")
                continue
            if bind_failed:
                raise self._port_busy_error(port, tail=tail, returncode=rc)
            raise EngineStartError(
                f"{spec.program} for {spec.name} exited prematurely with {_describe_exit(rc)} while starting on "
                f"{host}:{port}.",
                log_file=spec.log_file,
                log_tail=tail,
                returncode=rc,
                hint=f"Check the model file and the arguments; the full log is {spec.log_file}.",
            )
        raise AssertionError("unreachable")  # the last attempt returns or raises

    async def _spawn(self, port: int) -> None:
        spec = self.spec
        argv = spec.command(port)
        env = {**os.environ, **(spec.env or {})}
        kwargs: dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        else:
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        if self.orphan_guard == "pdeathsig":
            kwargs["preexec_fn"] = _pdeathsig_preexec(_prctl(), os.getpid())
        with self._open_log(self._log_header(argv, port)) as log_fh:
            self._log_offset = log_fh.tell()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT, env=env, **kwargs
                )
            except OSError as exc:
                raise EngineStartError(
                    f"Cannot run {argv[0]} for {spec.name}: {exc.strerror or exc}.",
                    hint="Check that the file exists and is executable.",
                ) from exc
        self._proc, self._port, self._returncode = proc, port, None
        self._spawned_at = time.monotonic()
        self._eta = self._spawned_at + self._load_estimate
        self._exit = asyncio.ensure_future(proc.wait())
        try:
            self._ps = psutil.Process(proc.pid)
            create_time = self._ps.create_time()
        except psutil.Error:  # it exited and was reaped already: the health wait reports the exit
            self._ps = None
            return
        self._write_pid_file(proc.pid, create_time, argv[0], port)
        if self.orphan_guard == "watchdog":
            await self._start_watchdog(proc.pid, create_time)

    async def _await_health(self, client: httpx.AsyncClient, port: int) -> tuple[str, str]:
        """("ready" | "exited" | "timeout", the last health answer in words)."""
        assert self._exit is not None and self._proc is not None
        exited = self._exit
        url = f"{self._url(port)}{self.spec.health_path}"
        deadline = self._spawned_at + self.spec.ready_timeout
        last = "no answer yet"
        await asyncio.wait({exited}, timeout=HEALTH_FIRST_POLL)
        while True:
            if exited.done():
                return "exited", last
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout", last
            try:
                response = await client.get(url, timeout=min(HEALTH_REQUEST_TIMEOUT, max(remaining, 0.05)))
            except httpx.TransportError as exc:
                last = "connection refused" if isinstance(exc, httpx.ConnectError) else f"{type(exc).__name__}"
            else:
                if response.status_code == 200:
                    # Make sure the answer came from our child: one that failed to bind exits at once, and
                    # another server on that port must not pass for it.
                    await asyncio.sleep(0)
                    if not exited.done() and self._ps is not None and watchdog.is_alive(self._ps):
                        return "ready", "200"
                last = f"HTTP {response.status_code}{_error_message(response)}"
            await asyncio.wait({exited}, timeout=min(HEALTH_POLL_INTERVAL, max(remaining, 0)))

    def _bind_failed(self, host: str, port: int) -> bool:
        """Whether the child that just exited could not listen on `port` (taken by someone else)."""
        text = "\n".join(self.log_tail(40)).lower()
        return any(marker in text for marker in _BIND_MARKERS) or not net.port_is_free(host, port)

    def _port_busy_error(
        self, port: int, *, tail: Sequence[str] = (), returncode: int | None = None
    ) -> EngineStartError:
        spec = self.spec
        return EngineStartError(
            f"Port {port} on {spec.host} is already in use{_held_by(port)}, so {spec.program} for "
            f"{spec.name} cannot listen on it.",
            log_file=spec.log_file if tail else None,
            log_tail=tail,
            returncode=returncode,
            hint="Stop the program holding that port, or choose another port (leave it unset to pick a free one).",
        )

    async def _release(self) -> None:
        """Stop the current child if it runs, reap it, stop its leftovers and its watchdog, drop the pid file."""
        proc, ps, exited = self._proc, self._ps, self._exit
        if proc is not None:
            stopped_tree = proc.returncode is None and ps is not None
            if stopped_tree:
                assert ps is not None
                killed = await asyncio.to_thread(watchdog.stop_tree, ps, self.grace_period)
                if killed:
                    log.info(
                        "%s for %s ignored SIGTERM for %g s; killed pid(s) %s",
                        self.spec.program,
                        self.spec.name,
                        self.grace_period,
                        killed,
                    )
            elif proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            if exited is None or exited.cancelled():
                self._returncode = await proc.wait()
            else:
                await asyncio.wait({exited})
                self._returncode = exited.result()
            if not stopped_tree:
                # It exited on its own (a crash, a failed start): helpers it left in its group go too.
                watchdog.kill_group(proc.pid)
            self._remove_pid_file(proc.pid)
        self._proc = self._ps = self._exit = None
        dog, self._watchdog = self._watchdog, None
        if dog is not None:
            if dog.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    dog.kill()
            await dog.wait()

    async def _start_watchdog(self, child_pid: int, child_create_time: float) -> None:
        """Start `watchdog` for the child (platforms without a parent-death signal)."""
        me = psutil.Process()
        argv = [
            sys.executable,
            "-m",
            "openai_api_simulator.engines.watchdog",
            str(me.pid),
            str(child_pid),
            f"--orchestrator-create-time={me.create_time()!r}",
            f"--child-create-time={child_create_time!r}",
            f"--grace={self.grace_period!r}",
        ]
        # The package may run from a source tree the child's sys.path does not know; name its root.
        pythonpath = (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH"))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p)}
        kwargs: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
        try:
            with self._open_log() as log_fh:
                self._watchdog = await asyncio.create_subprocess_exec(
                    *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_fh, env=env, **kwargs
                )
        except OSError as exc:
            log.warning("could not start the watchdog for %s (%s); it may outlive a crash", self.spec.name, exc)

    # ------------------------------------------------------------------------------------------------
    # Pid files and orphans from an earlier run

    def _write_pid_file(self, pid: int, create_time: float, argv0: str, port: int) -> None:
        me = psutil.Process()
        record = {
            "pid": pid,
            "create_time": create_time,
            "argv0": argv0,
            "orchestrator_pid": me.pid,
            "orchestrator_create_time": me.create_time(),
            "name": self.spec.name,
            "port": port,
            "log_file": str(self.spec.log_file),
        }
        try:
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            staging = self.pid_file.with_name(f".{self.pid_file.name}.{os.getpid()}")
            staging.write_text(json.dumps(record) + "\n")
            staging.replace(self.pid_file)
        except OSError as exc:  # only the next run's orphan check needs it: go on without
            log.warning("could not write the pid file %s: %s", self.pid_file, exc)

    def _read_pid_file(self) -> dict[str, Any] | None:
        try:
            record = json.loads(self.pid_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def _remove_pid_file(self, pid: int | None = None) -> None:
        """Remove the pid file; with `pid`, only while it still names that process (another run may own it)."""
        if pid is not None:
            record = self._read_pid_file()
            if record is None or record.get("pid") != pid:
                return
        with contextlib.suppress(OSError):
            self.pid_file.unlink()

    async def _stop_orphan(self) -> None:
        """Stop the engine a crashed earlier run left behind, if the pid file names one."""
        record = self._read_pid_file()
        if record is None:
            return
        pid, create_time = record.get("pid"), record.get("create_time")
        orch_pid, orch_time = record.get("orchestrator_pid"), record.get("orchestrator_create_time")
        if not isinstance(pid, int) or not isinstance(create_time, (int, float)):
            self._remove_pid_file()  # unreadable: nothing can be safely done with it
            return
        orphan = watchdog.find_process(pid, float(create_time))
        if orphan is None:
            self._remove_pid_file()  # gone, or the pid now belongs to an unrelated program: leave that alone
            return
        if isinstance(orch_pid, int):
            owner = watchdog.find_process(orch_pid, float(orch_time) if isinstance(orch_time, (int, float)) else None)
            if owner is not None:
                log.info("%s: pid %s belongs to a running orchestrator (pid %s)", self.pid_file, pid, orch_pid)
                return
        await asyncio.to_thread(watchdog.stop_tree, orphan, self.grace_period)
        self._remove_pid_file()
        argv0 = record.get("argv0")
        program = Path(argv0).name if isinstance(argv0, str) and argv0 else self.spec.program
        self._notify(f"stopped {program} left by an earlier run (pid {pid})")

    # ------------------------------------------------------------------------------------------------
    # Bookkeeping

    def _transition(self, new: EngineState, message: str) -> None:
        check_transition(self._state, new)
        self._state = new
        log.info("%s: %s: %s", self.spec.name, new.value, message)
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        _call(self.on_state, new, message)

    def _notify(self, message: str) -> None:
        log.info("%s: %s: %s", self.spec.name, self._state.value, message)
        _call(self.on_state, self._state, message)

    def _url(self, port: int) -> str:
        return net.base_url(self.spec.host, port)

    def _ready_message(self) -> str:
        return (
            f"{self.spec.program} for {self.spec.name} is ready at {self._url(self._port or 0)} "
            f"(pid {self.pid}, {self._load_estimate:.1f} s)"
        )

    def _open_log(self, header: str = "") -> BinaryIO:
        """The log opened for appending (a quick local file operation, fine on the event loop)."""
        self.spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        log_fh = open(self.spec.log_file, "ab")  # noqa: SIM115 - the caller's `with` closes it
        if header:
            log_fh.write(header.encode())
            log_fh.flush()
        return log_fh

    def _log_header(self, argv: Sequence[str], port: int) -> str:
        key = self.spec.api_key
        # The log must not hand out the key; redacted before quoting, which could split it.
        command = shlex.join(arg.replace(key, "***") if key else arg for arg in argv)
        stamp = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
        return f"\n=== {stamp} {self.spec.name}: starting on {self.spec.host}:{port}: {command}\n"


def _error_message(response: httpx.Response) -> str:
    """' "Loading model"' from an OpenAI-shaped error body, else ''."""
    try:
        body = response.json()
        message = body["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f' "{message}"' if isinstance(message, str) else ""
