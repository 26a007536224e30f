"""The request being answered, as a context variable: the middleware opens it, the app and backends note on it.

A context variable rather than a slot in the ASGI scope: the fake backend is handed a `ModelRequest`, not the
scope, and an event stream's body is produced in a task of its own; both see the variable (a task starts with
a copy of its parent's context, which holds the same `Exchange` object).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

from openai_api_simulator.observability.usage import UsageScanner


class Exchange:
    """One request: its id, the model it was routed to, the token counts its backend reported, and what the
    middleware watching its answer has seen so far."""

    __slots__ = ("first_chunk", "model", "request_id", "scanner", "status", "stream", "usage")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.model = ""  # "" for routes that name no model; set by the app once a request is routed
        self.usage: tuple[int, int] | None = None  # (prompt, completion), when the backend knows them
        self.status = 500  # until the answer starts (the app's error middleware always answers)
        self.stream = False  # the answer is an event stream
        self.first_chunk = 0.0  # perf_counter() at its first body chunk, for streams
        self.scanner: UsageScanner | None = None  # reads `usage` from the answer's bytes


CURRENT: Final[ContextVar[Exchange | None]] = ContextVar("openai_api_simulator_exchange", default=None)


def request_id() -> str | None:
    """The id of the request being answered, None outside a request (for log records)."""
    exchange = CURRENT.get()
    return exchange.request_id if exchange is not None else None


def note_model(model: str) -> None:
    """The current request is for `model` (a known model id, or "unknown": it named none the app serves)."""
    exchange = CURRENT.get()
    if exchange is not None:
        exchange.model = model


def report_usage(prompt_tokens: int, completion_tokens: int) -> None:
    """The current request's answer used these tokens (a backend that knows them spares the byte scan)."""
    exchange = CURRENT.get()
    if exchange is not None:
        exchange.usage = (prompt_tokens, completion_tokens)
