"""`x-request-id` on every response - answers, streams, every kind of error, a bug's 500 - and the client's own
id echoed when it is sane; the OpenAI SDK reads it back as `_request_id`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager

import httpx
import openai
import pytest
from starlette.responses import Response
from starlette.testclient import TestClient

from openai_api_simulator.app import create_app
from openai_api_simulator.backends import FakeBackend, ModelCard, ModelRequest, ModelStatus
from openai_api_simulator.config import Settings
from openai_api_simulator.testing import serving
from tests.observability.test_metrics import CHATTED, samples, value
from tests.support.backends import CHAT, one_upstream

GENERATED = re.compile(r"req_[0-9a-f]{32}")


class Broken:
    """A backend with a bug: every request raises."""

    name = "a broken backend"
    capabilities = frozenset({"chat/completions"})

    def models(self) -> Sequence[ModelCard]:
        return (ModelCard("broken", "tests", 0),)

    def status(self, model: str) -> ModelStatus:
        return ModelStatus("ready")

    async def handle(self, request: ModelRequest) -> Response:
        raise RuntimeError("a bug")

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(api_key="sk-test", max_body_bytes=2048)
    app = create_app(settings, [FakeBackend(settings), Broken()])
    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": "Bearer sk-test"}) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/chat/completions", CHATTED, 200),
        ("POST", "/v1/chat/completions", {**CHATTED, "stream": True}, 200),
        ("GET", "/v1/models", None, 200),
        ("GET", "/health", None, 200),
        ("GET", "/metrics", None, 200),
        ("POST", "/v1/chat/completions", {**CHATTED, "model": "nobody"}, 404),
        ("POST", "/v1/chat/completions", {"model": "gpt-sim-1", "messages": "x" * 4096}, 413),
        ("GET", "/v1/chat/completions", None, 405),
        ("GET", "/nowhere", None, 404),
        ("POST", "/v1/chat/completions", {**CHATTED, "model": "broken"}, 500),
    ],
)
def test_every_response_carries_a_request_id(
    client: TestClient, method: str, path: str, body: object, status: int
) -> None:
    answer = client.request(method, path, json=body)
    assert answer.status_code == status
    assert GENERATED.fullmatch(answer.headers["x-request-id"])
    assert answer.headers.get_list("x-request-id") == [answer.headers["x-request-id"]]
    if status >= 400:
        assert set(answer.json()["error"]) == {"message", "type", "param", "code"}


def test_a_refused_api_key_and_a_bug_are_counted_with_their_status(client: TestClient) -> None:
    assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    bug = client.post("/v1/chat/completions", json={**CHATTED, "model": "broken"})
    assert bug.status_code == 500 and "This is a bug in openai-api-simulator" in bug.json()["error"]["message"]
    found = samples(client)
    assert value(found, "oas_requests_total", route="/v1/models", model="", status="401") == 1
    assert value(found, "oas_requests_total", route="/v1/chat/completions", model="broken", status="500") == 1


def test_each_request_gets_its_own_id(client: TestClient) -> None:
    ids = {client.get("/health").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_a_sane_client_id_is_echoed_and_an_insane_one_replaced(client: TestClient) -> None:
    mine = client.post("/v1/chat/completions", json=CHATTED, headers={"X-Request-Id": "ci-run-7/step-3"})
    assert mine.headers["x-request-id"] == "ci-run-7/step-3"
    long = client.get("/health", headers={"X-Request-Id": "x" * 200})
    assert GENERATED.fullmatch(long.headers["x-request-id"])


def test_an_upstreams_request_id_is_kept_under_another_name() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": []}, headers={"X-Request-Id": "upstream-1"})

    with one_upstream(answer) as client:
        relayed = client.post("/v1/chat/completions", json=CHAT)
    assert GENERATED.fullmatch(relayed.headers["x-request-id"])
    assert relayed.headers["x-upstream-request-id"] == "upstream-1"


def test_the_sdk_reads_the_id() -> None:
    with serving(create_app()) as url, openai.OpenAI(base_url=url + "/v1", api_key="sk", max_retries=0) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="gpt-sim-1", messages=[{"role": "user", "content": "hi"}]
        )
        assert GENERATED.fullmatch(raw.headers["x-request-id"])
        assert raw.parse()._request_id == raw.headers["x-request-id"]
        with pytest.raises(openai.NotFoundError) as missing:
            sdk.chat.completions.create(model="nobody", messages=[{"role": "user", "content": "hi"}])
        assert missing.value.request_id is not None and GENERATED.fullmatch(missing.value.request_id)
