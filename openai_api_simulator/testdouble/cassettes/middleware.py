"""The middleware that answers from cassettes, records misses, or lets a request through to the models.

Only the POST endpoints are looked at (under ``/v1`` and at the root); every other request, and every request
when `--record`/`--replay` are not given (the middleware is not installed then), goes by untouched. For an
endpoint request::

    body read (size limit, JSON content type) ─▶ not a JSON object ─▶ the app (which answers the 400)
        └─▶ key ─▶ a cassette ─▶ replayed
                  └─▶ none ─▶ miss "fake":   the app (model routing: the fake, or a relayed model)
                             miss "error":  404 cassette_not_found, naming the key and the directory
                             miss "record": forwarded to --record-upstream, relayed, written

It sits inside the API-key check (a client without the key gets its 401, never a cassette) and outside the
routes. A request let through gets its body again from memory: the app reads it as if from the client.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openai_api_simulator.api.endpoints import ENDPOINTS
from openai_api_simulator.api.http import error_response, parse_json, read_body
from openai_api_simulator.backends.relay import Relay
from openai_api_simulator.config import Cassettes, Settings
from openai_api_simulator.errors import APIError
from openai_api_simulator.testdouble.cassettes.format import Library
from openai_api_simulator.testdouble.cassettes.key import digest, file_name, request_key
from openai_api_simulator.testdouble.cassettes.record import RecordUpstream, record
from openai_api_simulator.testdouble.cassettes.replay import replay

log = logging.getLogger("openai_api_simulator.cassettes")

_PREFIXES: Final = ("/v1", "")


def _replayed_body(raw: bytes, receive: Receive) -> Receive:
    """`receive` for the app behind: the body already read, once, then the client's own messages (its
    disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return again


def not_found(key_digest: str, name: str, cassettes: Cassettes) -> APIError:
    return APIError(
        404,
        f"No cassette for this request (key {key_digest}) in {cassettes.directory}: it would be {name}. "
        f"Record it with --record {cassettes.directory} --record-upstream URL, or replay with "
        "--replay-miss fake to let the fake model answer what was not recorded.",
        type="invalid_request_error",
        code="cassette_not_found",
    )


class CassetteMiddleware:
    """Pure ASGI: answers endpoint requests from `settings.cassettes` (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        assert settings.cassettes is not None
        self.app = app
        self.cassettes = settings.cassettes
        self.max_body_bytes = settings.max_body_bytes
        self.library = Library.open(self.cassettes.directory, writable=self.cassettes.records)
        self.endpoints = {prefix + endpoint.path: endpoint for endpoint in ENDPOINTS for prefix in _PREFIXES}
        self.relay: Relay | None = None
        self.upstream: RecordUpstream | None = None
        if self.cassettes.records:
            if not self.cassettes.upstream:
                raise ValueError("recording cassettes needs the upstream's URL (--record-upstream)")
            self.relay = Relay()
            self.upstream = RecordUpstream(self.cassettes.upstream, self.cassettes.upstream_key)
        log.info(
            "%s %d cassettes in %s", "recording beside" if self.relay else "replaying", len(self.library),
            self.library.directory,
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.relay is not None:
            # The relay's connection pool is open for as long as the app runs (this call lasts its whole life).
            async with self.relay.lifespan():
                await self.app(scope, receive, send)
            return
        endpoint = self.endpoints.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        try:
            raw = await read_body(Request(scope, receive), self.max_body_bytes)
        except APIError as error:
            await error_response(error)(scope, receive, send)
            return
        try:
            body = parse_json(raw)
        except APIError:
            await self.app(scope, _replayed_body(raw, receive), send)  # the app's 400, as without cassettes
            return
        key = request_key(endpoint.name, body)
        key_digest = digest(key)
        cassette = self.library.find(key_digest)
        if cassette is not None:
            await replay(scope, receive, send, cassette, started, self.cassettes.speed)
            return
        miss = self.cassettes.miss
        if miss == "fake":
            await self.app(scope, _replayed_body(raw, receive), send)
            return
        if miss == "error" or self.relay is None or self.upstream is None:
            await error_response(not_found(key_digest, file_name(key, key_digest), self.cassettes))(
                scope, receive, send
            )
            return
        try:
            await record(
                scope,
                receive,
                send,
                relay=self.relay,
                upstream=self.upstream,
                library=self.library,
                endpoint=endpoint,
                raw=raw,
                body=body,
                key=key,
                key_digest=key_digest,
                started=started,
            )
        except APIError as error:  # raised before anything was sent: the upstream did not answer
            await error_response(error)(scope, receive, send)
