"""Fault and timing injection, by flag (Settings) and per request (headers), seen through the SDK."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import openai
import pytest

from openai_api_simulator.config import Faults, Settings
from openai_api_simulator.testing import running

MSG: Any = [{"role": "user", "content": "hello there"}]


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (409, openai.ConflictError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_header_injected_errors_raise_the_sdk_exception(client: openai.OpenAI, status: int, exc: type) -> None:
    with pytest.raises(exc) as info:
        client.chat.completions.create(
            model="gpt-sim-1", messages=MSG, extra_headers={"X-Simulator-Error": str(status)}
        )
    assert isinstance(info.value, openai.APIStatusError)
    assert info.value.status_code == status
    body = info.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_429_carries_retry_after_and_the_sdk_retries_it(base_url: str) -> None:
    with (
        openai.OpenAI(base_url=base_url, api_key="k", max_retries=0) as c,
        pytest.raises(openai.RateLimitError) as info,
    ):
        c.chat.completions.create(
            model="gpt-sim-1",
            messages=MSG,
            extra_headers={"X-Simulator-Error": "429", "X-Simulator-Retry-After": "0.01"},
        )
    # Whole seconds (RFC 9110), rounded up; the exact delay in Retry-After-Ms, which the SDKs read first.
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.response.headers["retry-after-ms"] == "10"
    assert info.value.body["type"] == "rate_limit_error"
    # With retries on, the SDK tries again (and fails again: the header is on every attempt).
    attempts: list[int] = []
    hook = {"request": [lambda request: attempts.append(1)]}
    with (
        httpx.Client(event_hooks=hook) as http,
        openai.OpenAI(base_url=base_url, api_key="k", max_retries=2, http_client=http) as c,
        pytest.raises(openai.RateLimitError),
    ):
        c.chat.completions.create(
            model="gpt-sim-1", messages=MSG, extra_headers={"X-Simulator-Error": "429", "X-Simulator-Retry-After": "0"}
        )
    assert len(attempts) == 3


def _pattern(url: str, n: int) -> list[bool]:
    with httpx.Client(base_url=url) as http:
        return [
            http.post("/chat/completions", json={"model": "gpt-sim-1", "messages": MSG}).status_code == 503
            for _ in range(n)
        ]


def test_error_rate_is_reproducible_from_the_seed() -> None:
    settings = Settings(faults=Faults(error_rate=0.5, error_seed=7, error_status=503))
    with running(settings) as url:
        first = _pattern(url, 40)
    with running(settings) as url:
        second = _pattern(url, 40)
    with running(Settings(faults=Faults(error_rate=0.5, error_seed=8, error_status=503))) as url:
        other = _pattern(url, 40)
    assert first == second
    assert first != other
    assert 8 <= sum(first) <= 32  # about half fail


def test_global_error_status_fails_everything_but_health_and_models() -> None:
    with running(Settings(faults=Faults(error_status=500))) as url, httpx.Client(base_url=url) as http:
        assert http.post("/chat/completions", json={"model": "gpt-sim-1", "messages": MSG}).status_code == 500
        assert http.get("/models").status_code == 200
        assert http.get(url.removesuffix("/v1") + "/health").status_code == 200


def test_stream_fails_mid_way_with_an_error_event(client: openai.OpenAI) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(
            model="gpt-sim-1", messages=MSG, stream=True, extra_headers={"X-Simulator-Stream-Fail-After": "3"}
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert len(received) == 3
    assert "simulated" in info.value.message


def test_stream_disconnect_is_a_connection_error(client: openai.OpenAI) -> None:
    received = 0
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(
            model="gpt-sim-1",
            messages=MSG,
            stream=True,
            extra_headers={"X-Simulator-Stream-Fail-After": "2", "X-Simulator-Stream-Fail-Mode": "disconnect"},
        ):
            received += bool(chunk.choices and chunk.choices[0].delta.content)
    assert received == 2


def test_latency_and_token_rate_slow_the_answer_down(client: openai.OpenAI) -> None:
    # Lower bounds only: the injected delays must at least happen.
    start = time.monotonic()
    client.chat.completions.create(model="gpt-sim-1", messages=MSG, extra_headers={"X-Simulator-Latency-Ms": "300"})
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    chunks = list(
        client.chat.completions.create(
            model="gpt-sim-1",
            messages=MSG,
            stream=True,
            max_tokens=10,
            extra_headers={"X-Simulator-Tokens-Per-Second": "50"},
        )
    )
    assert time.monotonic() - start >= 9 / 50
    assert len(chunks) >= 10


def test_bad_fault_header_is_a_400_naming_it(http: httpx.Client) -> None:
    r = http.post(
        "/v1/chat/completions", json={"model": "gpt-sim-1", "messages": MSG}, headers={"X-Simulator-Error": "teapot"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "X-Simulator-Error"


@pytest.mark.parametrize("status", ["429", "503"])
@pytest.mark.parametrize(
    ("sent", "header", "ms"), [("2.5", "3", "2500"), ("-0", "0", "0"), ("1e-09", "1", "1"), ("86400", "86400", None)]
)
def test_retry_after_from_the_header_is_whole_seconds(
    http: httpx.Client, status: str, sent: str, header: str, ms: str | None
) -> None:
    r = http.post(
        "/v1/chat/completions",
        json={"model": "gpt-sim-1", "messages": MSG},
        headers={"X-Simulator-Error": status, "X-Simulator-Retry-After": sent},
    )
    assert r.status_code == int(status)
    assert r.headers["retry-after"] == header  # RFC 9110 delay-seconds: digits only
    assert r.headers["retry-after-ms"] == (ms or str(int(header) * 1000))
    if status == "429":
        assert f"try again in {header}s." in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "faults", [Faults(error_status=429, retry_after=2.5), Faults(error_rate=1, error_status=503, retry_after=0.2)]
)
def test_retry_after_from_the_flags_is_whole_seconds(faults: Faults) -> None:
    with running(Settings(faults=faults)) as url, httpx.Client(base_url=url) as http:
        for _ in range(2):  # every request fails, each with the same header
            r = http.post("/chat/completions", json={"model": "gpt-sim-1", "messages": MSG})
            assert r.status_code == faults.error_status
            assert r.headers["retry-after"] == str(math.ceil(faults.retry_after))
            assert r.headers["retry-after-ms"] == str(round(faults.retry_after * 1000))


def test_errors_without_retry_after_send_none(http: httpx.Client) -> None:
    r = http.post(
        "/v1/chat/completions",
        json={"model": "gpt-sim-1", "messages": MSG},
        headers={"X-Simulator-Error": "500", "X-Simulator-Retry-After": "2.5"},
    )
    assert r.status_code == 500 and "retry-after" not in r.headers and "retry-after-ms" not in r.headers
