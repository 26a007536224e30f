"""`testdouble.admin`: the routes under /_simulator, their API key, reset, and per-test fault state."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from openai_api_simulator.config import Settings
from openai_api_simulator.testing import running

MSG: Any = [{"role": "user", "content": "hello"}]


def test_admin_routes_need_the_api_key_when_one_is_set() -> None:
    with running(Settings(api_key="s3cret")) as url, httpx.Client(base_url=url.removesuffix("/v1")) as http:
        for method, path in [
            ("GET", "/_simulator/requests"),
            ("DELETE", "/_simulator/requests"),
            ("POST", "/_simulator/reset"),
        ]:
            r = http.request(method, path)
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key", (method, path)
            r = http.request(method, path, headers={"Authorization": "Bearer s3cret"})
            assert r.status_code == 200, (method, path, r.text)
        with (
            openai.OpenAI(base_url=url, api_key="wrong", max_retries=0) as client,
            pytest.raises(openai.AuthenticationError),
        ):
            client.models.list()
        # A request refused for its key is not kept: a caller without the key cannot fill the journal.
        assert http.get("/_simulator/requests", headers={"Authorization": "Bearer s3cret"}).json()["data"] == []


@pytest.mark.parametrize(
    "path", ["/v1/_simulator/requests", "/v1/_simulator/reset", "/_simulator/nope", "/v1/models/_simulator/requests"]
)
def test_admin_routes_are_not_under_v1_and_unknown_ones_are_404s_in_openais_shape(path: str) -> None:
    with running(Settings()) as url:
        r = httpx.get(url.removesuffix("/v1") + path)
        body = r.json()
    assert r.status_code == 404
    assert body["error"]["type"] == "invalid_request_error" and "data" not in body


def test_a_wrong_method_on_an_admin_route_is_a_405() -> None:
    with running(Settings()) as url:
        r = httpx.put(url.removesuffix("/v1") + "/_simulator/requests")
    assert r.status_code == 405 and "error" in r.json()


@pytest.mark.parametrize("value", ["has space", "x" * 201, "é".encode()])
def test_a_malformed_test_id_is_a_400_naming_the_header(value: str | bytes) -> None:
    headers = [(b"x-simulator-test-id", value if isinstance(value, bytes) else value.encode())]
    with running(Settings()) as url:
        for method, path in [("POST", url + "/chat/completions"), ("GET", url + "/models")]:
            r = httpx.request(
                method,
                path,
                headers=headers,
                json={"model": "gpt-sim-1", "messages": MSG} if method == "POST" else None,
            )
            assert r.status_code == 400, (path, r.text)
            assert r.json()["error"]["param"] == "X-Simulator-Test-Id"
        r = httpx.get(url.removesuffix("/v1") + "/_simulator/requests", headers=headers)
        assert r.status_code == 400 and "X-Simulator-Test-Id" in r.json()["error"]["message"]


def test_a_malformed_test_id_is_a_400_with_the_journal_off_too() -> None:
    with running(Settings(journal=False)) as url:
        r = httpx.post(
            url + "/chat/completions",
            headers={"X-Simulator-Test-Id": "a b"},
            json={"model": "gpt-sim-1", "messages": MSG},
        )
    assert r.status_code == 400 and r.json()["error"]["param"] == "X-Simulator-Test-Id"


def failures(url: str, test: str, n: int) -> list[bool]:
    headers = {"X-Simulator-Test-Id": test, "X-Simulator-Error-Rate": "0.5"}
    with httpx.Client(headers=headers) as http:
        return [
            http.post(url + "/chat/completions", json={"model": "gpt-sim-1", "messages": MSG}).status_code == 500
            for _ in range(n)
        ]


def test_each_test_id_has_its_own_error_rate_counter() -> None:
    with running(Settings()) as url:
        alone = failures(url, "alone", 12)
        assert any(alone) and not all(alone)
    with running(Settings()) as url:
        interleaved: list[bool] = []
        for _ in range(12):
            failures(url, "neighbour", 1)  # another test's requests in between do not move this one's counter
            interleaved += failures(url, "alone", 1)
        assert interleaved == alone
        # Reset starts the counter again from the first request.
        httpx.post(url.removesuffix("/v1") + "/_simulator/reset", headers={"X-Simulator-Test-Id": "alone"})
        assert failures(url, "alone", 12) == alone


def test_reset_clears_the_journal_of_the_callers_test_id_and_runs_registered_hooks() -> None:
    from openai_api_simulator.app import create_app
    from openai_api_simulator.testing import serving

    app = create_app(Settings())
    seen: list[str] = []
    app.state.resets.on_reset(seen.append)
    with serving(app) as root:
        for test in ("one", "two"):
            httpx.get(root + "/v1/models", headers={"X-Simulator-Test-Id": test})
        r = httpx.post(root + "/_simulator/reset", headers={"X-Simulator-Test-Id": "one"})
        assert r.status_code == 200 and r.json() == {"object": "simulator.reset", "test_id": "one"}
        assert seen == ["one"]
        get = httpx.get(root + "/_simulator/requests", headers={"X-Simulator-Test-Id": "one"}).json()["data"]
        other = httpx.get(root + "/_simulator/requests", headers={"X-Simulator-Test-Id": "two"}).json()["data"]
    assert get == [] and len(other) == 1
