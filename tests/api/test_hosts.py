"""Browser reach: the Host check (DNS rebinding), the Origin check (cross-site requests) and CORS when asked for,
over real sockets (`testing.serving`), every refusal in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from starlette.testclient import TestClient

from openai_api_simulator.api.hosts import Access, parse_allowed_hosts, parse_origins
from openai_api_simulator.app import create_app
from openai_api_simulator.config import Settings
from openai_api_simulator.testing import running, serving

CHAT = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "hi"}]}


@contextmanager
def client(settings: Settings) -> Iterator[httpx.Client]:
    """The app for `settings` (its own host, unlike `testing.running`) on a loopback socket."""
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield http


def refused(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code
    return str(error["message"])


# -- Host


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1:3080", "localhost", "LOCALHOST:8080", "app.localhost", "[::1]:3080", "10.0.0.7", ""],
)
def test_loopback_names_and_ip_addresses_are_answered(host: str) -> None:
    with client(Settings()) as http:
        assert http.get("/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/v1/models"])
def test_another_name_on_a_loopback_bind_is_refused_with_421_naming_the_flag(path: str) -> None:
    with client(Settings()) as http:
        message = refused(http.get(path, headers={"Host": "evil.example:3080"}), 421, "host_not_allowed")
    assert "'evil.example:3080'" in message and "--allowed-hosts evil.example" in message
    assert "DNS rebinding" in message


def test_the_rebinding_request_does_no_work() -> None:
    with client(Settings()) as http:
        answer = http.post("/v1/chat/completions", json=CHAT, headers={"Host": "evil.example"})
    refused(answer, 421, "host_not_allowed")


def test_allowed_hosts_widen_the_names() -> None:
    with client(Settings(allowed_hosts=("sim", "*.lan"))) as http:
        for host in ("sim", "sim:3080", "box.lan", "a.b.lan:1", "localhost"):
            assert http.get("/health", headers={"Host": host}).status_code == 200, host
        for host in ("lan", "sim.example", "evil-sim"):
            refused(http.get("/health", headers={"Host": host}), 421, "host_not_allowed")


def test_a_wildcard_bind_answers_any_name_unless_allowed_hosts_are_given() -> None:
    # Containers: docker-compose clients use the service name, others the machine's name.
    with client(Settings(host="0.0.0.0")) as http:
        assert http.get("/health", headers={"Host": "sim:3080"}).status_code == 200
    with client(Settings(host="::", allowed_hosts=("sim",))) as http:
        assert http.get("/health", headers={"Host": "sim:3080"}).status_code == 200
        refused(http.get("/health", headers={"Host": "evil.example"}), 421, "host_not_allowed")


def test_a_named_bind_host_is_allowed_and_star_allows_any() -> None:
    with client(Settings(host="myhost.lan")) as http:
        assert http.get("/health", headers={"Host": "myhost.lan:3080"}).status_code == 200
    with client(Settings(allowed_hosts=("*",))) as http:
        assert http.get("/health", headers={"Host": "anything.example"}).status_code == 200


def test_the_test_helpers_still_work() -> None:
    """`testing.running` (and so the pytest plugin) and in-process clients naming their own server."""
    with running() as url:
        assert httpx.get(url + "/models").status_code == 200
        assert httpx.get(url.replace("127.0.0.1", "localhost") + "/models").status_code == 200
        refused(httpx.get(url + "/models", headers={"Host": "evil.example"}), 421, "host_not_allowed")
    with TestClient(create_app()) as test_client:  # Host: testserver, which it also calls the server
        assert test_client.get("/v1/models").status_code == 200


# -- Origin, without CORS


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "https://evil.example:3080", "null", "http://192.168.1.5:8080", "garbage"]
)
def test_a_request_from_another_sites_page_is_refused_with_403(origin: str) -> None:
    with client(Settings()) as http:
        answer = http.post("/v1/chat/completions", json=CHAT, headers={"Origin": origin})
    message = refused(answer, 403, "origin_not_allowed")
    assert f"--cors-origins {origin}" in message
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:8080", "https://app.localhost"])
def test_pages_on_this_machine_are_not_refused_but_get_no_cors_headers(origin: str) -> None:
    with client(Settings()) as http:
        answer = http.post("/v1/chat/completions", json=CHAT, headers={"Origin": origin})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers  # reading it needs --cors-origins


def test_clients_without_an_origin_are_unaffected() -> None:
    with client(Settings()) as http:
        assert http.post("/v1/chat/completions", json=CHAT).status_code == 200


# -- CORS


PREFLIGHT = {
    "Origin": "http://app.example:5173",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os, openai-beta, x-simulator-error",
}


def test_cors_origins_get_preflights_answered_and_readable_answers() -> None:
    with client(Settings(cors_origins=("http://app.example:5173",))) as http:
        preflight = http.options("/v1/chat/completions", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://app.example:5173"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        allowed = preflight.headers["access-control-allow-headers"].lower()
        for header in ("authorization", "content-type", "x-stainless-os", "openai-beta", "x-simulator-error"):
            assert header in allowed

        answer = http.post("/v1/chat/completions", json=CHAT, headers={"Origin": "http://app.example:5173"})
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "http://app.example:5173"
        exposed = answer.headers["access-control-expose-headers"].lower()
        assert "retry-after" in exposed and "x-request-id" in exposed

        other = http.options("/v1/chat/completions", headers={**PREFLIGHT, "Origin": "http://evil.example"})
        refused(other, 403, "origin_not_allowed")


def test_a_public_site_listed_may_call_localhost_in_chrome() -> None:
    """Chrome's Private Network Access asks a public page's preflight to localhost for explicit consent."""
    with client(Settings(cors_origins=("https://app.example",))) as http:
        headers = {**PREFLIGHT, "Origin": "https://app.example", "Access-Control-Request-Private-Network": "true"}
        preflight = http.options("/v1/chat/completions", headers=headers)
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-private-network"] == "true"


def test_cors_star_lets_any_origin_in() -> None:
    with client(Settings(cors_origins=("*",))) as http:
        answer = http.post("/v1/chat/completions", json=CHAT, headers={"Origin": "https://anywhere.example"})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"


def test_with_an_api_key_preflights_need_none_and_a_401_is_readable() -> None:
    with client(Settings(api_key="s3cret", cors_origins=("http://app.example:5173",))) as http:
        assert http.options("/v1/chat/completions", headers=PREFLIGHT).status_code == 200
        answer = http.post("/v1/chat/completions", json=CHAT, headers={"Origin": "http://app.example:5173"})
        assert answer.status_code == 401
        assert answer.headers["access-control-allow-origin"] == "http://app.example:5173"
        authed = http.post(
            "/v1/chat/completions",
            json=CHAT,
            headers={"Origin": "http://app.example:5173", "Authorization": "Bearer s3cret"},
        )
        assert authed.status_code == 200


# -- parsing the flags' values


def test_flag_values_are_normalised() -> None:
    assert parse_allowed_hosts(["SIM:3080", "[::1]", "*.Lan", "*", "box."]) == ("sim", "::1", "*.lan", "*", "box")
    assert parse_origins(["HTTP://LocalHost:5173/", "null", "*"]) == ("http://localhost:5173", "null", "*")
    assert parse_origins(["http://app.example:80", "https://app.example:443"]) == (
        "http://app.example",
        "https://app.example",
    )


@pytest.mark.parametrize("value", ["http://sim", "sim/v1"])
def test_an_allowed_host_that_is_a_url_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="--allowed-hosts takes host names"):
        parse_allowed_hosts([value])


@pytest.mark.parametrize("value", ["localhost:5173", "http://localhost:5173/app", "http://"])
def test_a_cors_origin_that_is_not_an_origin_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="--cors-origins takes web origins"):
        parse_origins([value])


def test_access_decisions() -> None:
    access = Access.of("127.0.0.1", ["sim"], ["http://app.example"])
    assert access.allows_host("sim", None) and access.allows_host("127.0.0.1", None)
    assert not access.allows_host("evil.example", "127.0.0.1")
    assert access.allows_host("testserver", "testserver")  # the connection's own server name
    assert access.allows_origin("http://app.example") and access.allows_origin("http://localhost:1")
    assert not access.allows_origin("http://app.example:8080") and not access.allows_origin("null")
