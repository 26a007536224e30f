"""What a POST endpoint of the API is: its declaration type, and the error events streams end with.

An `Endpoint` says where it is served (its `name` is the path under ``/v1``; the app serves it there and at
the root), how the built-in model reads and answers it, and how a failure mid-stream is told to its clients.
Backends answer an endpoint when its name is among their `capabilities`, so a server that lacks one gets a
clear 400 instead of a confusing upstream answer. The declarations themselves are in `endpoints`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from openai_api_simulator.api.common import RequestContext
from openai_api_simulator.api.http import CutConnection, dumps


class Streamable(Protocol):
    """A parsed request: whether the client asked for an event stream."""

    @property
    def stream(self) -> bool: ...


R = TypeVar("R", bound=Streamable)


def data_error_event(message: str, code: str) -> bytes:
    """A failure in a Chat or Completions stream: an error object as the last `data:` event."""
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    return b"data: " + dumps(body) + b"\n\n"


def typed_error_event(message: str, code: str) -> bytes:
    """A failure in a Responses stream: an `error` event, which the SDKs raise as an APIError."""
    error = {"type": "error", "code": code, "message": message, "param": None}
    return b"event: error\ndata: " + dumps(error) + b"\n\n"


@dataclass(frozen=True)
class Endpoint(Generic[R]):
    name: str  # "chat/completions": the path under /v1, and the capability a backend lists to answer it
    parse: Callable[[dict[str, Any], RequestContext], R]  # the body as the fake reads it (OpenAI's 400s)
    respond: Callable[[R, RequestContext], Awaitable[dict[str, Any]]]  # the fake's JSON answer
    # Its SSE answer: awaited for the work (refusals are plain HTTP errors), then iterated for the events.
    stream: Callable[[R, RequestContext], Awaitable[AsyncIterator[bytes | CutConnection]]] | None = None
    stream_error: Callable[[str, str], bytes] = data_error_event  # (message, code) → the stream's last event
    # Its answers carry no timestamp (`created`): the fake's memo keeps them whole instead of splitting them at one.
    timeless: bool = False

    @property
    def path(self) -> str:
        return "/" + self.name
