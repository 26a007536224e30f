"""A supervised engine as a backend: its state as the registry shows it, relaying once READY, 503 otherwise.

The engine is the fake upstream program under a real `Supervisor`; the app is called in process through httpx's
ASGI transport, and entering the backend's lifespan opens the relay's connection pool.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from openai_api_simulator.app import create_app
from openai_api_simulator.backends import FakeBackend, Relay
from openai_api_simulator.backends.engine import EngineBackend
from openai_api_simulator.config import Settings
from openai_api_simulator.engines import EngineState
from tests.engines.helpers import fake, make, run, wait_gone

CHAT = {"model": "local", "messages": [{"role": "user", "content": "hi"}]}


def test_stopped_then_ready_then_stopped_again(tmp_path: Path) -> None:
    supervisor = make(tmp_path, fake("--slow-start", "0.2"), api_key="INTERNAL")
    backend = EngineBackend(
        "local", supervisor, Relay(), capabilities=frozenset({"chat/completions"}), owned_by="lab", created=3
    )
    settings = Settings(fixed_created=3)
    app = create_app(settings, [FakeBackend(settings), backend])

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with backend.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            assert backend.name == "python for local"  # the engine's program and the model it serves
            assert backend.status("local").state == "stopped"
            before = await client.post("/v1/chat/completions", json=CHAT)
            assert before.status_code == 503 and "`local` is stopped" in before.json()["error"]["message"]
            assert int(before.headers["retry-after"]) >= 1

            await supervisor.start()
            assert backend.status("local").state == "ready" and backend.urls() == [supervisor.base_url]
            assert backend.api_key == "INTERNAL"
            answer = await client.post("/v1/chat/completions", json=CHAT)
            assert answer.status_code == 200
            assert answer.json()["choices"][0]["message"]["content"] == f"pong from {supervisor.pid}"
            models = (await client.get("/v1/models")).json()["data"]
            assert models[-1] == {"id": "local", "object": "model", "created": 3, "owned_by": "lab"}

            await supervisor.stop()
            assert backend.status("local").state == "stopped" and backend.urls() == []
            after = await client.post("/v1/chat/completions", json=CHAT)
            assert after.status_code == 503

    run(scenario())


def test_a_killed_engine_is_restarting_before_its_supervisor_notices(tmp_path: Path) -> None:
    """Between a crash and the supervisor hearing of it, the state still says READY: a refused connection
    must be answered 503 with Retry-After, naming the model, never a 502 showing the private URL or key."""
    supervisor = make(tmp_path, fake(), api_key="INTERNAL", backoff_initial=0.5)
    backend = EngineBackend(
        "local", supervisor, Relay(), capabilities=frozenset({"chat/completions"}), owned_by="lab", created=3
    )
    app = create_app(Settings(), [FakeBackend(Settings()), backend])

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with backend.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            await supervisor.start()
            try:
                pid, port = supervisor.pid, supervisor.port
                assert pid is not None and port is not None
                assert supervisor.alive and backend.confirm_state() == "ready"
                assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200

                os.kill(pid, signal.SIGKILL)
                # Wait for the death without yielding to the event loop, so the supervisor cannot hear of it.
                assert wait_gone(pid)
                assert supervisor.state is EngineState.READY  # not noticed yet
                assert not supervisor.alive
                assert backend.confirm_state() == "restarting"

                r = await client.post("/v1/chat/completions", json=CHAT)
                assert r.status_code == 503, r.text
                assert int(r.headers["retry-after"]) >= 1
                message = r.json()["error"]["message"]
                assert "`local` is restarting" in message
                assert str(port) not in message and "INTERNAL" not in message
            finally:
                await supervisor.stop()
            assert not supervisor.alive

    run(scenario())
