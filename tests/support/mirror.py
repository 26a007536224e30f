"""A loopback HTTP server that speaks like GitHub releases and Hugging Face, with fault knobs.

GitHub (under ``{url}/{owner}/{repo}``):
  ``/releases/latest``               302 -> ``/releases/tag/{latest}`` (or, with ``latest=None``, to
                                     ``/releases``: a redirect without a tag)
  ``/releases/download/{tag}/{a}``   302 -> ``/storage/{id}`` (like objects.githubusercontent.com), or 404
  ``/storage/{id}``                  the bytes, with Range support
  ``/api/repos/{o}/{r}/releases/tags/{tag}`` and ``/api/repos/{o}/{r}/releases``: the REST API's JSON
                                     with ``assets[].digest = "sha256:<hex>"``

Hugging Face (under ``{url}/hf``):
  ``/{owner}/{repo}/resolve/{rev}/{file}``  302 -> ``/cdn/{id}`` with ``X-Linked-Etag: "<sha256>"`` and
                                     ``X-Linked-Size`` on the redirect, as the real Hub does for LFS files
  ``/cdn/{id}``                      the bytes, with Range support

Faults (`Faults`): cut the connection after N body bytes, flip a byte, ignore Range, answer a sequence of
error statuses first, slow the body down. Every request is recorded and body bytes are counted, so tests
can assert "resumed without re-fetching" and "zero requests" on what the server actually did.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

_CHUNK = 1 << 20


@dataclass
class Blob:
    """Bytes the mirror serves: in memory or from a file."""

    data: bytes | None = None
    path: Path | None = None
    size: int = 0
    sha256: str = ""

    @classmethod
    def of(cls, source: bytes | Path) -> Blob:
        if isinstance(source, bytes):
            return cls(data=source, size=len(source), sha256=hashlib.sha256(source).hexdigest())
        digest = hashlib.sha256()
        with source.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        return cls(path=source, size=source.stat().st_size, sha256=digest.hexdigest())

    def chunks(self, start: int, end: int) -> Iterator[bytes]:
        if self.data is not None:
            for pos in range(start, end, _CHUNK):
                yield self.data[pos : min(end, pos + _CHUNK)]
            return
        assert self.path is not None
        with self.path.open("rb") as f:
            f.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = f.read(min(_CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk


@dataclass
class Faults:
    cut_after: int | None = None  # close the connection after this many body bytes ...
    cut_times: int = 1  # ... on this many responses, then serve normally
    flip_at: int | None = None  # XOR 0xFF into the byte at this file offset
    ignore_range: bool = False  # answer 200 with the whole file to Range requests
    statuses: list[int] = field(default_factory=list)  # answer these first, one per blob request
    chunk_delay: float = 0.0  # sleep between 1 MiB chunks (to make downloads overlap)


@dataclass(frozen=True)
class Record:
    method: str
    path: str
    range: str | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    mirror: Mirror

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-body (as tests make them) are expected; stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.mirror._handle(self, head=False)

    def do_HEAD(self) -> None:
        self.server.mirror._handle(self, head=True)


class Mirror:
    """Start with `start()` (or use as a context manager); see the module docstring."""

    slug = "ggml-org/llama.cpp"

    def __init__(self) -> None:
        self.latest: str | None = None
        self.releases: dict[str, dict[str, Blob]] = {}
        self.hidden_digests: set[tuple[str, str]] = set()  # (tag, asset) listed without a digest
        self.missing_assets: set[tuple[str, str]] = set()  # (tag, asset) listed by the API but 404
        self.hf: dict[tuple[str, str, str], Blob] = {}
        self.hf_no_etag: set[tuple[str, str, str]] = set()
        self.faults = Faults()
        self.requests: list[Record] = []
        self.bytes_served = 0
        self._blobs: list[Blob] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- setup ----------------------------------------------------------------------------------

    def _blob_id(self, blob: Blob) -> int:
        for i, known in enumerate(self._blobs):
            if known is blob:
                return i
        self._blobs.append(blob)
        return len(self._blobs) - 1

    def add_asset(self, tag: str, name: str, source: bytes | Path, *, digest: bool = True) -> Blob:
        blob = Blob.of(source)
        self.releases.setdefault(tag, {})[name] = blob
        self._blob_id(blob)
        if not digest:
            self.hidden_digests.add((tag, name))
        return blob

    def add_release(self, tag: str) -> None:
        self.releases.setdefault(tag, {})

    def add_hf(self, repo: str, file: str, source: bytes | Path, *, revision: str = "main", etag: bool = True) -> Blob:
        blob = Blob.of(source)
        self.hf[(repo, revision, file)] = blob
        self._blob_id(blob)
        if not etag:
            self.hf_no_etag.add((repo, revision, file))
        return blob

    # -- addresses ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "mirror not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def release_url(self) -> str:
        return f"{self.url}/{self.slug}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def hf_endpoint(self) -> str:
        return f"{self.url}/hf"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Mirror:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.mirror = self
        # A short poll interval keeps shutdown() (and so every test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="mirror", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Mirror:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- stats ----------------------------------------------------------------------------------

    def reset_stats(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_served = 0

    def count(self, pattern: str = "") -> int:
        """Requests whose path matches the regular expression `pattern` (all when empty)."""
        with self._lock:
            return sum(1 for r in self.requests if re.search(pattern, r.path))

    def blob_requests(self) -> list[Record]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(("/storage/", "/cdn/"))]

    # -- serving --------------------------------------------------------------------------------

    def _handle(self, h: _Handler, *, head: bool) -> None:
        path = unquote(urlsplit(h.path).path)
        with self._lock:
            self.requests.append(Record(h.command, path, h.headers.get("Range")))
        gh = f"/{self.slug}"
        if path == f"{gh}/releases/latest":
            target = f"{gh}/releases/tag/{self.latest}" if self.latest else f"{gh}/releases"
            return self._redirect(h, self.url + target)
        if match := re.fullmatch(rf"{re.escape(gh)}/releases/download/([^/]+)/([^/]+)", path):
            tag, name = match.groups()
            blob = self.releases.get(tag, {}).get(name)
            if blob is None or (tag, name) in self.missing_assets:
                return self._send(h, 404, b"Not Found", head=head)
            return self._redirect(h, f"{self.url}/storage/{self._blob_id(blob)}?token=abc")
        if match := re.fullmatch(rf"/api/repos/{re.escape(self.slug)}/releases/tags/([^/]+)", path):
            tag = match.group(1)
            if tag not in self.releases:
                return self._json(h, 404, {"message": "Not Found"}, head=head)
            return self._json(h, 200, self._release_json(tag), head=head)
        if path == f"/api/repos/{self.slug}/releases":
            order = sorted(self.releases, key=lambda t: int(t[1:]), reverse=True)
            return self._json(h, 200, [self._release_json(t) for t in order], head=head)
        if match := re.fullmatch(r"/hf/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            key = (match.group(1), match.group(2), match.group(3))
            blob = self.hf.get(key)
            if blob is None:
                return self._send(h, 404, b"Entry not found", head=head, extra={"X-Error-Code": "EntryNotFound"})
            extra = {"ETag": f'"{blob.sha256}"'}
            if key not in self.hf_no_etag:
                extra |= {"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(blob.size)}
            return self._redirect(h, f"{self.url}/cdn/{self._blob_id(blob)}", extra=extra)
        if match := re.fullmatch(r"/(?:storage|cdn)/(\d+)", path):
            index = int(match.group(1))
            if index >= len(self._blobs):
                return self._send(h, 404, b"Not Found", head=head)
            return self._serve_blob(h, self._blobs[index], head=head)
        return self._send(h, 404, b"Not Found", head=head)

    def _release_json(self, tag: str) -> dict[str, Any]:
        assets = []
        for name, blob in self.releases[tag].items():
            digest = None if (tag, name) in self.hidden_digests else f"sha256:{blob.sha256}"
            assets.append(
                {
                    "name": name,
                    "size": blob.size,
                    "digest": digest,
                    "browser_download_url": f"{self.release_url}/releases/download/{tag}/{name}",
                }
            )
        return {"tag_name": tag, "name": tag, "assets": assets}

    def _redirect(self, h: _Handler, location: str, *, extra: dict[str, str] | None = None) -> None:
        self._send(h, 302, b"", head=False, extra={"Location": location, **(extra or {})})

    def _json(self, h: _Handler, status: int, body: Any, *, head: bool) -> None:
        self._send(h, status, json.dumps(body).encode(), head=head, extra={"Content-Type": "application/json"})

    def _send(self, h: _Handler, status: int, body: bytes, *, head: bool, extra: dict[str, str] | None = None) -> None:
        h.send_response(status)
        for key, value in (extra or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head and body:
            h.wfile.write(body)

    def _serve_blob(self, h: _Handler, blob: Blob, *, head: bool) -> None:
        faults = self.faults
        with self._lock:
            status = faults.statuses.pop(0) if faults.statuses else None
        if status is not None:
            return self._send(h, status, b"", head=head, extra={"Retry-After": "0"} if status == 429 else {})
        start, end, code = 0, blob.size, 200
        wanted = h.headers.get("Range")
        if wanted and not faults.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
            if match:
                start = int(match.group(1))
                if match.group(2):
                    end = min(blob.size, int(match.group(2)) + 1)
                if start >= blob.size:
                    return self._send(h, 416, b"", head=head, extra={"Content-Range": f"bytes */{blob.size}"})
                code = 206
        h.send_response(code)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(end - start))
        if code == 206:
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{blob.size}")
        h.end_headers()
        if head:
            return
        with self._lock:
            cut = faults.cut_after if faults.cut_after is not None and faults.cut_times > 0 else None
            if cut is not None:
                faults.cut_times -= 1
        if cut is None and faults.flip_at is None and faults.chunk_delay == 0 and blob.path is not None:
            # The fast path: zero-copy, so the benchmark measures the client rather than this server.
            with blob.path.open("rb") as f:
                sent = h.connection.sendfile(f, start, end - start)
            self._count(sent)
            return
        sent = 0
        position = start
        for chunk in blob.chunks(start, end):
            if faults.flip_at is not None and position <= faults.flip_at < position + len(chunk):
                i = faults.flip_at - position
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1 :]
            if cut is not None and sent + len(chunk) >= cut:
                h.wfile.write(chunk[: cut - sent])
                self._count(cut - sent)
                # Hang up mid-body: the client has a Content-Length it will never reach.
                h.close_connection = True
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)
                return
            h.wfile.write(chunk)
            sent += len(chunk)
            position += len(chunk)
            self._count(len(chunk))
            if faults.chunk_delay:
                threading.Event().wait(faults.chunk_delay)

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_served += n


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes (fast: hash-chained blocks)."""
    out = bytearray()
    block = seed.to_bytes(8, "little")
    while len(out) < size:
        block = hashlib.sha512(block).digest()
        out += block * 64
    return bytes(out[:size])


__all__ = ["Blob", "Faults", "Mirror", "Record", "random_bytes", "sha256_bytes"]
