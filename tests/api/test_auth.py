"""The optional API key: every path but /health needs `Authorization: Bearer KEY`, compared in constant time."""

from __future__ import annotations

import httpx
import openai
import pytest
from starlette.testclient import TestClient

from openai_api_simulator.app import create_app
from openai_api_simulator.config import Settings
from openai_api_simulator.testing import running


def test_api_key_protects_everything_but_health() -> None:
    with running(Settings(api_key="s3cret")) as url:
        with (
            openai.OpenAI(base_url=url, api_key="wrong", max_retries=0) as c,
            pytest.raises(openai.AuthenticationError),
        ):
            c.models.list()
        with openai.OpenAI(base_url=url, api_key="s3cret", max_retries=0) as c:
            assert [m.id for m in c.models.list()] == ["gpt-sim-1"]
        with httpx.Client() as http:
            assert http.get(url.removesuffix("/v1") + "/health").status_code == 200
            r = http.get(url + "/models")
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("header", "wording"),
    [
        (None, "You didn't provide an API key"),
        ("Bearer nope", "Incorrect API key provided"),
        ("Basic s3cret", "Incorrect API key provided"),  # the right secret in the wrong scheme
        ("Bearer s3cret-and-more", "Incorrect API key provided"),
    ],
)
def test_a_missing_or_wrong_key_is_401_in_openais_words(header: str | None, wording: str) -> None:
    with TestClient(create_app(Settings(api_key="s3cret"))) as client:
        headers = {"Authorization": header} if header else {}
        r = client.post("/chat/completions", json={"model": "gpt-sim-1"}, headers=headers)
        assert r.status_code == 401
        error = r.json()["error"]
        assert error["code"] == "invalid_api_key" and error["message"].startswith(wording)
        assert client.post("/chat/completions", json={}, headers={"Authorization": "bearer  s3cret"}).status_code == 400


def test_without_a_key_nothing_is_asked() -> None:
    with TestClient(create_app(Settings())) as client:
        assert client.get("/v1/models", headers={"Authorization": "Bearer anything"}).status_code == 200
