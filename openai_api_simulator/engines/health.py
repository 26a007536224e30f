"""Asking an engine whether it is ready: its health endpoint, how often, and its answer in words.

llama-server (and the engines after it) answer ``GET /health`` with 503 "Loading model" while they load and 200
once they serve; a refused connection means the process has not bound its port yet.
"""

from __future__ import annotations

from typing import Final

import httpx

# How often to ask /health while an engine starts: llama-server answers 503 for a few hundred ms on a small
# model, so 75 ms adds at most that much to a start while costing the loading server nothing.
POLL_INTERVAL: Final = 0.075
# First look at /health: a child that cannot start (bad flag, missing model, busy port) usually exits
# within this, and the exit is reported rather than a refused connection.
FIRST_POLL: Final = 0.02
# One /health request; a server that cannot answer its health check within this is not ready.
REQUEST_TIMEOUT: Final = 2.0


async def check(client: httpx.AsyncClient, url: str, timeout: float) -> tuple[bool, str]:
    """(whether `url` answered 200, the answer in words for an error message: `HTTP 503 "Loading model"`)."""
    try:
        response = await client.get(url, timeout=timeout)
    except httpx.TransportError as exc:
        return False, "connection refused" if isinstance(exc, httpx.ConnectError) else type(exc).__name__
    if response.status_code == 200:
        return True, "200"
    return False, f"HTTP {response.status_code}{_error_message(response)}"


def _error_message(response: httpx.Response) -> str:
    """' "Loading model"' from an OpenAI-shaped error body, else ''."""
    try:
        body = response.json()
        message = body["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f' "{message}"' if isinstance(message, str) else ""
