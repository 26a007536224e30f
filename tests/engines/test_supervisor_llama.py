"""The supervisor with the real llama-server and SmolLM2 (the `rig`): ready, answers, survives kill -9, stops.

The other supervisor tests use fake upstreams; this one checks the fakes' assumptions against the real
thing: /health's 503-then-200, a restart on a new port after SIGKILL, nothing left after stop().
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from openai_api_simulator.engines import EngineState, LaunchSpec, Supervisor
from tests.engines.helpers import wait_ready
from tests.support.rig import Rig

pytestmark = pytest.mark.rig

# Loading the 135M model takes well under a second here; this is the generous "eventually".
EVENTUALLY = 60.0


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def chat(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=60) as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "temperature": 0},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "chat.completion"
        content: str = body["choices"][0]["message"]["content"]
        assert body["usage"]["completion_tokens"] > 0
        return content


def test_real_llama_server_is_supervised_restarted_and_stopped(rig: Rig, tmp_path: Path) -> None:
    events: list[tuple[EngineState, str]] = []
    argv = [str(rig.server), "--host", "127.0.0.1", "--port", "{port}", "-m", str(rig.gguf)]
    argv += ["--ctx-size", "512", "--no-webui"]
    spec = LaunchSpec(name="smollm2-135m", argv=argv, log_file=tmp_path / "llama-server.log", ready_timeout=EVENTUALLY)
    sup = Supervisor(
        spec,
        pid_dir=tmp_path / "run",
        backoff_initial=0.2,
        grace_period=10.0,
        on_state=lambda state, message: events.append((state, message)),
    )

    async def scenario() -> tuple[int, int]:
        await sup.start()
        first = sup.pid
        assert first is not None and sup.base_url is not None
        assert psutil.Process(first).name() == "llama-server"
        assert await chat(sup.base_url)

        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + EVENTUALLY
        while sup.state is EngineState.READY and sup.pid == first:
            assert time.monotonic() < deadline, "the supervisor did not notice the kill"
            await asyncio.sleep(0.01)
        assert await wait_ready(sup, EVENTUALLY)
        second = sup.pid
        assert second is not None and second != first
        assert sup.base_url is not None
        assert await chat(sup.base_url)

        await sup.stop()
        return first, second

    first, second = asyncio.run(scenario())
    assert sup.state is EngineState.STOPPED
    assert sup.returncode == 0  # llama-server exits cleanly on SIGTERM
    assert gone(first) and gone(second)
    assert not sup.pid_file.exists()
    states = [state for state, _ in events]
    assert states == [
        EngineState.STARTING,
        EngineState.READY,
        EngineState.RESTARTING,
        EngineState.READY,
        EngineState.STOPPING,
        EngineState.STOPPED,
    ]
    restarting = events[2][1]
    assert "llama-server for smollm2-135m exited unexpectedly with code -9 (killed by SIGKILL)" in restarting
