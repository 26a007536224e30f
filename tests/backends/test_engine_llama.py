"""A supervised real llama-server (the `rig`) as a backend: killed with SIGKILL under a steady flow of requests.

The app, the supervisor and the requests share one event loop, as under `run`: the supervisor hears of the
exit a few loop iterations after it happens, and the requests in between are the ones this test is about.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from openai_api_simulator.app import create_app
from openai_api_simulator.backends import FakeBackend, Relay
from openai_api_simulator.backends.engine import EngineBackend
from openai_api_simulator.config import Settings
from openai_api_simulator.engines import EngineState, LaunchSpec, Supervisor
from tests.support.rig import Rig

pytestmark = pytest.mark.rig

MODEL = "smollm2-test"
KEY = "INTERNAL-KEY-never-shown"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 2}
# Loading the 135M model takes well under a second here; this is the generous "eventually".
EVENTUALLY = 60.0
CLIENTS = 4


def test_a_killed_engine_answers_503_with_retry_after_until_it_is_back(rig: Rig, tmp_path: Path) -> None:
    argv = [str(rig.server), "--host", "127.0.0.1", "--port", "{port}", "-m", str(rig.gguf)]
    argv += ["--ctx-size", "512", "--parallel", "2", "--threads", "1", "--alias", MODEL, "--no-webui"]
    spec = LaunchSpec(
        name=MODEL,
        argv=argv,
        log_file=tmp_path / "llama-server.log",
        ready_timeout=EVENTUALLY,
        env={"LLAMA_API_KEY": KEY},  # as the llama engine passes it: invisible to `ps`
        api_key=KEY,
    )
    supervisor = Supervisor(spec, pid_dir=tmp_path / "run", backoff_initial=0.2, grace_period=10.0)
    backend = EngineBackend(
        MODEL, supervisor, Relay(), capabilities=frozenset({"chat/completions"}), owned_by="llama.cpp"
    )
    app = create_app(Settings(), [FakeBackend(Settings()), backend])
    answers: list[tuple[int, str | None, str]] = []  # (status, Retry-After, body)

    async def scenario() -> tuple[int, int]:
        await supervisor.start()
        try:
            first, port = supervisor.pid, supervisor.port
            assert first is not None and port is not None
            transport = httpx.ASGITransport(app=app)
            async with (
                backend.lifespan(),
                httpx.AsyncClient(transport=transport, base_url="http://app", timeout=EVENTUALLY) as client,
            ):
                back = asyncio.Event()
                flowing = asyncio.Event()  # every client has had an answer: all flowing, some in flight

                async def client_loop() -> None:
                    while not back.is_set():
                        r = await client.post("/v1/chat/completions", json=BODY)
                        answers.append((r.status_code, r.headers.get("retry-after"), r.text))
                        if sum(status == 200 for status, _, _ in answers) >= CLIENTS:
                            flowing.set()
                        if r.status_code == 503:
                            await asyncio.sleep(0.005)  # keep asking: the window is what is tested

                clients = [asyncio.create_task(client_loop()) for _ in range(CLIENTS)]
                await asyncio.wait_for(flowing.wait(), EVENTUALLY)
                os.kill(first, signal.SIGKILL)
                killed_at = len(answers)
                deadline = time.monotonic() + EVENTUALLY
                while not (
                    supervisor.state is EngineState.READY
                    and supervisor.pid != first
                    and any(status == 200 for status, _, _ in answers[killed_at:])
                ):
                    assert time.monotonic() < deadline, f"not back in {EVENTUALLY:g} s: {supervisor.state}"
                    await asyncio.sleep(0.01)
                back.set()
                await asyncio.gather(*clients)
            return port, killed_at
        finally:
            await supervisor.stop()

    port, killed_at = asyncio.run(asyncio.wait_for(scenario(), 2 * EVENTUALLY))
    statuses = [status for status, _, _ in answers]
    print(f"{len(answers)} answers, {statuses.count(503)} of them 503, {killed_at} before the kill")  # with -s
    assert set(statuses) <= {200, 503}, [a for a in answers if a[0] not in (200, 503)]
    assert statuses.count(503) > 0, "no request met the engine while it was down"
    assert statuses[-1] == 200
    for status, retry_after, text in answers:
        assert f":{port}" not in text and "127.0.0.1" not in text and KEY not in text, text
        if status == 503:
            assert retry_after is not None and re.fullmatch(r"[1-9][0-9]*", retry_after), retry_after
            assert f"`{MODEL}`" in text and "retry in" in text
