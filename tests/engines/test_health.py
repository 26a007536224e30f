"""Asking an engine whether it is ready: 200 is ready; anything else is said in words for the error message."""

from __future__ import annotations

import asyncio

import httpx

from openai_api_simulator.engines import health
from openai_api_simulator.testing import free_port


def _answers(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/loading":
        return httpx.Response(503, json={"error": {"message": "Loading model", "type": "unavailable_error"}})
    if request.url.path == "/plain":
        return httpx.Response(500, text="<html>boom</html>")
    return httpx.Response(200, json={"status": "ok"})


def test_answers_in_words() -> None:
    async def main() -> list[tuple[bool, str]]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_answers)) as client:
            return [await health.check(client, f"http://e{path}", 1) for path in ("/health", "/loading", "/plain")]

    assert asyncio.run(main()) == [(True, "200"), (False, 'HTTP 503 "Loading model"'), (False, "HTTP 500")]


def test_a_port_nobody_listens_on_is_a_refused_connection() -> None:
    async def main() -> tuple[bool, str]:
        async with httpx.AsyncClient() as client:
            return await health.check(client, f"http://127.0.0.1:{free_port()}/health", 1)

    assert asyncio.run(main()) == (False, "connection refused")
