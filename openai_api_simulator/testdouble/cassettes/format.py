"""The cassette file: one exchange per JSON file, readable and diff-friendly, and the directory that holds them.

A file is pretty-printed JSON with sorted keys (so a re-recording diffs line by line)::

    {
      "digest": "the SHA-256 of the canonical key, for reading",
      "format": "openai-api-simulator cassette",
      "key": {"body": {...normalised...}, "endpoint": "chat/completions"},
      "recorded": {"at": "2025-01-01T12:00:00Z", "upstream": "http://127.0.0.1:8080"},
      "request": {"body": {...the body as the client sent it...}},
      "response": {
        "headers": {"content-type": "application/json"},
        "status": 200,
        "ms": 812.5,                      time from the request to the complete body
        "body": {...},                    the body parsed, for reading (JSON answers only)
        "body_text": "{\"id\":...}"       the exact text replayed
      },
      "version": 1
    }

An event stream has ``"chunks": [{"ms": 41.2, "text": "data: {...}\\n\\n"}, ...]`` in place of the body: each
event as the upstream sent it, with its time from the request start. Bytes that are not UTF-8 are kept as
``"body_base64"`` / a chunk's ``"base64"``. Replay serves `body_text` (else `body_base64`, else `body`
re-encoded compactly: edit `body` and delete `body_text` to change an answer by hand).

Files are found by the key they hold, not by their name, so they may be renamed; a file that cannot be read as
a cassette is a start-up error naming it. Writes go to a temporary file in the directory, renamed into place.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from openai_api_simulator.errors import StartupError
from openai_api_simulator.testdouble.cassettes.key import FILE_NAME, digest, file_name

log = logging.getLogger("openai_api_simulator.cassettes")

FORMAT: Final = "openai-api-simulator cassette"
VERSION: Final = 1
# Response headers written to a cassette: what the answer is. Everything else (date, server, set-cookie,
# x-request-id, rate-limit counters, openai-processing-ms...) is per-exchange or a secret.
KEPT_HEADERS: Final = frozenset({"content-type"})
# One SSE event: everything up to and including the blank line that ends it.
_EVENT: Final = re.compile(rb".*?(?:\r\n\r\n|\n\n|\r\r)", re.DOTALL)


class CassetteError(StartupError):
    """A cassette file or directory that cannot be used; the message names it and says what to do."""


@dataclass(frozen=True)
class Chunk:
    ms: float  # from the request start
    data: bytes


@dataclass(frozen=True)
class Cassette:
    key: dict[str, Any]
    digest: str
    request_body: Any
    status: int
    headers: dict[str, str]
    ms: float  # the complete answer's time from the request start (for a stream: its last chunk's)
    body: bytes = b""  # a JSON (or other) answer
    chunks: tuple[Chunk, ...] | None = None  # an event stream
    recorded: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return file_name(self.key, self.digest)

    def to_json(self) -> dict[str, Any]:
        response: dict[str, Any] = {"status": self.status, "headers": self.headers, "ms": round(self.ms, 1)}
        if self.chunks is not None:
            response["chunks"] = [_chunk_json(chunk) for chunk in self.chunks]
        else:
            response.update(_body_json(self.body))
        data: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "digest": self.digest,
            "key": self.key,
            "request": {"body": self.request_body},
            "response": response,
        }
        if self.recorded:
            data["recorded"] = self.recorded
        return data

    @classmethod
    def from_json(cls, data: Any, source: Path) -> Cassette:
        """The cassette in `data` (a file's JSON); CassetteError naming `source` and what is wrong."""

        def bad(why: str) -> CassetteError:
            return CassetteError(f"{source} is not a usable cassette: {why}. Fix it, or delete it to record again.")

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f'it has no "format": {json.dumps(FORMAT)}')
        if data.get("version") != VERSION:
            raise bad(f"format version {data.get('version')!r}, this simulator reads version {VERSION}")
        key, response = data.get("key"), data.get("response")
        if not (isinstance(key, dict) and isinstance(key.get("endpoint"), str) and isinstance(key.get("body"), dict)):
            raise bad('"key" must be {"endpoint": "...", "body": {...}}')
        # The key is the truth: one edited by hand matches what it now says (the stored digest is for reading).
        key_digest = digest(key)
        if data.get("digest") != key_digest:
            log.info("%s: its key was edited; it answers the requests of the key it holds now", source)
        if not isinstance(response, dict) or not isinstance(response.get("status"), int):
            raise bad('"response" must hold an integer "status"')
        headers = response.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise bad('"response.headers" must map names to strings')
        try:
            chunks = None if "chunks" not in response else tuple(_chunk(c) for c in response["chunks"])
            body = b"" if chunks is not None else _body(response)
            ms = float(response.get("ms", 0.0))
        except (TypeError, ValueError, KeyError) as exc:
            raise bad(f'"response" has an unreadable body or chunk ({exc})') from None
        recorded, request = data.get("recorded"), data.get("request")
        return cls(
            key=key,
            digest=key_digest,
            request_body=request.get("body") if isinstance(request, dict) else None,
            status=response["status"],
            headers={str(k).lower(): v for k, v in headers.items()},
            ms=ms,
            body=body,
            chunks=chunks,
            recorded=recorded if isinstance(recorded, dict) else None,
        )


def _text_or_base64(data: bytes, text_field: str, base64_field: str) -> dict[str, str]:
    try:
        return {text_field: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {base64_field: base64.b64encode(data).decode("ascii")}


def _chunk_json(chunk: Chunk) -> dict[str, Any]:
    return {"ms": round(chunk.ms, 1), **_text_or_base64(chunk.data, "text", "base64")}


def _body_json(body: bytes) -> dict[str, Any]:
    out: dict[str, Any] = _text_or_base64(body, "body_text", "body_base64")
    with contextlib.suppress(ValueError):
        out["body"] = json.loads(body)  # for reading and diffing; replay serves body_text, byte for byte
    return out


def _chunk(data: Any) -> Chunk:
    if "text" in data:
        return Chunk(float(data["ms"]), str(data["text"]).encode("utf-8"))
    return Chunk(float(data["ms"]), base64.b64decode(data["base64"], validate=True))


def _body(response: dict[str, Any]) -> bytes:
    if "body_text" in response:
        return str(response["body_text"]).encode("utf-8")
    if "body_base64" in response:
        return base64.b64decode(response["body_base64"], validate=True)
    if "body" in response:  # edited by hand: served compactly, as OpenAI-compatible servers answer
        return json.dumps(response["body"], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raise ValueError('no "body_text", "body_base64" or "body"')


def events(arrivals: Iterable[tuple[float, bytes]]) -> tuple[Chunk, ...]:
    """An event stream's chunks as they arrived (time, bytes) → one chunk per event, timed by the arrival that
    completed it. The bytes joined are the same; a network read that split or merged events does not show."""
    chunks: list[Chunk] = []
    pending = b""
    ms = 0.0
    for ms, data in arrivals:
        pending += data
        end = 0
        for match in _EVENT.finditer(pending):
            chunks.append(Chunk(ms, match.group()))
            end = match.end()
        pending = pending[end:]
    if pending:  # a stream that does not end with a blank line: its tail as it came
        chunks.append(Chunk(ms, pending))
    return tuple(chunks)


def encode(cassette: Cassette) -> bytes:
    return (json.dumps(cassette.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


class Library:
    """The cassettes of one directory, by digest: read at start-up, added to as exchanges are recorded."""

    def __init__(self, directory: Path, *, writable: bool) -> None:
        self.directory = directory
        self.writable = writable
        self._by_digest: dict[str, Cassette] = {}

    @classmethod
    def open(cls, directory: Path, *, writable: bool) -> Library:
        """Check `directory` and read its cassettes; CassetteError naming the path and what to do.

        For recording it is created if missing, and must take a file; for replaying alone it must exist.
        """
        directory = directory.expanduser()
        if writable:
            try:
                directory.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
                    pass
            except OSError as exc:
                raise CassetteError(
                    f"Cannot record cassettes into {directory}: {exc.strerror or exc}. "
                    "Give --record (or --replay with --replay-miss record) a directory this user can write."
                ) from None
        elif not directory.is_dir():
            what = "is not a directory" if directory.exists() else "does not exist"
            raise CassetteError(
                f"Cannot replay cassettes from {directory}: it {what}. Record some first with "
                f"--record {directory} --record-upstream URL, or check the path given to --replay."
            )
        library = cls(directory.resolve(), writable=writable)
        library._load()
        return library

    def _load(self) -> None:
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                data = json.loads(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise CassetteError(
                    f"{path} is not a usable cassette: {exc}. Fix it, or delete it to record again."
                ) from None
            cassette = Cassette.from_json(data, path)
            if cassette.digest in self._by_digest:
                log.warning("%s repeats the key of another cassette; the first one read is replayed", path)
                continue
            self._by_digest[cassette.digest] = cassette

    def __len__(self) -> int:
        return len(self._by_digest)

    def find(self, key_digest: str) -> Cassette | None:
        return self._by_digest.get(key_digest)

    def path_for(self, cassette: Cassette) -> Path:
        return self.directory / cassette.name

    def save(self, cassette: Cassette) -> Path:
        """Write `cassette` (temp file + rename, so a reader never sees half of one) and index it.

        Blocking: call it in a worker thread. The name is checked again here: nothing from a request reaches
        the file system but what `key.file_name` made of it.
        """
        name = cassette.name
        if not FILE_NAME.fullmatch(name) or Path(name).name != name:
            raise ValueError(f"unsafe cassette file name {name!r}")
        target = self.directory / name
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(encode(cassette))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        # From a worker thread: one dict assignment, atomic under the GIL, seen by the next lookup on the loop.
        self._by_digest[cassette.digest] = cassette
        return target
