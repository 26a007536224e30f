"""The public test helpers: a simulator (or any ASGI app) served in a thread on a free loopback port."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from openai_api_simulator.config import Settings
from openai_api_simulator.testing import free_port, running, serving


def test_running_serves_the_fake_with_its_settings_and_stops() -> None:
    with running(Settings(aliases=("gpt-4o",), port=3080)) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert not url.startswith("http://127.0.0.1:3080/")  # a free port, whatever the settings say
        ids = [m["id"] for m in httpx.get(url + "/models").json()["data"]]
        assert ids == ["gpt-sim-1", "gpt-4o"]
    try:
        httpx.get(url + "/models", timeout=1)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the server still answers after the block")


def test_serving_runs_any_asgi_app_and_two_at_once() -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)])
    with serving(app) as one, serving(app) as two:
        assert one != two
        assert httpx.get(one + "/").text == httpx.get(two + "/").text == "hello"


def test_free_port_is_bindable() -> None:
    assert 0 < free_port() < 65536


def test_running_applies_the_connection_limits_and_the_host_check() -> None:
    import socket

    from openai_api_simulator.config import ConnectionLimits

    with running(Settings(connections=ConnectionLimits(header_timeout=0.5))) as url:
        port = int(url.removesuffix("/v1").rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /health HT")
            assert sock.recv(4096).startswith(b"HTTP/1.1 408 ")
        assert httpx.get(url + "/models", headers={"Host": "rebound.example"}).status_code == 421
