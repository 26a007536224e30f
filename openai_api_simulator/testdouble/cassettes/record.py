"""Recording: a request forwarded to the upstream through the app's `Relay`, relayed to the client as it
comes, and written as a cassette once complete.

The relay does the forwarding as it does for `--upstream` (the body as sent, the upstream's own key in place
of the client's, retries of a request never answered, the stream unbuffered, the upstream closed when the
client leaves). Recording only listens to what the relay sends the client: the status, the headers, each body
chunk with its time. The cassette is written before the last message reaches the client, so a client that
has its answer can count on the file being there.

Not written: an answer cut short (the upstream died, the client left), a stream ended by the relay's own error
event, and answers 429 or 5xx (a passing overload is not what the upstream answers that request: recording it
would replay the failure for ever). 4xx answers are recorded: they are the upstream's verdict on the request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from openai_api_simulator.api.endpoint import Endpoint
from openai_api_simulator.backends.base import ModelRequest
from openai_api_simulator.backends.relay import Relay
from openai_api_simulator.testdouble.cassettes.format import KEPT_HEADERS, Cassette, Library, events

log = logging.getLogger("openai_api_simulator.cassettes")

# Client headers passed to the relay (which forwards only these of them anyway). Not accept-encoding: the
# upstream must answer uncompressed, so that the cassette holds the text and replays to any client.
_PASSED_HEADERS: Final = frozenset({b"accept", b"user-agent"})


def _without_userinfo(url: str) -> str:
    """The URL as written into a cassette: a `user:password@` in it is a secret, and is dropped."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class RecordUpstream:
    """The `relay.Source` recorded from: one URL, always tried (a refusal is the client's 502, naming it)."""

    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = url
        self._api_key = api_key

    @property
    def state(self) -> str:
        return "ready"

    def urls(self) -> Sequence[str]:
        return (self.url,)

    @property
    def api_key(self) -> str | None:
        return self._api_key

    @property
    def retry_after(self) -> float:
        return 1.0

    def mark_down(self, url: str) -> None:
        pass

    def mark_up(self, url: str) -> None:
        pass

    def confirm_state(self) -> str:
        return "ready"

    def server_name(self, url: str) -> str:
        return f"record upstream {url} (--record-upstream)"


class _Tape:
    """What the relay sends the client, with times: the send wrapper of one recorded exchange."""

    def __init__(self, send: Send, started: float, finish: Finish) -> None:
        self.send = send
        self.started = started
        self.finish = finish  # called with the last body message, before it is sent
        self.status = 0
        self.headers: dict[str, str] = {}
        self.arrivals: list[tuple[float, bytes]] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", []):
                text = name.decode("latin-1").lower()
                if text in KEPT_HEADERS:
                    self.headers[text] = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            ms = (time.monotonic() - self.started) * 1000
            if message.get("more_body", False):
                if body:
                    self.arrivals.append((ms, body))
            else:
                await self.finish(self, ms, body)
        await self.send(message)


Finish = Callable[[_Tape, float, bytes], Awaitable[None]]


def _is_stream(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


async def record(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    relay: Relay,
    upstream: RecordUpstream,
    library: Library,
    endpoint: Endpoint[Any],
    raw: bytes,
    body: dict[str, Any],
    key: dict[str, Any],
    key_digest: str,
    started: float,
) -> None:
    """Forward the request, relay the answer to the client, and write it to `library` when complete.

    Raises the relay's `APIError` (upstream unreachable, timed out) before anything is sent.
    """
    headers = Headers(raw=[(n, v) for n, v in scope["headers"] if n in _PASSED_HEADERS])
    model = body.get("model")
    request = ModelRequest(
        endpoint,
        model if isinstance(model, str) else "",
        raw,
        headers,
        body=body,
        query=scope.get("query_string", b""),
    )

    async def finish(tape: _Tape, ms: float, last: bytes) -> None:
        stream = _is_stream(tape.headers.get("content-type", ""))
        if tape.status == 429 or tape.status >= 500:
            log.warning("not recorded: %s answered %d to a %s request", upstream.url, tape.status, endpoint.name)
            return
        if stream and last:
            # The relay ends a stream whose upstream failed with an error event of its own, as the last
            # message; a normal end is an empty one. Not what the upstream answered: not recorded.
            log.warning("not recorded: the %s stream from %s failed midway", endpoint.name, upstream.url)
            return
        arrivals = [*tape.arrivals, (ms, last)] if last else tape.arrivals
        cassette = Cassette(
            key=key,
            digest=key_digest,
            request_body=body,
            status=tape.status,
            headers=tape.headers,
            ms=ms,
            body=b"" if stream else b"".join(data for _, data in arrivals),
            chunks=events(arrivals) if stream else None,
            recorded={
                "upstream": _without_userinfo(upstream.url),
                "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
        try:
            path = await anyio.to_thread.run_sync(library.save, cassette)
        except OSError as exc:
            # The client still gets its answer; the log says which file is missing and why.
            log.error("could not write the cassette %s: %s", library.path_for(cassette), exc)
            return
        log.info("recorded %s", path)

    response = await relay.forward(request, upstream)
    await response(scope, receive, _Tape(send, started, finish))
