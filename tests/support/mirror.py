"""A loopback HTTP server that speaks like GitHub releases and Hugging Face, with fault knobs.

GitHub (under ``{url}/{owner}/{repo}``):
  ``/releases/latest``               302 -> ``/releases/tag/{latest}`` (or, with ``latest=None``, to
                                     ``/releases``: a redirect without a tag)
  ``/releases/download/{tag}/{a}``   302 -> ``/storage/{id}`` (like objects.githubusercontent.com), or 404
  ``/storage/{id}``                  the bytes, with Range support
  ``/api/repos/{o}/{r}/releases/tags/{tag}`` and ``/api/repos/{o}/{r}/releases``: the REST API's JSON
                                     with ``assets[].digest = "sha256:<hex>"``

Hugging Face (under ``{url}/hf``; a repository's files are added with `Mirror.add_hf`):
  ``/{owner}/{repo}/resolve/{rev}/{file}``  an LFS file (``lfs=True``, the default): 302 -> ``/cdn/{id}``
                                     with ``X-Linked-Etag: "<sha256>"`` and ``X-Linked-Size`` on the
                                     redirect, as the real Hub does. A git file (``lfs=False``): the bytes
                                     at once (200/206, Range supported) with ``ETag: "<git blob sha1>"``.
                                     ``{rev}`` may also be the commit that revision resolves to.
  ``/cdn/{id}``                      the bytes, with Range support
  ``/api/models/{owner}/{repo}/revision/{rev}``  ``{"sha": <commit>, "siblings": [{"rfilename": ...}]}``
                                     listing every file added under that revision (or its commit); 404
                                     for anything else. The commit is fixed per repository and revision
                                     (`Mirror.hf_commit`); tests may replace it in ``hf_commits``.
  A repository passed to `Mirror.gate` answers 401 to both unless ``Authorization: Bearer <token>``.

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


@dataclass
class HfFile:
    """One file of a Hugging Face repository: its bytes and how the Hub declares them."""

    blob: Blob
    lfs: bool = True
    etag: bool | str = True  # True: the Hub's headers; False: no hash declared; str: this ETag instead


def git_blob_sha1(data: bytes) -> str:
    """What git (and so the Hub's ETag for a non-LFS file) calls `data`: SHA-1 of ``blob <size>\\0`` + data."""
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data, usedforsecurity=False).hexdigest()


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
        self.hf: dict[tuple[str, str, str], HfFile] = {}  # (repo, revision, file)
        self.hf_commits: dict[tuple[str, str], str] = {}  # (repo, revision) -> the commit it resolves to
        self.hf_gated: dict[str, str] = {}  # repo -> the token that opens it
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

    def add_hf(
        self,
        repo: str,
        file: str,
        source: bytes | Path,
        *,
        revision: str = "main",
        etag: bool | str = True,
        lfs: bool = True,
    ) -> Blob:
        """Serve `source` as `file` of `repo` at `revision` (and at that revision's commit).

        `lfs` chooses how the Hub answers (see the module docstring). `etag` False declares no hash; a
        string is sent verbatim as the ``ETag`` in place of the declared hashes (e.g. a weak ``W/"..."``).
        """
        blob = Blob.of(source)
        if not lfs and blob.data is None:
            raise ValueError("git files are small: pass their bytes, not a path")
        self.hf[(repo, revision, file)] = HfFile(blob, lfs=lfs, etag=etag)
        self._blob_id(blob)
        self.hf_commit(repo, revision)
        return blob

    def hf_commit(self, repo: str, revision: str) -> str:
        """The commit `revision` of `repo` resolves to: fixed per pair unless a test replaced it.

        A revision that is a commit already resolves to itself, as on the Hub.
        """
        if re.fullmatch(r"[0-9a-f]{40}", revision):
            commit = revision
        else:
            commit = hashlib.sha1(f"{repo}@{revision}".encode(), usedforsecurity=False).hexdigest()
        return self.hf_commits.setdefault((repo, revision), commit)

    def gate(self, repo: str, token: str) -> None:
        """Make `repo` answer 401 (as the Hub does for gated and private repositories) without `token`."""
        self.hf_gated[repo] = token

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
        """The requests answered with a file's bytes: storage/CDN ones, and git files served in place."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(("/storage/", "/cdn/")) or self._is_git_file(r.path)]

    def _is_git_file(self, path: str) -> bool:
        match = re.fullmatch(r"/hf/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        found = self._hf_file(*match.groups()) if match else None
        return found is not None and not found.lfs

    def _revision(self, repo: str, rev: str) -> str:
        """The revision name behind `rev`, which may be a commit a revision resolves to."""
        for (known_repo, revision), commit in self.hf_commits.items():
            if known_repo == repo and commit == rev:
                return revision
        return rev

    def _hf_file(self, repo: str, rev: str, file: str) -> HfFile | None:
        return self.hf.get((repo, self._revision(repo, rev), file))

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
        if match := re.fullmatch(r"/hf/api/models/([^/]+/[^/]+)/revision/(.+)", path):
            repo, rev = match.groups()
            if self._refused(h, repo):
                return self._json(h, 401, {"error": f"Access to model {repo} is restricted."}, head=head)
            revision = self._revision(repo, rev)
            files = [file for (r, v, file) in self.hf if (r, v) == (repo, revision)]
            if not files:
                return self._json(h, 404, {"error": f"Revision Not Found for url: {path}"}, head=head)
            listing = {"id": repo, "sha": self.hf_commit(repo, revision), "siblings": [{"rfilename": f} for f in files]}
            return self._json(h, 200, listing, head=head)
        if match := re.fullmatch(r"/hf/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            if self._refused(h, match.group(1)):
                return self._send(h, 401, b"Unauthorized", head=head, extra={"X-Error-Code": "GatedRepo"})
            found = self._hf_file(*match.groups())
            if found is None:
                return self._send(h, 404, b"Entry not found", head=head, extra={"X-Error-Code": "EntryNotFound"})
            blob = found.blob
            if not found.lfs:
                etag = found.etag if isinstance(found.etag, str) else f'"{git_blob_sha1(blob.data or b"")}"'
                return self._serve_blob(h, blob, head=head, extra={"ETag": etag} if found.etag else {})
            if isinstance(found.etag, str):
                extra = {"ETag": found.etag}
            else:
                extra = {"ETag": f'"{blob.sha256}"'}
                if found.etag:
                    extra |= {"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(blob.size)}
            return self._redirect(h, f"{self.url}/cdn/{self._blob_id(blob)}", extra=extra)
        if match := re.fullmatch(r"/(?:storage|cdn)/(\d+)", path):
            index = int(match.group(1))
            if index >= len(self._blobs):
                return self._send(h, 404, b"Not Found", head=head)
            return self._serve_blob(h, self._blobs[index], head=head)
        return self._send(h, 404, b"Not Found", head=head)

    def _refused(self, h: _Handler, repo: str) -> bool:
        token = self.hf_gated.get(repo)
        return token is not None and h.headers.get("Authorization") != f"Bearer {token}"

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

    def _serve_blob(self, h: _Handler, blob: Blob, *, head: bool, extra: dict[str, str] | None = None) -> None:
        """The bytes, honouring Range; `extra` headers go on 200/206 answers (not on errors or a 416)."""
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
        for key, value in (extra or {}).items():
            h.send_header(key, value)
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


__all__ = ["Blob", "Faults", "HfFile", "Mirror", "Record", "git_blob_sha1", "random_bytes", "sha256_bytes"]
