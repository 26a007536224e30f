"""Orphans: pid files of an earlier run, the parent-death signal and the watchdog, with real processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from openai_api_simulator.engines import EngineState, LaunchSpec, Supervisor
from tests.engines.helpers import EVENTUALLY, FAKES, Recorder, alive, fake, make, run, wait_gone

S = EngineState
ORCHESTRATOR = FAKES / "orchestrator.py"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Pids to kill after the test, should it fail before they are gone (a failing test leaves no orphan)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


def test_pid_file_lives_in_the_cache_by_default(tmp_path: Path, cache_dir: Path) -> None:
    spec = LaunchSpec(name="hf://org/Model-GGUF:Q4_K_M", argv=fake(), log_file=tmp_path / "x.log")
    assert Supervisor(spec).pid_file == cache_dir / "run" / "hf_org_Model-GGUF_Q4_K_M.pid"


def start_orchestrator(tmp_path: Path, guard: str, *flags: str) -> tuple[subprocess.Popen[str], int]:
    """A separate orchestrator process supervising a fake; returns it and the fake's pid."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    command = [sys.executable, str(ORCHESTRATOR), str(tmp_path / "run"), str(tmp_path / "logs" / "orch.log"), guard]
    orchestrator = subprocess.Popen([*command, "--", *fake(*flags)], stdout=subprocess.PIPE, text=True, env=env)
    assert orchestrator.stdout is not None
    line = orchestrator.stdout.readline()  # EOF (and a failed json.loads) if it could not start
    return orchestrator, int(json.loads(line)["pid"])


def sigkill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def test_an_engine_left_by_a_killed_run_is_stopped_at_start(tmp_path: Path, reaper: list[int]) -> None:
    orchestrator, orphan = start_orchestrator(tmp_path, "none")
    reaper.append(orphan)
    sigkill(orchestrator)
    time.sleep(0.3)
    assert alive(orphan)  # without a guard, the engine outlives a SIGKILLed orchestrator: an orphan

    rec = Recorder()
    sup = make(tmp_path, fake(), rec)

    async def scenario() -> None:
        await sup.start()
        assert sup.pid != orphan
        await sup.stop()

    run(scenario())
    assert f"stopped {Path(sys.executable).name} left by an earlier run (pid {orphan})" in rec.messages()
    assert rec.events[1][0] is S.STARTING  # reported before the new launch
    assert wait_gone(orphan)


@pytest.mark.parametrize("owner_alive", [False, True], ids=["pid-reused", "owner-still-running"])
def test_a_pid_file_never_kills_a_process_it_does_not_own(tmp_path: Path, owner_alive: bool) -> None:
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        created = psutil.Process(unrelated.pid).create_time()
        record = {
            "pid": unrelated.pid,
            # Owner alive: the very process, but another orchestrator (this one) still runs it.
            # Otherwise the pid was reused: same number, another create time.
            "create_time": created if owner_alive else created - 1000.0,
            "argv0": "llama-server",
            "orchestrator_pid": os.getpid() if owner_alive else dead.pid,
            "orchestrator_create_time": psutil.Process().create_time() if owner_alive else 1.0,
        }
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "fake-model.pid").write_text(json.dumps(record))
        rec = Recorder()
        sup = make(tmp_path, fake(), rec)

        async def scenario() -> None:
            await sup.start()
            assert json.loads(sup.pid_file.read_text())["pid"] == sup.pid  # now ours
            await sup.stop()

        run(scenario())
        assert unrelated.poll() is None  # untouched
        assert "earlier run" not in rec.messages()
    finally:
        unrelated.kill()
        unrelated.wait()


@pytest.mark.parametrize("guard", ["pdeathsig", "watchdog"])
def test_a_sigkilled_orchestrator_takes_its_engine_along(tmp_path: Path, guard: str, reaper: list[int]) -> None:
    if guard == "pdeathsig" and not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux only")
    orchestrator, child = start_orchestrator(tmp_path, guard)
    reaper.append(child)
    assert alive(child)
    sigkill(orchestrator)
    assert wait_gone(child)
    if guard == "watchdog":  # it was the watchdog's doing (it reports after the tree is gone)
        log, expected = tmp_path / "logs" / "orch.log", f"watchdog: orchestrator pid {orchestrator.pid} is gone"
        deadline = time.monotonic() + EVENTUALLY
        while expected not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        assert "Warning" not in log.read_text()  # the watchdog starts cleanly
