"""The supervisor: the one owner of an engine process's lifecycle (llama-server today, any engine later).

It moves through the states of `states` (stopped, starting, ready, restarting, stopping, failed) and checks
every move against `TRANSITIONS`; what it runs is a `LaunchSpec` (`launch`), whatever the engine.

One asyncio task per start (the *lifecycle*) owns the child: it launches it, polls its health endpoint,
watches it while READY, relaunches it after a crash, and - in a ``finally`` that cancellation cannot
interrupt - stops it. `start()` and `stop()` only ask that task to begin or end, so there is exactly one
place that spawns or kills the engine. The supervisor lives in the event loop that serves the app and is
not thread-safe: call it from that loop only.

Launching:

* The port is ``spec.port`` or, when that is None, a free one picked just before each launch. Another
  program can take a picked port before the child binds it (llama-server then exits with "couldn't bind HTTP
  server socket"); the supervisor retries at once on another port without counting a crash.
* The child runs in its own session (``start_new_session``): a terminal's Ctrl+C reaches the orchestrator
  only, and the orchestrator stops the engine deliberately, after in-flight work is cut off.
* Its stdout and stderr are appended to ``spec.log_file`` directly (no pipe through this process, so the
  child never blocks on us nor dies of SIGPIPE); `log_tail()` reads the lines of the current launch back.
* Health: ``GET http://HOST:PORT{health_path}`` every ``health.POLL_INTERVAL``; no connection and 503
  ("Loading model") mean keep waiting, 200 means READY. If the child exits first, `EngineStartError` says
  "exited prematurely with code N" with the last log lines; past ``spec.ready_timeout`` the child is stopped
  and the error says so. Either way nothing is left running.

No orphans:

* `stop()`: SIGTERM to the child's process group, ``grace_period`` seconds, then SIGKILL for whatever is
  left of the tree (`proctree`), so helpers the engine spawned go too.
* A SIGKILLed orchestrator cannot clean up, so on Linux every child gets the parent-death signal
  (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); elsewhere a small `watchdog` process does the same job.
* A pid file per engine (``{pid_dir}/{name}.pid``) lets the next start find an engine left by a crashed run
  and stop it - only if that very process (same create time) still runs and its orchestrator is gone, so a
  reused pid is never killed.

How each guard works is `orphans`'s; the supervisor decides when they apply.

Restarts: a child that exits while READY is relaunched after ``backoff_initial * 2**k`` seconds (capped at
``backoff_max``). ``max_restarts`` failures in a row (exits and failed relaunches) end in FAILED and
``on_fatal(message)``; a run that stays READY for ``stable_after`` seconds clears the count. `restarts` counts
every relaunch over the supervisor's life (never cleared: /metrics exposes it as a counter).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

import httpx
import psutil

from .. import net
from . import health, orphans, proctree
from .launch import EngineStartError, LaunchSpec, describe_exit, log_header, open_log, read_log_tail
from .orphans import OrphanGuard
from .states import TRANSITIONS, EngineState, check_transition

log = logging.getLogger(__name__)

# Retries when a picked port was taken before the child could bind it. Each try picks a fresh free port,
# so a second collision is already rare; five only guards against a machine out of ports.
PORT_RETRIES: Final = 5
# A run READY this long is "stable": the next crash starts the restart count (and its backoff) afresh.
STABLE_AFTER: Final = 30.0
# Log lines quoted in errors: enough for llama-server's error and the lines that lead to it.
ERROR_LOG_LINES: Final = 12
# Load time assumed for `retry_after` until a launch has been measured.
DEFAULT_LOAD_ESTIMATE: Final = 2.0
# What llama-server (cpp-httplib) and most servers print when the port is taken.
_BIND_MARKERS: Final = ("couldn't bind http server socket", "address already in use", "eaddrinuse")


def _held_by(port: int) -> str:
    holder = net.port_holder(port)
    return f" (held by {holder})" if holder else ""


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
        self.pid_file = orphans.pid_file_path(pid_dir if pid_dir is not None else orphans.default_pid_dir(), spec.name)
        self.on_state = on_state
        self.on_fatal = on_fatal
        self.on_spawn = on_spawn
        self.orphan_guard: OrphanGuard = orphans.resolve_guard(orphan_guard)

        self._state = EngineState.STOPPED
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
        self.restarts = 0  # relaunches after an exit, ever
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
    def alive(self) -> bool:
        """Whether the current child still runs, asked of the OS rather than read from the state.

        The state says READY for a moment after the child died: its exit reaches this loop through the child
        watcher a few iterations later. A relay whose connection was just refused asks this to tell a crash
        (about to be restarted) from a server that is up and failing. False without a child.
        """
        proc, ps = self._proc, self._ps
        return proc is not None and proc.returncode is None and ps is not None and proctree.is_alive(ps)

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
        return read_log_tail(self.spec.log_file, self._log_offset, n)

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
            orphans.remove_pid_file(self.pid_file)
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
                    + (f" (exit {describe_exit(rc)})" if rc is not None else ""),
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
            timeout=health.REQUEST_TIMEOUT,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        try:
            orphan = await orphans.stop_orphan(self.pid_file, self.grace_period)
            if orphan is not None:
                program = orphan.program if orphan.program is not None else self.spec.program
                self._notify(f"stopped {program} left by an earlier run (pid {orphan.pid})")
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
            reason = f"{self.spec.program} for {self.spec.name} exited unexpectedly with {describe_exit(rc)}"
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
                self.restarts += 1
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
                f"{spec.program} for {spec.name} exited prematurely with {describe_exit(rc)} while starting on "
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
            kwargs["preexec_fn"] = orphans.pdeathsig_preexec()
        with open_log(spec.log_file, log_header(spec, argv, port)) as log_fh:
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
        orphans.write_pid_file(self.pid_file, spec, pid=proc.pid, create_time=create_time, argv0=argv[0], port=port)
        if self.orphan_guard == "watchdog":
            self._watchdog = await orphans.start_watchdog(
                proc.pid, create_time, grace=self.grace_period, log_file=spec.log_file, name=spec.name
            )

    async def _await_health(self, client: httpx.AsyncClient, port: int) -> tuple[str, str]:
        """("ready" | "exited" | "timeout", the last health answer in words)."""
        assert self._exit is not None and self._proc is not None
        exited = self._exit
        url = f"{self._url(port)}{self.spec.health_path}"
        deadline = self._spawned_at + self.spec.ready_timeout
        last = "no answer yet"
        await asyncio.wait({exited}, timeout=health.FIRST_POLL)
        while True:
            if exited.done():
                return "exited", last
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout", last
            healthy, last = await health.check(client, url, min(health.REQUEST_TIMEOUT, max(remaining, 0.05)))
            if healthy:
                # Make sure the answer came from our child: one that failed to bind exits at once, and
                # another server on that port must not pass for it.
                await asyncio.sleep(0)
                if not exited.done() and self._ps is not None and proctree.is_alive(self._ps):
                    return "ready", last
            await asyncio.wait({exited}, timeout=min(health.POLL_INTERVAL, max(remaining, 0)))

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
                killed = await asyncio.to_thread(proctree.stop_tree, ps, self.grace_period)
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
                proctree.kill_group(proc.pid)
            orphans.remove_pid_file(self.pid_file, proc.pid)
        self._proc = self._ps = self._exit = None
        dog, self._watchdog = self._watchdog, None
        if dog is not None:
            await orphans.stop_watchdog(dog)

    # ------------------------------------------------------------------------------------------------
    # Bookkeeping

    def _transition(self, new: EngineState, message: str) -> None:
        check_transition(self._state, new)
        self._state = new
        log.info("%s: %s: %s", self.spec.name, new.value, message)
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
