"""Starting the test rig's llama-server directly (no supervisor), for tests of what sits in front of it.

One thread: ggml's threads meet at spinning barriers, so on a machine busy with other work a two-thread
server crawls (seen on 2 cores at load 6: 2 tok/s with two threads, 20 with one), and the time bounds of
those tests would measure the machine instead of the code in front of llama-server.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from openai_api_simulator.testing import free_port
from tests.support.rig import Rig

READY_WITHIN_S = 60


def launch_llama(
    rig: Rig, log: Path, *, alias: str, api_key: str, ctx_size: int = 512, parallel: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """A llama-server on a free loopback port serving the rig's GGUF as `alias`; (process, URL) once /health is
    200. The test fails, showing the log's tail, if it exits or is not healthy within a minute."""
    port = free_port()
    argv = [str(rig.server), "--host", "127.0.0.1", "--port", str(port), "-m", str(rig.gguf)]
    argv += ["--ctx-size", str(ctx_size), "--threads", "1", "--alias", alias, "--api-key", api_key]
    argv += ["--no-webui", "--parallel", str(parallel)]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_WITHIN_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"llama-server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"llama-server did not become healthy in {READY_WITHIN_S} s:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
