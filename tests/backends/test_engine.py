"""A supervised engine as a backend: its state as the registry shows it, relaying once READY, 503 otherwise.

The engine is the fake upstream program under a real `Supervisor`; the app is called in process through httpx's
ASGI transport, and entering the backend's lifespan opens the relay's connection pool.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from openai_api_simulator.app import create_app
from openai_api_simulator.backends import FakeBackend, Relay
from openai_api_simulator.backends.engine import EngineBackend
from openai_api_simulator.config import Settings
from tests.engines.helpers import fake, make, run

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
