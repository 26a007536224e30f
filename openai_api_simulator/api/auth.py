"""The optional API key: `Authorization: Bearer KEY` on every path but /health."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from openai_api_simulator.api.http import error_response
from openai_api_simulator.errors import APIError


class APIKeyMiddleware:
    """Requires `Authorization: Bearer KEY` on every path but /health (pure ASGI: no per-request overhead)."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/health":
            await self.app(scope, receive, send)
            return
        auth = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
                break
        scheme, _, token = auth.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key):
            await self.app(scope, receive, send)
            return
        if not auth:
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            message = "Incorrect API key provided. The key is the one given to the simulator with --api-key."
        error = APIError(401, message, type="invalid_request_error", code="invalid_api_key")
        await error_response(error)(scope, receive, send)
