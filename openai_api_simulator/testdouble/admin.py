"""The admin routes under `PREFIX`: read and clear the journal, reset a test's state.

==============================  =================================================================
``GET /_simulator/requests``    the caller's test id's journal, oldest first; filters ``path``,
                                ``model``, ``method``, ``status``, ``limit`` (the last N)
``DELETE /_simulator/requests`` forget that journal
``POST /_simulator/reset``      forget everything kept for that test id: journal, fault state, and
                                whatever else registered with `Resets.on_reset` (the rules)
==============================  =================================================================

The test id is the caller's `X-Simulator-Test-Id` ("" without one), so a test only ever sees and clears its
own. The routes are served at the root alone, never under `/v1`, and the API key guards them like the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from openai_api_simulator.api.http import JSONBytes
from openai_api_simulator.errors import APIError, InvalidRequest
from openai_api_simulator.testdouble.journal import Journal, Record, entry_json
from openai_api_simulator.testdouble.scope import PREFIX, test_id

ResetHook = Callable[[str], object]
_FILTERS: Final = ("path", "model", "method", "status", "limit")


class Resets:
    """What `POST /_simulator/reset` clears: each component keeping per-test state registers a hook."""

    def __init__(self) -> None:
        self._hooks: list[ResetHook] = []

    def on_reset(self, hook: ResetHook) -> ResetHook:
        """Call `hook(test_id)` on every reset of a test id (usable as a decorator)."""
        self._hooks.append(hook)
        return hook

    def reset(self, test_id: str) -> None:
        for hook in self._hooks:
            hook(test_id)


def _int_filter(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise InvalidRequest(f"Query parameter '{name}' must be an integer from {lo} to {hi}, got {raw!r}.", param=name)
    return value


def select(records: list[Record], query: dict[str, str]) -> list[dict[str, Any]]:
    """The entries of `records` matching the query's filters (all must hold), the last `limit` of them."""
    unknown = sorted(set(query) - set(_FILTERS))
    if unknown:
        raise InvalidRequest(
            f"Unknown query parameter {unknown[0]!r} for {PREFIX}/requests; the filters are {', '.join(_FILTERS)}.",
            param=unknown[0],
        )
    status = _int_filter("status", query["status"], 100, 599) if "status" in query else None
    limit = _int_filter("limit", query["limit"], 0, 1_000_000) if "limit" in query else None
    method = query["method"].upper() if "method" in query else None
    path = query.get("path")
    model = query.get("model")
    entries = []
    for record in records:
        if (path is not None and record.path != path) or (method is not None and record.method != method):
            continue
        if status is not None and record.status != status:
            continue
        entry = entry_json(record)
        if model is not None and entry["model"] != model:
            continue
        entries.append(entry)
    return entries[len(entries) - limit :] if limit is not None and limit < len(entries) else entries


def admin_routes(journal: Journal | None, resets: Resets) -> list[BaseRoute]:
    """The routes under `PREFIX`. `journal` None: the journal is off (`--no-journal`) and says so when read."""

    def journal_or_error() -> Journal:
        if journal is None:
            raise APIError(
                404,
                "The request journal is off on this server (it was started with --no-journal); "
                "start it without that flag to read requests here.",
                type="invalid_request_error",
                code="journal_disabled",
            )
        return journal

    async def requests(request: Request) -> Response:
        scope = test_id(request.headers.raw)
        kept = journal_or_error()
        if request.method == "DELETE":
            return JSONBytes({"object": "simulator.requests.deleted", "test_id": scope, "deleted": kept.clear(scope)})
        return JSONBytes({"object": "list", "data": select(kept.records(scope), dict(request.query_params))})

    async def reset(request: Request) -> Response:
        scope = test_id(request.headers.raw)
        resets.reset(scope)
        return JSONBytes({"object": "simulator.reset", "test_id": scope})

    return [
        Route(f"{PREFIX}/requests", requests, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
    ]
