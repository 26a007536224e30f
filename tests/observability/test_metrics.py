"""GET /metrics: requests by route template, model and status, the two histograms, tokens, engines.

The app runs in process (Starlette's test client, relays over `httpx.MockTransport`); the engine metrics come
from a real `Supervisor` running the fake upstream program, crashed once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from openai_api_simulator.app import create_app
from openai_api_simulator.backends import FakeBackend, Relay
from openai_api_simulator.backends.engine import EngineBackend
from openai_api_simulator.config import Settings
from openai_api_simulator.engines import EngineState
from openai_api_simulator.observability.metrics import PENDING_MAX, engine_models
from tests.engines.helpers import EVENTUALLY, fake, make, run
from tests.support.backends import CHAT, one_upstream

CHATTED = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "Tell me about rivers."}]}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(client: TestClient | httpx.Client) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(aliases=("gpt-4o",)))) as c:
        yield c


def test_requests_are_counted_by_route_template_model_and_status(client: TestClient) -> None:
    for _ in range(3):
        assert client.post("/v1/chat/completions", json=CHATTED).status_code == 200
    assert client.post("/chat/completions", json={**CHATTED, "model": "gpt-4o"}).status_code == 200
    assert client.post("/v1/chat/completions", json={**CHATTED, "model": "nobody"}).status_code == 404
    assert client.post("/v1/chat/completions", content=b"{not json").status_code == 400
    assert client.get("/v1/models/gpt-sim-1").status_code == 200
    assert client.get("/v1/models/gpt-4o").status_code == 200
    for n in range(5):  # unknown URLs must not each become a series
        assert client.get(f"/v1/nothing-{n}").status_code == 404
    assert client.get("/health").status_code == 200

    found = samples(client)
    requests = "oas_requests_total"
    assert value(found, requests, route="/v1/chat/completions", model="gpt-sim-1", status="200") == 3
    assert value(found, requests, route="/chat/completions", model="gpt-4o", status="200") == 1
    assert value(found, requests, route="/v1/chat/completions", model="unknown", status="404") == 1
    assert value(found, requests, route="/v1/chat/completions", model="unknown", status="400") == 1
    assert value(found, requests, route="/v1/models/{model_id}", model="", status="200") == 2
    assert value(found, requests, route="other", model="", status="404") == 5
    assert value(found, requests, route="/health", model="", status="200") == 1
    routes = {dict(labels)["route"] for name, labels in found if name == requests}
    assert not any("nothing" in route for route in routes)
    # Every request has its duration; the histogram's count matches the requests.
    duration = "oas_request_duration_seconds_count"
    assert value(found, duration, route="/v1/chat/completions", model="gpt-sim-1") == 3
    assert value(found, "oas_request_duration_seconds_bucket", route="other", model="", le="+Inf") == 5


def test_the_scrape_counts_itself_from_the_next_scrape_on(client: TestClient) -> None:
    samples(client)
    found = samples(client)
    assert value(found, "oas_requests_total", route="/metrics", model="", status="200") == 1


def test_more_requests_than_one_batch_are_all_counted(client: TestClient) -> None:
    for _ in range(PENDING_MAX + 10):
        client.get("/health")
    assert value(samples(client), "oas_requests_total", route="/health", model="", status="200") == PENDING_MAX + 10


def test_tokens_come_from_every_answer_with_usage(client: TestClient) -> None:
    plain = client.post("/v1/chat/completions", json=CHATTED).json()["usage"]
    again = client.post("/v1/chat/completions", json=CHATTED).json()["usage"]  # answered from the memo
    assert again == plain
    faulted = client.post("/v1/chat/completions", json=CHATTED, headers={"X-Simulator-Latency-Ms": "1"})
    assert faulted.json()["usage"] == plain  # not memoizable: counted from the answer itself
    embedded = client.post("/v1/embeddings", json={"model": "gpt-sim-1", "input": "rivers"}).json()["usage"]
    streamed = client.post(
        "/v1/chat/completions", json={**CHATTED, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert streamed.status_code == 200 and '"usage":{' in streamed.text
    # Without include_usage a stream carries no usage: nothing is counted for it.
    assert client.post("/v1/chat/completions", json={**CHATTED, "stream": True}).status_code == 200
    responses = client.post("/v1/responses", json={"model": "gpt-4o", "input": "hi", "stream": True})
    assert "response.completed" in responses.text

    found = samples(client)
    prompt = 4 * plain["prompt_tokens"] + embedded["prompt_tokens"]
    completion = 4 * plain["completion_tokens"]
    assert value(found, "oas_tokens_total", model="gpt-sim-1", kind="prompt") == prompt
    assert value(found, "oas_tokens_total", model="gpt-sim-1", kind="completion") == completion
    assert value(found, "oas_tokens_total", model="gpt-4o", kind="completion") > 0


def test_time_to_first_token_is_measured_for_streams_only(client: TestClient) -> None:
    slow = {"X-Simulator-Latency-Ms": "300"}
    assert client.post("/v1/chat/completions", json={**CHATTED, "stream": True}, headers=slow).status_code == 200
    assert client.post("/v1/chat/completions", json=CHATTED).status_code == 200

    found = samples(client)
    first = "oas_time_to_first_token_seconds"
    labels = {"route": "/v1/chat/completions", "model": "gpt-sim-1"}
    assert value(found, f"{first}_count", **labels) == 1  # the stream; the JSON answer has no first token
    assert value(found, f"{first}_bucket", le="0.25", **labels) == 0  # the headers came at once, the tokens not
    assert value(found, f"{first}_bucket", le="0.5", **labels) == 1
    assert value(found, f"{first}_sum", **labels) >= 0.3
    assert value(found, "oas_request_duration_seconds_count", **labels) == 2


def test_tokens_of_a_relayed_answer_are_read_from_its_bytes() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = request.read()
        if b'"stream": true' in body or b'"stream":true' in body:
            events = (
                b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
                b'data: {"choices":[],"usage":{"completion_tokens":2,"prompt_tokens":9,"total_tokens":11}}\n\n'
                b"data: [DONE]\n\n"
            )
            return httpx.Response(200, content=events, headers={"Content-Type": "text/event-stream"})
        return httpx.Response(200, json={"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}})

    with one_upstream(answer) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert client.post("/v1/chat/completions", json={**CHAT, "stream": True}).status_code == 200
        found = samples(client)
    assert value(found, "oas_tokens_total", model="smol", kind="prompt") == 14
    assert value(found, "oas_tokens_total", model="smol", kind="completion") == 5
    assert value(found, "oas_time_to_first_token_seconds_count", route="/v1/chat/completions", model="smol") == 1


def test_each_app_counts_its_own_requests() -> None:
    with TestClient(create_app()) as first, TestClient(create_app()) as second:
        first.post("/v1/chat/completions", json=CHATTED)
        labels = {"route": "/v1/chat/completions", "model": "gpt-sim-1", "status": "200"}
        assert value(samples(first), "oas_requests_total", **labels) == 1
        assert value(samples(second), "oas_requests_total", **labels) == 0


def test_metrics_need_the_api_key_when_one_is_set() -> None:
    with TestClient(create_app(Settings(api_key="sk-secret"))) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        assert client.get("/health").status_code == 200
        answer = client.get("/metrics", headers={"Authorization": "Bearer sk-secret"})
        assert answer.status_code == 200
    assert 'oas_requests_total{model="",route="/metrics",status="401"} 1.0' in answer.text


def test_engine_restarts_and_state(tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"
    supervisor = make(tmp_path, fake("--crash-after", "0.5", "--crash-once", str(marker)), name="local")
    backend = EngineBackend("local", supervisor, Relay(), capabilities=frozenset({"chat/completions"}), owned_by="x")
    settings = Settings()
    app = create_app(settings, [FakeBackend(settings), backend])

    async def scenario() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:

            async def engines() -> dict[str, Any]:
                text = (await client.get("/metrics")).text
                return {"text": text, "engines": engine_models(text)}

            seen.append(await engines())  # stopped
            await supervisor.start()
            seen.append(await engines())  # ready, never restarted
            deadline = time.monotonic() + EVENTUALLY
            while not (supervisor.restarts == 1 and supervisor.state is EngineState.READY):
                assert time.monotonic() < deadline, supervisor.state
                await asyncio.sleep(0.02)
            seen.append(await engines())  # crashed once, ready again
            await supervisor.stop()
        return seen

    stopped, ready, restarted = run(scenario())
    assert stopped["engines"] == {"local": ("stopped", 0)}
    assert ready["engines"] == {"local": ("ready", 0)}
    assert restarted["engines"] == {"local": ("ready", 1)}
    text = restarted["text"]
    assert 'oas_engine_restarts_total{model="local"} 1.0' in text
    assert 'oas_engine_state{model="local",state="ready"} 1.0' in text
    assert 'oas_engine_state{model="local",state="restarting"} 0.0' in text
    assert "gpt-sim-1" not in "".join(line for line in text.splitlines() if line.startswith("oas_engine"))
