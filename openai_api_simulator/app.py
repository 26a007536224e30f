"""The one HTTP application: one route table, every endpoint dispatched by its `model` to a backend.

For each POST endpoint (`api.endpoints.ENDPOINTS`, served under ``/v1`` and at the root, so clients configured
with either base URL work) the body is read once, with the size limit enforced while reading, parsed once as
JSON, and handed with its `model` to the backend the registry names. `/v1/models`, `/v1/models/{id}` and
`/health` come from the registry; the test double's admin routes (`testdouble.admin`) are under `/_simulator`
alone. Every failure answers in OpenAI's error shape; the Host and Origin headers are checked on every path
(`api.hosts`), CORS is answered for `--cors-origins`, an optional API key guards every path but `/health`, and
the journal keeps what got past it (`testdouble.journal`).

::

    client ─▶ ObserveMiddleware ─▶ HostOriginGuard ─▶ [CORSMiddleware] ─▶ [APIKeyMiddleware]
           ─▶ [JournalMiddleware] ─▶ [CassetteMiddleware: --record/--replay] ─▶ route ─▶ body
           ─▶ registry.route(model, endpoint)
                 ├─▶ FakeBackend    (in process)
                 ├─▶ EngineBackend  ─▶ Relay ─▶ llama-server
                 └─▶ RemoteBackend  ─▶ Relay ─▶ --upstream
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from openai_api_simulator.api import validate as v
from openai_api_simulator.api import work
from openai_api_simulator.api.anthropic_errors import AnthropicErrors
from openai_api_simulator.api.auth import APIKeyMiddleware
from openai_api_simulator.api.endpoint import Endpoint
from openai_api_simulator.api.endpoints import ENDPOINTS
from openai_api_simulator.api.hosts import EXPOSED_HEADERS, Access, HostOriginGuard
from openai_api_simulator.api.http import JSONBytes, error_response, parse_json, read_body
from openai_api_simulator.backends.base import Backend, ModelRequest
from openai_api_simulator.backends.fake import FakeBackend
from openai_api_simulator.backends.registry import ModelRegistry
from openai_api_simulator.config import Settings
from openai_api_simulator.errors import APIError, for_status
from openai_api_simulator.lru import LRU
from openai_api_simulator.observability.context import UNKNOWN_MODEL, note_model
from openai_api_simulator.observability.metrics import Metrics
from openai_api_simulator.observability.middleware import ObserveMiddleware
from openai_api_simulator.testdouble import rules_routes
from openai_api_simulator.testdouble.admin import Resets, admin_routes
from openai_api_simulator.testdouble.journal import Journal, JournalMiddleware
from openai_api_simulator.testdouble.scope import RULE_KEY

log = logging.getLogger("openai_api_simulator")

Handler = Callable[[Request], Awaitable[Response]]


# Bodies routed before are routed again from their bytes alone (the registry is fixed, so the same bytes
# always name the same model); CI suites repeat small requests constantly, and skipping the JSON parse is a
# visible part of answering one from the fake's memo. Small bodies only, in maps of the "routes" share of
# --cache-mb, split evenly among the endpoints.
ROUTED_BODY_MAX_BYTES: Final = 4096


async def _answer(request: Request, backend: Backend, model_request: ModelRequest) -> Response:
    try:
        return await backend.handle(model_request)
    finally:  # an error a rule scripted is its answer too
        if model_request.rule is not None:
            request.scope[RULE_KEY] = model_request.rule  # for the journal: which rule answered


def _post(endpoint: Endpoint[Any], registry: ModelRegistry, max_body_bytes: int, routed_bytes: int) -> Handler:
    routed: LRU[bytes, tuple[str, Backend]] = LRU(routed_bytes)

    async def handle(request: Request) -> Response:
        raw = await read_body(request, max_body_bytes)
        query = request.scope.get("query_string", b"")
        hit = routed.get(raw)
        if hit is not None:
            model, backend = hit
            note_model(request.scope, model)
            return await _answer(request, backend, ModelRequest(endpoint, model, raw, request.headers, query=query))
        note_model(request.scope, UNKNOWN_MODEL)  # until the request is routed to a model the server serves
        # A large body is parsed in a worker: 8 MB of small objects takes ~0.7 s, which the event loop (and
        # every other request) would otherwise wait for.
        body = parse_json(raw) if len(raw) <= work.INLINE_MAX_BODY else await work.offload(parse_json, raw)
        model = v.require_str(body, "model")
        backend = registry.route(model, endpoint)
        note_model(request.scope, model)
        if len(raw) <= ROUTED_BODY_MAX_BYTES:
            routed.put(raw, (model, backend), len(raw))  # the model string is the body's, counted with it
        model_request = ModelRequest(endpoint, model, raw, request.headers, body=body, query=query)
        return await _answer(request, backend, model_request)

    return handle


def build_routes(registry: ModelRegistry, settings: Settings) -> list[BaseRoute]:
    async def list_models(request: Request) -> Response:
        return JSONBytes({"object": "list", "data": [card.as_json() for card in registry.cards()]})

    async def get_model(request: Request) -> Response:
        return JSONBytes(registry.card(request.path_params["model_id"]).as_json())

    async def health(request: Request) -> Response:
        return JSONBytes(registry.health())

    routed_bytes = settings.cache_bytes("routes") // len(ENDPOINTS)
    # One handler per endpoint, served under both prefixes: a body routes the same way under either.
    handlers = {
        endpoint.path: _post(endpoint, registry, settings.max_body_bytes, routed_bytes) for endpoint in ENDPOINTS
    }
    routes: list[BaseRoute] = [Route("/health", health, methods=["GET"])]
    for prefix in ("/v1", ""):
        routes.extend(Route(prefix + path, handler, methods=["POST"]) for path, handler in handlers.items())
        routes.append(Route(f"{prefix}/models", list_models, methods=["GET"]))
        routes.append(Route(f"{prefix}/models/{{model_id:path}}", get_model, methods=["GET"]))
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


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # A bug in the simulator: log it for the maintainer, answer the client in OpenAI's shape.
    log.exception("unhandled error serving %s %s", request.method, request.url.path)
    return error_response(
        for_status(
            500,
            f"The simulator failed to process the request ({type(exc).__name__}). "
            "This is a bug in openai-api-simulator; please report it.",
        )
    )


class _ObservedApp(Starlette):
    """Starlette with `observe` around its whole middleware stack, its error middleware included, so that even
    the 500 of a bug carries a request id and is counted."""

    def __init__(self, *, observe: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._observe = observe

    def build_middleware_stack(self) -> ASGIApp:
        # The Messages routes answer errors in Anthropic's shape, whichever layer raised them (a bug's 500 too).
        return self._observe(AnthropicErrors(super().build_middleware_stack()))


def create_app(settings: Settings | None = None, backends: Sequence[Backend] | None = None) -> Starlette:
    """The app serving `backends` (default: the fake model alone, as `serve` runs it).

    Serve it with lifespan events on (uvicorn's default): the lifespan opens and closes the backends'
    connection pools. Raises `DuplicateModel` when two backends claim one model id.
    """
    settings = settings or Settings()
    registry = ModelRegistry(backends if backends is not None else [FakeBackend(settings)])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with registry.lifespan():
            yield

    routes = build_routes(registry, settings)
    fake = next((b for b in registry.backends if isinstance(b, FakeBackend)), None)
    if fake is not None:  # scripted answers are the fake's: a relayed model answers for itself
        routes.extend(rules_routes.routes(fake.rules))
    metrics = Metrics(registry.backends, routes)
    # What a test can see and reset of its own (issue 10): the journal, and the state each component keeps per
    # test id, cleared together by POST /_simulator/reset.
    journal = Journal(settings.cache_bytes("journal")) if settings.journal else None
    resets = Resets()
    if journal is not None:
        resets.on_reset(journal.clear)
    for backend in registry.backends:
        if isinstance(backend, FakeBackend):
            resets.on_reset(backend.errors.reset)
            resets.on_reset(backend.rules.reset)
    # With JSON logs the access lines are the middleware's (uvicorn's know no request id, duration or model).
    json_logs = settings.log_format == "json"
    observe = partial(
        ObserveMiddleware, metrics=metrics, log_context=json_logs, access_log=json_logs and settings.access_log
    )
    app = _ObservedApp(
        routes=[*routes, metrics.route, *admin_routes(journal, resets)],
        exception_handlers={APIError: _api_error, HTTPException: _http_error, Exception: _unexpected_error},
        lifespan=lifespan,
        observe=observe,
    )
    app.state.registry = registry
    app.state.journal = journal
    app.state.resets = resets  # where other per-test state registers its reset (`Resets.on_reset`)
    # add_middleware wraps what is there: the last added runs first.
    if settings.cassettes is not None:  # record/replay, just before the routes (after the key check)
        from openai_api_simulator.testdouble.cassettes import CassetteMiddleware

        app.add_middleware(CassetteMiddleware, settings=settings)
    if journal is not None:  # inside the key check: a caller without the key cannot fill (and so empty) it;
        # outside the cassettes, so a replayed answer is journaled too
        app.add_middleware(JournalMiddleware, journal=journal)
    if settings.api_key:
        app.add_middleware(APIKeyMiddleware, key=settings.api_key)
    access = Access.of(settings.host, settings.allowed_hosts, settings.cors_origins)
    if settings.cors_origins:
        # Any method and header for the origins let in: a trusted page may send what the SDKs send
        # (Authorization, x-stainless-*, openai-*) and X-Simulator-* faults; unknown methods still get a 405.
        # Private network: Chrome asks it of a public site calling localhost, which listing it allows.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(access.origins),
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS,
            allow_private_network=True,
        )
    app.add_middleware(HostOriginGuard, access=access)
    return app
