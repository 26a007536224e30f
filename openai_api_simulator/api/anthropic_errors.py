"""Anthropic's error shape on the Messages routes: ``{"type": "error", "error": {"type", "message"}}``.

Every layer of the app (the Host check, the API key, routing, the endpoints, injected faults, scripted errors,
a relayed upstream's own error) answers in OpenAI's envelope. Rather than teach each of them a second shape,
`AnthropicErrors` sits outside them all and rewrites the error answers of the Messages paths alone, so the
Anthropic SDKs raise their own classes (`RateLimitError`, `OverloadedError`, `AuthenticationError`, …) while
the OpenAI routes keep OpenAI's shape. Only error answers (status ≥ 400, JSON) are held back to be rewritten:
they are small, and a successful answer, a stream above all, passes through untouched.
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openai_api_simulator.api.strict_json import dumps

# The paths served in Anthropic's shape (under /v1 and at the root, as every endpoint is).
PATHS: Final = frozenset(prefix + path for prefix in ("/v1", "") for path in ("/messages", "/messages/count_tokens"))

# Anthropic's error type for each status (its API reference, "Errors"); other 4xx are invalid_request_error,
# other 5xx api_error.
ERROR_TYPES: Final[dict[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def error_event(kind: str, message: str) -> bytes:
    """An `error` event in a Messages stream (after the 200 was sent), which the SDKs raise."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return b"event: error\ndata: " + dumps(body) + b"\n\n"


def rewrite(status: int, body: bytes) -> bytes:
    """An error body in Anthropic's shape: OpenAI's envelope (or anything else) reworded, Anthropic's kept."""
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if isinstance(value, dict) and value.get("type") == "error" and isinstance(value.get("error"), dict):
        return body  # already Anthropic's (llama-server answers some errors of these routes so)
    message = ""
    if isinstance(value, dict):
        inner = value.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            message = inner["message"]
        elif isinstance(inner, str):
            message = inner
        elif isinstance(value.get("message"), str):
            message = value["message"]
    if not message:
        message = body.decode("utf-8", "replace").strip() or f"HTTP {status}"
    return dumps(error_body(status, message))


class AnthropicErrors:
    """Rewrites the JSON error answers of the Messages paths (`PATHS`) into Anthropic's shape (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def held(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                declared = dict(message.get("headers", []))
                if message["status"] >= 400 and declared.get(b"content-type", b"").startswith(b"application/json"):
                    start = message  # an error answer: hold it until its body is complete
                    return
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = rewrite(start["status"], b"".join(chunks))
                headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, held)
