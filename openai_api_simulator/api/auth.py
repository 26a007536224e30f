"""The optional API key: `Authorization: Bearer KEY` (OpenAI's SDKs) or `x-api-key: KEY` (Anthropic's) on
every path but /health."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from openai_api_simulator.api.http import error_response
from openai_api_simulator.errors import APIError


class APIKeyMiddleware:
    """Requires the key on every path but /health (pure ASGI: no per-request overhead).

    Either header is taken on every route: the two SDKs send one each, and a key is a key whichever carries it.
    """

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/health":
            await self.app(scope, receive, send)
            return
        auth = b""
        api_key: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization" and not auth:
                auth = value
            elif name == b"x-api-key" and api_key is None:
                api_key = value
        scheme, _, token = auth.partition(b" ")
        if (scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key)) or (
            api_key is not None and hmac.compare_digest(api_key.strip(), self.key)
        ):
            await self.app(scope, receive, send)
            return
        if not auth and api_key is None:
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or in an x-api-key header."
            )
        else:
            message = "Incorrect API key provided. The key is the one given to the simulator with --api-key."
        error = APIError(401, message, type="invalid_request_error", code="invalid_api_key")
        await error_response(error)(scope, receive, send)
