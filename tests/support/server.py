"""`openai-api-simulator` commands as real processes, for what only a real process shows (logs, `status`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from openai_api_simulator.testing import free_port

START_DEADLINE_S = 30.0


def wait_healthy(proc: subprocess.Popen[str], port: int, deadline: float = START_DEADLINE_S) -> None:
    """Until the process answers /health on `port` (the test fails with its output if it exits first)."""
    end = time.monotonic() + deadline
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the server did not start"
        time.sleep(0.05)


@contextmanager
def serving_process(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """`python -m openai_api_simulator serve --port PORT ARGS...`, healthy; stopped (SIGTERM) on exit."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "openai_api_simulator", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        wait_healthy(proc, port)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=15)
