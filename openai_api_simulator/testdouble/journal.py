"""The request journal: what each test's code sent, kept per test id in a budget of bytes.

`JournalMiddleware` (pure ASGI, inside the API key check) keeps every request to the API — any path but the
admin prefix, `/health` and `/metrics`, any method but a CORS preflight's `OPTIONS` — so a request to a
mistaken path (a 404) is there too, where a test author looks for it. It keeps raw bytes only: the body as
`receive` delivered it, the status and content type from `send`, the model the app noted
(`observability.context.note_model`) and the rule that answered (`scope.RULE_KEY`). Parsing the body and
shaping the entry wait until the journal is read (`entry_json`), so a read of the journal pays for the parse;
what a request still pays (the wrapped `receive` and `send`, one `Record`) is ~3.5 µs alone and measured at
~10 µs in the whole app (`benchmarks/app_cpu.py`).

The journal is one budget (the "journal" share of `--cache-mb`) over all test ids; when it is full the oldest
entries go first, whichever test they belong to, and an entry larger than the whole budget is not kept.
"""

from __future__ import annotations

import threading
from collections import deque
from time import perf_counter, time
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openai_api_simulator.api.http import error_response, parse_json
from openai_api_simulator.errors import APIError
from openai_api_simulator.observability.context import MODEL_KEY, REQUEST_ID_KEY, UNKNOWN_MODEL
from openai_api_simulator.testdouble.scope import PREFIX, RULE_KEY, test_id

# Bodies above this are kept as their first 256 KiB of text, marked `body_truncated`: an assertion reads the
# messages, not the 10 MB of base64 an image part carries, and one such body would otherwise evict hundreds
# of ordinary entries.
BODY_MAX_BYTES: Final = 256 * 1024
# What an entry costs beyond its bytes: the record, its header tuples and strings, the maps' slots.
ENTRY_OVERHEAD: Final = 600
# Credentials, never shown: the value is replaced, the header kept, so a test can still assert it was sent.
REDACTED: Final = "[redacted]"
SECRET_HEADERS: Final = frozenset(
    {b"authorization", b"proxy-authorization", b"x-api-key", b"api-key", b"cookie", b"set-cookie"}
)
# Paths that are the server's, not the API's: reading the journal must not fill it, nor health checks.
_UNJOURNALED: Final = frozenset({"/health", "/metrics"})
_SSE: Final = b"text/event-stream"
# Wall-clock time from the monotonic clock the duration needs anyway: one clock read a request, not two.
_EPOCH: Final = time() - perf_counter()


class Record:
    """One journaled exchange, as raw as it arrived. A plain class with slots: one is made per request."""

    __slots__ = (
        "body",
        "duration_ms",
        "headers",
        "id",
        "method",
        "model",
        "path",
        "query",
        "rule",
        "status",
        "stream",
        "test_id",
        "time",
        "truncated",
        "weight",
    )

    def __init__(  # positional: a call with fourteen keywords costs a visible part of a microsecond
        self,
        id: str,
        time: float,
        method: str,
        path: str,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        truncated: bool,
        status: int,
        model: str,
        rule: str | None,
        stream: bool,
        test_id: str,
        duration_ms: float,
    ) -> None:
        self.id = id
        self.time = time
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.truncated = truncated
        self.status = status
        self.model = model  # as noted by the app: "" when never routed, UNKNOWN_MODEL when not served
        self.rule = rule
        self.stream = stream
        self.test_id = test_id
        self.duration_ms = duration_ms
        weight = ENTRY_OVERHEAD + len(body) + len(path) + len(query) + len(test_id)
        for name, value in headers:
            weight += len(name) + len(value)
        self.weight = weight


def _parsed_body(record: Record) -> Any:
    if not record.body:
        return None
    if not record.truncated:
        try:
            return parse_json(record.body)  # the app's own rules: what it accepted as JSON is shown as JSON
        except APIError:
            pass
    return record.body.decode("utf-8", errors="replace")


def entry_json(record: Record) -> dict[str, Any]:
    """The entry as `GET /_simulator/requests` shows it (docs/fake-model.md, "Request journal")."""
    headers: dict[str, str] = {}
    for name, value in record.headers:
        key = name.decode("latin-1").lower()
        text = REDACTED if name.lower() in SECRET_HEADERS else value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    body = _parsed_body(record)
    model: str | None = record.model if record.model and record.model != UNKNOWN_MODEL else None
    if model is None and isinstance(body, dict) and isinstance(body.get("model"), str):
        model = body["model"]  # a model nobody serves (a 404): the one the request named
    entry: dict[str, Any] = {
        "id": record.id,
        "time": record.time,
        "method": record.method,
        "path": record.path,
        "query": record.query.decode("latin-1"),
        "headers": headers,
        "body": body,
        "status": record.status,
        "model": model,
        "rule": record.rule,
        "stream": record.stream,
        "test_id": record.test_id,
        "duration_ms": record.duration_ms,
    }
    if record.truncated:
        entry["body_truncated"] = True
    return entry


class Journal:
    """Records of every test id, oldest evicted first across all of them once `max_bytes` is reached.

    Threads may share it (tests read it from their own thread through `app.state.journal`). Deques, not maps:
    adding is on every request's path and must cost little; clearing a test id rebuilds the one of all records
    (linear, but once per test, not per request).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        # Every record in the order kept (the eviction order), and each test id's own, in the same order: the
        # oldest of all is always the oldest of its test id.
        self._all: deque[Record] = deque()
        self._by_test: dict[str, deque[Record]] = {}
        self._lock = threading.Lock()

    def add(self, record: Record) -> bool:
        """Keep `record`, evicting the oldest; False when it alone is larger than the whole budget."""
        if record.weight > self.max_bytes:
            return False
        with self._lock:
            self._all.append(record)
            mine = self._by_test.get(record.test_id)
            if mine is None:
                mine = self._by_test[record.test_id] = deque()
            mine.append(record)
            self.nbytes += record.weight
            while self.nbytes > self.max_bytes:
                oldest = self._all.popleft()
                theirs = self._by_test[oldest.test_id]
                theirs.popleft()
                if not theirs:
                    del self._by_test[oldest.test_id]
                self.nbytes -= oldest.weight
        return True

    def records(self, test_id: str) -> list[Record]:
        """The records of `test_id`, oldest first."""
        with self._lock:
            return list(self._by_test.get(test_id, ()))

    def clear(self, test_id: str) -> int:
        """Forget the records of `test_id`; how many there were."""
        with self._lock:
            mine = self._by_test.pop(test_id, None)
            if not mine:
                return 0
            self._all = deque(record for record in self._all if record.test_id != test_id)
            self.nbytes -= sum(record.weight for record in mine)
            return len(mine)

    def __len__(self) -> int:
        return len(self._all)


class JournalMiddleware:
    """Keeps each API request to `app` in `journal`; answers 400 for a malformed test id header."""

    def __init__(self, app: ASGIApp, *, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(PREFIX) or path in _UNJOURNALED or method == "OPTIONS":
            await self.app(scope, receive, send)
            return
        try:
            test = test_id(scope["headers"])
        except APIError as exc:
            await error_response(exc)(scope, receive, send)
            return
        started = perf_counter()
        chunks: list[bytes] = []
        size = 0
        status = 500  # until the answer starts: an exception past this middleware is answered 500 outside it
        stream = False
        kept = False

        def keep() -> None:
            nonlocal kept
            kept = True
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            noted = scope.get(MODEL_KEY)
            self.journal.add(
                Record(
                    scope.get(REQUEST_ID_KEY) or "",
                    _EPOCH + started,
                    method,
                    path,
                    scope.get("query_string", b""),
                    scope["headers"],
                    body[:BODY_MAX_BYTES],
                    len(body) > BODY_MAX_BYTES,
                    status,
                    noted[0] if noted else "",
                    scope.get(RULE_KEY),
                    stream,
                    test,
                    (perf_counter() - started) * 1000,
                )
            )

        async def receiving() -> Message:
            nonlocal size
            message = await receive()
            # Past the limit the rest is not kept: the entry shows the first BODY_MAX_BYTES only.
            if size <= BODY_MAX_BYTES and message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    chunks.append(chunk)
                    size += len(chunk)
            return message

        async def sending(message: Message) -> None:
            nonlocal status, stream
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers") or ():
                    if name == b"content-type":
                        stream = value.startswith(_SSE)
                        break
            elif kind == "http.response.body" and not message.get("more_body", False) and not kept:
                # Kept before the last bytes go out, so a client that has its answer finds it in the journal.
                keep()
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            if not kept:  # failed, cancelled or cut before the answer ended
                keep()
