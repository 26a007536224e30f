"""The supervisor's lifecycle against real processes: fake upstreams (tests/support/fakes), real signals, psutil.

Starting and stopping, crashes and restarts, ports. Async code runs under ``asyncio.run`` inside plain tests,
as it runs under uvicorn's loop in the product.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from openai_api_simulator import net
from openai_api_simulator.engines import (
    EngineStartError,
    EngineState,
    InvalidTransition,
    Supervisor,
    check_transition,
)
from tests.engines.helpers import EVENTUALLY, Recorder, alive, fake, make, run, wait_ready

S = EngineState


def state_of(sup: Supervisor) -> EngineState:
    return sup.state


async def until(predicate: Callable[[], bool], timeout: float = EVENTUALLY) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def pids_in_log(log: Path) -> list[int]:
    return [int(line.split()[3]) for line in log.read_text().splitlines() if line.startswith("fake upstream pid")]


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port some other program is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def chat(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=10) as client:
        response = await client.post(
            "/v1/chat/completions", json={"model": "fake-model", "messages": [{"role": "user", "content": "ping"}]}
        )
        response.raise_for_status()
        content: str = response.json()["choices"][0]["message"]["content"]
        return content


# ------------------------------------------------------------------------------------------------
# States


def test_the_supervisor_refuses_an_illegal_transition(tmp_path: Path) -> None:
    sup = make(tmp_path, fake())
    with pytest.raises(InvalidTransition):
        sup._transition(S.READY, "ready without starting")
    assert sup.state is S.STOPPED


# ------------------------------------------------------------------------------------------------
# Start and stop


def test_slow_start_is_waited_through_then_ready_then_sigterm(tmp_path: Path) -> None:
    rec = Recorder()
    sup = make(tmp_path, fake("--slow-start", "0.8"), rec)

    async def scenario() -> None:
        began = time.monotonic()
        await sup.start()
        assert time.monotonic() - began >= 0.8  # it waited through the 503s
        assert sup.state is S.READY
        assert sup.port is not None and sup.pid is not None
        assert sup.base_url == f"http://127.0.0.1:{sup.port}"
        assert await chat(sup.base_url) == f"pong from {sup.pid}"
        assert await wait_ready(sup, 0.1)
        assert sup.retry_after >= 1
        record = json.loads(sup.pid_file.read_text())
        assert record["pid"] == sup.pid
        assert record["create_time"] == psutil.Process(sup.pid).create_time()
        assert record["orchestrator_pid"] == os.getpid()
        assert record["argv0"] == sys.executable
        pid = sup.pid

        await sup.stop()
        assert state_of(sup) is S.STOPPED  # read anew: it changed under await
        assert sup.returncode == 0  # it honoured SIGTERM
        assert sup.pid is None and sup.base_url is None
        assert not alive(pid)
        assert not sup.pid_file.exists()
        events = len(rec.events)
        await sup.stop()  # idempotent
        assert len(rec.events) == events

    run(scenario())
    log = sup.spec.log_file.read_text()
    assert "health: 503 Loading model" in log  # the 503 phase was really polled, not skipped
    assert "received SIGTERM" in log
    assert rec.transitions() == [S.STARTING, S.READY, S.STOPPING, S.STOPPED]
    assert "is ready at http://127.0.0.1:" in rec.events[1][1]
    states = rec.transitions()
    for a, b in itertools.pairwise(states):
        check_transition(a, b)


def test_premature_exit_reports_code_and_last_log_lines(tmp_path: Path) -> None:
    sup = make(tmp_path, fake("--exit-at-once", "1"))
    with pytest.raises(EngineStartError) as caught:
        run(sup.start())
    message = str(caught.value)
    assert "exited prematurely with code 1" in message
    assert "failed to open /nonexistent/model.gguf" in message
    assert str(sup.spec.log_file) in message
    assert caught.value.returncode == 1
    assert "main: exiting due to model loading error" in caught.value.log_tail
    assert sup.state is S.FAILED
    assert sup.pid is None
    assert not sup.pid_file.exists()
    assert all(not alive(pid) for pid in pids_in_log(sup.spec.log_file))
    run(sup.stop())
    assert state_of(sup) is S.STOPPED  # read anew: it changed under await


def test_ready_timeout_stops_the_child(tmp_path: Path) -> None:
    sup = make(tmp_path, fake("--slow-start", "120"), ready_timeout=1.0, grace_period=1.0)
    began = time.monotonic()
    with pytest.raises(EngineStartError) as caught:
        run(sup.start())
    assert time.monotonic() - began >= 1.0
    message = str(caught.value)
    assert "did not become ready on 127.0.0.1:" in message
    assert "within 1 s" in message
    assert 'HTTP 503 "Loading model"' in message  # the last health answer, in words
    assert "allow more time" in message
    (pid,) = pids_in_log(sup.spec.log_file)
    assert not alive(pid)
    assert sup.returncode == 0  # stopped with SIGTERM, not left to run
    assert sup.state is S.FAILED
    assert not sup.pid_file.exists()


def test_missing_program_is_a_start_error(tmp_path: Path) -> None:
    sup = make(tmp_path, [str(tmp_path / "no-such-llama-server"), "--port", "{port}"])
    with pytest.raises(EngineStartError, match=r"Cannot run .*no-such-llama-server for fake-model") as caught:
        run(sup.start())
    assert "exists and is executable" in str(caught.value)
    assert sup.state is S.FAILED


def test_stop_kills_a_sigterm_ignorer_after_the_grace_period_with_its_tree(tmp_path: Path) -> None:
    grandchild_file = tmp_path / "grandchild.pid"
    sup = make(tmp_path, fake("--ignore-sigterm", "--grandchild", str(grandchild_file)), grace_period=0.8)

    async def scenario() -> None:
        await sup.start()
        pid, grandchild = sup.pid, int(grandchild_file.read_text())
        assert pid is not None and alive(pid) and alive(grandchild)
        began = time.monotonic()
        await sup.stop()
        assert time.monotonic() - began >= 0.8  # SIGTERM first, a grace period, only then SIGKILL
        assert sup.returncode == -signal.SIGKILL
        assert not alive(pid)
        assert not alive(grandchild)

    run(scenario())


def test_stop_honoured_sigterm_still_kills_a_stubborn_grandchild(tmp_path: Path) -> None:
    grandchild_file = tmp_path / "grandchild.pid"
    sup = make(tmp_path, fake("--grandchild", str(grandchild_file)), grace_period=0.5)

    async def scenario() -> None:
        await sup.start()
        grandchild = int(grandchild_file.read_text())
        await sup.stop()
        assert sup.returncode == 0
        assert not alive(grandchild)  # it ignores SIGTERM: the tree kill after the grace period got it

    run(scenario())


def test_stop_during_start_leaves_nothing_running(tmp_path: Path) -> None:
    sup = make(tmp_path, fake("--slow-start", "120"), grace_period=1.0)

    async def scenario() -> None:
        starting = asyncio.create_task(sup.start())
        await until(lambda: sup.pid is not None)
        pid = sup.pid
        assert pid is not None
        await sup.stop()
        with pytest.raises(EngineStartError, match="was stopped before it became ready"):
            await starting
        assert sup.state is S.STOPPED
        assert not alive(pid)

    run(scenario())


def test_cancelled_start_leaves_nothing_running(tmp_path: Path) -> None:
    sup = make(tmp_path, fake("--slow-start", "120"), grace_period=1.0)

    async def scenario() -> None:
        starting = asyncio.create_task(sup.start())
        await until(lambda: sup.pid is not None)
        pid = sup.pid
        assert pid is not None
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        assert sup.state is S.STOPPED
        assert not alive(pid)

    run(scenario())


def test_a_supervisor_bug_still_leaves_nothing_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launched: list[int | None] = []

    async def broken_health_check(self: Supervisor, client: httpx.AsyncClient, port: int) -> tuple[str, str]:
        launched.append(self.pid)
        raise RuntimeError("a bug in the health check")

    monkeypatch.setattr(Supervisor, "_await_health", broken_health_check)
    sup = make(tmp_path, fake())
    with pytest.raises(RuntimeError, match="a bug in the health check"):
        run(sup.start())
    assert sup.state is S.FAILED
    (pid,) = launched
    assert pid is not None and not alive(pid)
    assert not sup.pid_file.exists()


def test_a_supervisor_not_started_serves_nothing(tmp_path: Path) -> None:
    sup = make(tmp_path, fake())
    assert sup.state is EngineState.STOPPED
    assert sup.base_url is None and sup.port is None and sup.pid is None
    assert sup.retry_after >= 1


def test_the_log_header_does_not_leak_the_api_key(tmp_path: Path) -> None:
    sup = make(tmp_path, [*fake(), "--api-key", "sk-secret-123"], api_key="sk-secret-123")

    async def scenario() -> None:
        await sup.start()
        await sup.stop()

    run(scenario())
    log = sup.spec.log_file.read_text()
    assert "sk-secret-123" not in log
    assert "--api-key '***'" in log


# ------------------------------------------------------------------------------------------------
# Crashes and restarts


def test_a_crash_is_restarted_with_a_new_pid(tmp_path: Path) -> None:
    rec = Recorder()
    marker = tmp_path / "crashed-once"
    sup = make(tmp_path, fake("--crash-after", "0.6", "--crash-once", str(marker)), rec, backoff_initial=0.3)
    retry_after: list[float] = []

    def on_state(state: EngineState, message: str) -> None:
        rec.on_state(state, message)
        if state is S.RESTARTING:
            retry_after.append(sup.retry_after)
            assert sup.base_url is None  # the proxy must not forward to a dead port

    sup.on_state = on_state

    async def scenario() -> None:
        await sup.start()
        first = sup.pid
        assert first is not None
        await until(lambda: sup.state is S.RESTARTING)
        assert await wait_ready(sup, EVENTUALLY)
        second = sup.pid
        assert second is not None and second != first
        assert not alive(first)
        assert sup.base_url is not None
        assert await chat(sup.base_url) == f"pong from {second}"
        await sup.stop()

    run(scenario())
    assert rec.transitions() == [S.STARTING, S.READY, S.RESTARTING, S.READY, S.STOPPING, S.STOPPED]
    restarting = next(message for state, message in rec.events if state is S.RESTARTING)
    assert "exited unexpectedly with code 3" in restarting
    assert "restarting in 0.3 s (restart 1 of 5)" in restarting
    assert retry_after and retry_after[0] >= 1
    assert rec.fatal == []
    assert sup.restarts == 1


def test_repeated_crashes_end_in_failed_and_on_fatal(tmp_path: Path) -> None:
    rec = Recorder()
    sup = make(tmp_path, fake("--crash-after", "0.4"), rec, max_restarts=2)

    async def scenario() -> None:
        await sup.start()
        await until(lambda: sup.state is S.FAILED)
        assert sup.pid is None
        assert not await wait_ready(sup, 5)
        await sup.stop()
        assert sup.state is S.STOPPED

    run(scenario())
    assert rec.transitions() == [
        S.STARTING,
        *[S.READY, S.RESTARTING] * 2,
        S.READY,
        S.FAILED,
        S.STOPPING,
        S.STOPPED,
    ]
    assert len(rec.fatal) == 1
    assert "exited unexpectedly with code 3; giving up after 2 restart(s) in a row" in rec.fatal[0]
    assert "fatal: simulated crash" in rec.fatal[0]  # with the log's last lines
    assert all(not alive(pid) for pid in pids_in_log(sup.spec.log_file))
    assert not sup.pid_file.exists()


def test_failed_relaunches_count_towards_the_limit(tmp_path: Path) -> None:
    rec = Recorder()
    counter = tmp_path / "launches"
    argv = fake("--crash-after", "0.4", "--launch-counter", str(counter), "--exit-from-launch", "2")
    sup = make(tmp_path, argv, rec, max_restarts=3)

    async def scenario() -> None:
        await sup.start()
        await until(lambda: sup.state is S.FAILED)

    run(scenario())
    assert counter.read_text() == "4"  # the first launch and three failed restarts
    assert sup.restarts == 3  # a failed relaunch is a restart too
    assert rec.transitions() == [S.STARTING, S.READY, S.RESTARTING, S.FAILED]
    notices = [message for state, message in rec.events if state is S.RESTARTING]
    assert [n.rsplit("(", 1)[1] for n in notices] == ["restart 1 of 3)", "restart 2 of 3)", "restart 3 of 3)"]
    assert "restarting in 0.1 s" in notices[1] and "restarting in 0.2 s" in notices[2]  # exponential backoff
    assert "the restart failed" in rec.fatal[0] and "exited prematurely with code 2" in rec.fatal[0]


def test_a_stable_run_resets_the_restart_count(tmp_path: Path) -> None:
    rec = Recorder()
    sup = make(tmp_path, fake("--crash-after", "0.5"), rec, max_restarts=1, stable_after=0.2)

    async def scenario() -> None:
        await sup.start()
        await until(lambda: sum(s is S.RESTARTING for s, _ in rec.events) >= 3)
        await sup.stop()

    run(scenario())
    assert S.FAILED not in rec.transitions()
    assert rec.fatal == []
    notices = [message for state, message in rec.events if state is S.RESTARTING]
    assert all(n.endswith("(restart 1 of 1)") for n in notices)
    assert sup.restarts == len(notices) >= 3  # the count of the limit is cleared, the total never


def test_backoff_is_capped(tmp_path: Path) -> None:
    rec = Recorder()
    counter = tmp_path / "launches"
    argv = fake("--crash-after", "0.3", "--launch-counter", str(counter), "--exit-from-launch", "2")
    sup = make(tmp_path, argv, rec, max_restarts=4, backoff_initial=0.05, backoff_max=0.1)

    async def scenario() -> None:
        await sup.start()
        await until(lambda: sup.state is S.FAILED)

    run(scenario())
    delays = [m.split("restarting in ")[1].split(" s")[0] for s, m in rec.events if s is S.RESTARTING]
    assert delays == ["0.05", "0.1", "0.1", "0.1"]


# ------------------------------------------------------------------------------------------------
# Ports


def test_an_internal_port_taken_before_binding_is_retried(
    tmp_path: Path, held_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks: list[int] = []
    real_free_port = net.free_port

    def free_port_taken_once(host: str) -> int:
        # The race, made certain: the first "free" port is taken by someone else before the child binds it.
        picks.append(held_port if not picks else real_free_port(host))
        return picks[-1]

    monkeypatch.setattr(net, "free_port", free_port_taken_once)
    rec = Recorder()
    sup = make(tmp_path, fake(), rec, max_restarts=0)

    async def scenario() -> None:
        await sup.start()
        assert sup.port == picks[1] != held_port
        await sup.stop()

    run(scenario())
    assert len(picks) == 2
    assert rec.transitions() == [S.STARTING, S.READY, S.STOPPING, S.STOPPED]  # no crash counted
    assert f"port {held_port} was taken before python" in rec.messages()
    assert "couldn't bind HTTP server socket" in sup.spec.log_file.read_text()


def test_a_busy_fixed_port_is_an_error_naming_it(tmp_path: Path, held_port: int) -> None:
    sup = make(tmp_path, fake(), port=held_port)
    with pytest.raises(EngineStartError) as caught:
        run(sup.start())
    message = str(caught.value)
    assert f"Port {held_port} on 127.0.0.1 is already in use" in message
    if sys.platform.startswith("linux"):
        assert f"held by pid {os.getpid()} (" in message  # the holder, named with its command line
    assert "choose another port" in message
    assert not sup.spec.log_file.exists()  # nothing was launched
