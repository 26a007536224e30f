"""The watchdog program (``python -m openai_api_simulator.engines.watchdog``), run as the supervisor runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from openai_api_simulator.testing import free_port
from tests.engines.helpers import EVENTUALLY, UPSTREAM, wait_gone

WATCHDOG = [sys.executable, "-m", "openai_api_simulator.engines.watchdog"]


def test_the_watchdog_stops_the_child_group_when_the_orchestrator_dies(tmp_path: Path) -> None:
    grandchild_file = tmp_path / "grandchild.pid"
    orchestrator = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child_argv = [sys.executable, str(UPSTREAM), "--port", str(free_port()), "--grandchild", str(grandchild_file)]
    child = subprocess.Popen(child_argv, stdout=subprocess.DEVNULL, start_new_session=True)
    dog = subprocess.Popen(
        [*WATCHDOG, str(orchestrator.pid), str(child.pid), "--grace", "0.5", "--interval", "0.05"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + EVENTUALLY
        while not grandchild_file.exists() or not grandchild_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        grandchild = int(grandchild_file.read_text())
        time.sleep(0.5)  # ten watchdog polls while the orchestrator lives: the child must be left alone
        assert child.poll() is None and dog.poll() is None

        orchestrator.kill()
        orchestrator.wait()
        _, stderr = dog.communicate(timeout=EVENTUALLY)
        assert dog.returncode == 0
        assert f"orchestrator pid {orchestrator.pid} is gone" in stderr
        assert child.wait(timeout=EVENTUALLY) == 0  # SIGTERM first: a clean exit
        assert wait_gone(grandchild)  # it ignores SIGTERM: killed after the grace period
    finally:
        for process in (orchestrator, child, dog):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_the_watchdog_leaves_when_the_child_exits(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"], start_new_session=True)
    dog = subprocess.Popen(
        [*WATCHDOG, str(os.getpid()), str(child.pid), "--interval", "0.05"],
    )
    assert child.wait(timeout=EVENTUALLY) == 0  # it ran to its own end
    assert dog.wait(timeout=EVENTUALLY) == 0
