"""The Starlette application: routes, auth, fault injection and the OpenAI error envelope for everything.

Every endpoint is served both under `/v1` and at the root (`/chat/completions`), as the original simulator
did, so clients configured with either base URL work.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, Final, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from openai_api_simulator.api import chat, completions, embeddings, responses
from openai_api_simulator.api.common import RequestContext, check_model, generation_delay
from openai_api_simulator.api.http import (
    CutConnection,
    JSONBytes,
    SSEResponse,
    dumps,
    error_response,
    parse_json,
    read_body,
)
from openai_api_simulator.api.memo import CREATED_PLACEHOLDER, ResponseMemo, completion_tokens, entry_for
from openai_api_simulator.config import Settings
from openai_api_simulator.errors import APIError, for_status
from openai_api_simulator.fake.faults import ErrorSchedule, check_injected_error, plan_for

log = logging.getLogger("openai_api_simulator")

# A fixed `created` for the fake models: the project's first release day, so /v1/models is stable.
MODEL_CREATED: Final = 1_763_769_600
OWNER: Final = "openai-api-simulator"

Handler = Callable[[Request], Awaitable[Response]]
R = TypeVar("R")


class State:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.errors = ErrorSchedule.create(settings.faults.error_seed)
        self.memo = ResponseMemo()
        self.conversations = responses.ConversationStore()


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": MODEL_CREATED, "owned_by": OWNER}


def build_routes(state: State) -> list[BaseRoute]:
    settings = state.settings

    async def prepare(request: Request, endpoint: str) -> tuple[dict[str, Any], RequestContext] | Response:
        """The parsed body and context, or a finished response from the memo."""
        raw = await read_body(request, settings.max_body_bytes)
        faults = plan_for(settings.faults, request.headers)
        if faults is settings.faults:  # no X-Simulator-* headers: the memo may answer
            hit = state.memo.get(endpoint, raw)
            if hit is not None:
                check_injected_error(faults, state.errors, hit.model)
                if faults.latency_ms or faults.tokens_per_second:
                    await generation_delay(faults, hit.tokens)
                ctx = RequestContext(settings, faults, hit.model)
                return Response(hit.render(ctx.created()), media_type="application/json")
        body = parse_json(raw)
        model = body.get("model")
        if isinstance(model, str) and model:
            check_model(settings, model)
            check_injected_error(faults, state.errors, model)
        return body, RequestContext(settings, faults, model if isinstance(model, str) else "")

    async def answer(
        request: Request, endpoint: str, ctx: RequestContext, result: Awaitable[dict[str, Any]]
    ) -> Response:
        """Send a non-stream result, keeping it in the memo when the request may be memoized."""
        content = await result
        rendered = dumps(content)
        if ctx.created_override is not None:
            entry = entry_for(ctx.model, completion_tokens(content), rendered)
            if entry is not None:
                state.memo.put(endpoint, await request.body(), entry)
                rendered = entry.render(RequestContext(settings, ctx.faults, ctx.model).created())
        return Response(rendered, media_type="application/json")

    def memo_context(ctx: RequestContext) -> RequestContext:
        """The context to render a memoizable answer with: `created` as a placeholder filled in at send."""
        if ctx.faults is settings.faults:
            return replace(ctx, created_override=CREATED_PLACEHOLDER)
        return ctx

    def endpoint(
        name: str,
        parse: Callable[[dict[str, Any]], R],
        respond: Callable[[R, RequestContext], Awaitable[dict[str, Any]]],
        stream: Callable[[R, RequestContext], AsyncIterator[bytes | CutConnection]] | None = None,
    ) -> Handler:
        """A POST endpoint: memo or parse, then a JSON answer or (when the request asks) an event stream."""

        async def handle(request: Request) -> Response:
            prepared = await prepare(request, name)
            if isinstance(prepared, Response):
                return prepared
            body, ctx = prepared
            req = parse(body)
            if stream is not None and getattr(req, "stream", False):
                return SSEResponse(stream(req, ctx))
            mctx = memo_context(ctx)
            return await answer(request, name, mctx, respond(req, mctx))

        return handle

    chat_completions = endpoint("chat", chat.ChatRequest, chat.respond, chat.stream)
    text_completions = endpoint("completions", completions.CompletionRequest, completions.respond, completions.stream)
    embeddings_endpoint = endpoint("embeddings", embeddings.EmbeddingRequest, embeddings.respond)

    def parse_responses(body: dict[str, Any]) -> responses.ResponsesRequest:
        return responses.ResponsesRequest(body, state.conversations)

    responses_endpoint = endpoint("responses", parse_responses, responses.respond, responses.stream)

    async def list_models(request: Request) -> Response:
        return JSONBytes({"object": "list", "data": [_model_object(m) for m in settings.fake_models]})

    async def get_model(request: Request) -> Response:
        model_id = request.path_params["model_id"]
        check_model(settings, model_id)
        return JSONBytes(_model_object(model_id))

    async def health(request: Request) -> Response:
        return JSONBytes({"status": "ok", "models": list(settings.fake_models)})

    routes: list[BaseRoute] = [Route("/health", health, methods=["GET"])]
    endpoints: list[tuple[str, Handler, str]] = [
        ("/chat/completions", chat_completions, "POST"),
        ("/completions", text_completions, "POST"),
        ("/embeddings", embeddings_endpoint, "POST"),
        ("/responses", responses_endpoint, "POST"),
        ("/models", list_models, "GET"),
        ("/models/{model_id:path}", get_model, "GET"),
    ]
    for prefix in ("/v1", ""):
        routes.extend(Route(prefix + path, handler, methods=[method]) for path, handler, method in endpoints)
    return routes


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed for {request.url.path}."
    else:
        message = exc.detail
    error = for_status(exc.status_code, message)
    error.headers.update(exc.headers or {})
    return error_response(error)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    # A bug in the simulator: log it for the maintainer, answer the client in OpenAI's shape.
    log.exception("unhandled error serving %s %s", request.method, request.url.path)
    return error_response(
        for_status(
            500,
            f"The simulator failed to process the request ({type(exc).__name__}). "
            "This is a bug in openai-api-simulator; please report it.",
        )
    )


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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    state = State(settings)
    app = Starlette(
        routes=build_routes(state),
        exception_handlers={APIError: _api_error, HTTPException: _http_error, Exception: unexpected_error},
    )
    app.state.simulator = state
    if settings.api_key:
        app.add_middleware(APIKeyMiddleware, key=settings.api_key)
    return app
