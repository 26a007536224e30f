"""`run`'s serving step end to end with an engine kind made for tests (the fake upstream program): one new
engine class and one registration are all it takes to be provisioned, supervised, listed, relayed and stopped.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from openai_api_simulator import orchestrator
from openai_api_simulator.config import Settings
from openai_api_simulator.engines import EngineState
from openai_api_simulator.engines.base import Launch
from openai_api_simulator.pipeline import ModelChoice, RunPlan, provision_model
from openai_api_simulator.server import bind_socket
from tests.support.engines import ExampleEngine, register


@dataclass
class Recorded:
    """A `RunEvents` that remembers what it was told."""

    starting: list[tuple[str, str, int]] = field(default_factory=list)
    states: list[tuple[str, EngineState]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    ready_at: list[tuple[str, list[str], str]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def engine_starting(self, model: str, launch: Launch, port: int) -> None:
        self.starting.append((model, launch.server, port))

    def engine_state(self, model: str, state: EngineState, message: str) -> None:
        self.states.append((model, state))

    def engine_failed(self, model: str, message: str) -> None:
        self.failed.append(message)
        self.done.set()

    def ready(self, base_url: str, models: list[str], sample_model: str, took: float) -> None:
        self.ready_at.append((base_url, models, sample_model))
        self.done.set()


@dataclass
class Running:
    url: str
    events: Recorded
    orchestrator: orchestrator.Orchestrator
    thread: threading.Thread
    result: list[int]  # the exit code, once it has stopped

    def stop(self) -> None:
        """Stop as Ctrl+C would (the server's exit flag), and wait for it."""
        self.orchestrator.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive()


Serve = Callable[..., Running]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Serve]:
    """Start an orchestrator serving `ExampleEngine` models in a thread; `wait` for the engines' outcome."""
    register(monkeypatch)
    started: list[tuple[orchestrator.Orchestrator, threading.Thread]] = []

    def start(engine: ExampleEngine, *choices: ModelChoice, wait: bool = True) -> Running:
        plan = RunPlan(
            Settings(port=0, fixed_created=7, access_log=False, log_level="warning"),
            models=choices,
            engines={"example": engine},
            log_dir=tmp_path / "logs",
        )
        sock = bind_socket("127.0.0.1", 0)
        events = Recorded()
        prepared = [provision_model(c, plan.provision, plan.engines) for c in plan.models]
        orch = orchestrator.Orchestrator(plan, prepared, events)
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(asyncio.run(orch.serve(sock))), daemon=True)
        thread.start()
        started.append((orch, thread))
        assert not wait or events.done.wait(30), "the engines neither became ready nor failed"
        return Running(f"http://127.0.0.1:{sock.getsockname()[1]}", events, orch, thread, result)

    yield start
    for orch, thread in started:
        orch.server.should_exit = True
        thread.join(30)


def test_an_engine_kind_is_supervised_listed_relayed_and_stopped(serve: Serve) -> None:
    running = serve(ExampleEngine("--slow-start", "0.3"), ModelChoice("example://tiny"))
    events = running.events
    [(model, server, port)] = events.starting
    assert (model, server) == ("tiny", "example server")
    assert events.ready_at == [(running.url + "/v1", ["tiny", "gpt-sim-1"], "tiny")]
    assert ("tiny", EngineState.READY) in events.states
    engine_pid = next(c.pid for c in psutil.Process().children(recursive=True) if str(port) in " ".join(c.cmdline()))

    with httpx.Client(base_url=running.url, timeout=10) as http:
        assert http.get("/health").json() == {"status": "ok", "models": {"gpt-sim-1": "ready", "tiny": "ready"}}
        assert http.get("/v1/models/tiny").json() == {
            "id": "tiny",
            "object": "model",
            "created": 7,
            "owned_by": "example-lab",
        }
        answer = http.post(
            "/v1/chat/completions", json={"model": "tiny", "messages": [{"role": "user", "content": "x"}]}
        )
        assert answer.json()["choices"][0]["message"]["content"] == f"pong from {engine_pid}"
        # The engine declared chat only: the registry refuses the rest without bothering it.
        refused = http.post("/v1/embeddings", json={"model": "tiny", "input": "x"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "unsupported_endpoint"

    running.stop()
    assert running.result == [0]
    assert not psutil.pid_exists(engine_pid) or psutil.Process(engine_pid).status() == psutil.STATUS_ZOMBIE


def test_an_engine_that_cannot_start_ends_the_run_with_code_1(serve: Serve) -> None:
    running = serve(ExampleEngine("--exit-at-once", "1"), ModelChoice("example://broken"))
    running.thread.join(30)
    assert running.result == [1]
    [message] = running.events.failed
    assert "exited prematurely" in message and "error loading model" in message
    assert running.events.ready_at == []


def test_while_an_engine_starts_the_fake_answers_and_the_engine_is_503(serve: Serve) -> None:
    running = serve(ExampleEngine("--slow-start", "3"), ModelChoice("example://slow"), wait=False)
    chat = {"messages": [{"role": "user", "content": "x"}]}
    with httpx.Client(base_url=running.url, timeout=10) as http:
        deadline = time.monotonic() + 10
        while True:  # the public port is bound from the start; uvicorn answers within a moment
            try:
                health = http.get("/health").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        assert health == {"status": "degraded", "models": {"gpt-sim-1": "ready", "slow": "starting"}}
        waiting = http.post("/v1/chat/completions", json={**chat, "model": "slow"})
        assert waiting.status_code == 503 and int(waiting.headers["retry-after"]) >= 1
        assert "`slow` is starting" in waiting.json()["error"]["message"]
        assert http.post("/v1/chat/completions", json={**chat, "model": "gpt-sim-1"}).status_code == 200
        assert running.events.done.wait(30) and running.events.ready_at
        assert http.post("/v1/chat/completions", json={**chat, "model": "slow"}).status_code == 200


def test_a_stream_in_flight_does_not_hold_the_runs_stop(serve: Serve) -> None:
    """Ctrl+C during a stream: the public server cuts it within its grace, then the engines stop; exit 0."""
    running = serve(ExampleEngine(), ModelChoice("example://tiny"))
    body = {"model": "gpt-sim-1", "stream": True, "messages": [{"role": "user", "content": "a long story"}]}
    headers = {"X-Simulator-Tokens-Per-Second": "1"}
    with (
        httpx.Client(base_url=running.url, timeout=30) as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as stream,
    ):
        assert stream.status_code == 200
        chunks = stream.iter_raw()
        next(chunks)  # the stream is under way
        started = time.monotonic()
        running.stop()
        took = time.monotonic() - started
        with pytest.raises(httpx.RemoteProtocolError):  # cut, not finished as if complete
            for _ in chunks:
                pass
    assert running.result == [0]
    assert took < 4, f"took {took:.1f} s"  # the engine's SIGTERM included; uvicorn's own timeout was 5.5 s
