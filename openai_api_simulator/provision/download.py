"""The one downloader: every byte this package fetches goes through `download`.

What it guarantees, in the order a download meets them:

1. **One download per file.** A file lock next to the destination makes concurrent runs (threads or
   processes) wait for the first; the waiter then finds the finished file and returns at once.
2. **Cheap reuse.** A finished file has a ``.meta.json`` sidecar recording its size and SHA256; a file
   whose size matches and whose recorded hash equals the wanted one is returned without any request.
3. **Known integrity.** The expected SHA256 is the pinned one if the caller has it, else the hash the
   server declares in ``X-Linked-Etag`` on the first (pre-redirect) response, as Hugging Face does for
   LFS files. Failing both, a strong ``ETag`` of 40 hex digits on that response is taken as the git blob
   SHA-1 of the content, which is what Hugging Face sends for small files kept in git rather than LFS.
   With none of these, the download is refused unless the caller explicitly allowed it.
4. **Room first.** Free disk space is checked against the remaining size before any byte is written.
5. **Resume, don't append blindly.** Bytes land in ``<dest>.part``. A later attempt asks for the rest
   with ``Range``; a ``200`` answer (the server ignored the range) truncates the part file and starts
   clean instead of appending a second copy - the corruption peers' users complain about.
6. **Retries.** Connection errors, timeouts, 429 and 5xx are retried with exponential backoff; the
   counter resets whenever bytes arrived, so a flaky link still finishes a large file.
7. **Hash in the same pass** as the write (the git blob SHA-1 is computed once the file is complete;
   see `_Transfer.publish`). On mismatch the part file is deleted and the error names the URL, the
   expected and the actual hash.
8. **Atomic publish.** The part file is fsynced and renamed onto the destination, so the cache never
   holds a half-written file under its final name. A caller's `check` (models: "is this a GGUF?") runs on
   the verified part file before that rename; if it fails, only the part file is deleted. A failed
   download removes nothing but its own ``.part`` file: whatever was at the destination stays as it was.

The cache files around a download (``.part``, ``.meta.json``, ``.lock``) are described in `files`;
progress goes to the caller's `ProgressReporter` (see `progress`).
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Final

import httpx

from .errors import ChecksumMismatch, DownloadError, GitBlobMismatch, UnverifiedDownload
from .files import (
    DownloadResult,
    cached_file,
    check_disk_space,
    file_lock,
    git_blob_etag,
    lock_path,
    meta_path,
    normalize_sha256,
    part_path,
    write_json_atomic,
)
from .progress import NullProgress, ProgressReporter

# Read size when hashing what a previous run left in the part file.
CHUNK_SIZE: Final = 1 << 20
# Received bytes are written and hashed in batches of this size: one write and one hash call per MiB
# instead of one per 64 KB socket read (measured: faster than a plain write-per-read copy).
WRITE_SIZE: Final = 1 << 20
# Statuses worth retrying: rate limiting and the server-side failures that are usually temporary.
RETRYABLE_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
# GitHub release downloads take two hops and Hugging Face one; ten leaves room for mirrors.
MAX_REDIRECTS: Final = 10
# Connect fast or fail (then retry); reads may legitimately stall on a slow mirror for a while.
TIMEOUT: Final = httpx.Timeout(60.0, connect=15.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry transient failures."""

    attempts: int = 5  # attempts without progress before giving up
    base_delay: float = 0.5  # first backoff; doubles each time
    max_delay: float = 8.0  # cap for the backoff and for a server's Retry-After
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        return min(self.max_delay, self.base_delay * (2.0 ** (attempt - 1)))


def make_client() -> httpx.Client:
    """The HTTP client used when the caller passes none. Redirects are followed by hand (see `_open`)."""
    from .. import __version__

    return httpx.Client(
        timeout=TIMEOUT,
        follow_redirects=False,
        headers={"User-Agent": f"openai-api-simulator/{__version__}"},
    )


class _Retry(Exception):
    """A transient failure; the attempt may be repeated."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _Restart(Exception):
    """The part file cannot be resumed; start from byte zero at once."""


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _open(client: httpx.Client, url: str, headers: Mapping[str, str]) -> tuple[httpx.Response, httpx.Headers]:
    """GET `url` following redirects by hand; return the final streaming response and the first headers.

    By hand because the integrity headers (``X-Linked-Etag``, ``X-Linked-Size``) are on the first,
    pre-redirect response, and because credentials must not follow a redirect to another host.
    """
    current = httpx.URL(url)
    hdrs = dict(headers)
    first: httpx.Headers | None = None
    for _ in range(MAX_REDIRECTS + 1):
        response = client.send(client.build_request("GET", current, headers=hdrs), stream=True)
        if first is None:
            first = response.headers
        if not (response.is_redirect and "location" in response.headers):
            return response, first
        target = current.join(response.headers["location"])
        response.close()
        if _origin(target) != _origin(current):
            hdrs = {k: v for k, v in hdrs.items() if k.lower() != "authorization"}
        current = target
    raise DownloadError(f"Too many redirects (more than {MAX_REDIRECTS}) starting at {url}.", url=url)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks for (None when absent or an HTTP date)."""
    value = response.headers.get("retry-after", "")
    try:
        return float(value)
    except ValueError:
        return None


def _content_range(response: httpx.Response) -> tuple[int | None, int | None]:
    """(start, total) from ``Content-Range: bytes start-end/total`` (or ``bytes */total``)."""
    match = re.match(r"bytes\s+(\d+|\*)(?:-\d+)?/(\d+|\*)", response.headers.get("content-range", ""))
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) != "*" else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    try:
        return int(headers.get(name, ""))
    except ValueError:
        return None


class _Sink:
    """Writes, hashes and syncs received batches on a worker thread.

    File writes, ``hashlib`` updates of large buffers and ``fdatasync`` release the GIL, so they run on
    the second core while the main thread parses the HTTP stream, instead of adding to its time. Syncing
    every `SYNC_EVERY` bytes lets the disk catch up during the transfer rather than all at the end.
    """

    SYNC_EVERY: Final = 32 * 1024 * 1024
    # Batches in flight: bounds memory (QUEUE_DEPTH x WRITE_SIZE) when the disk is slower than the
    # network, and lets the receiver run on while a periodic sync waits for the disk.
    QUEUE_DEPTH: Final = 16

    def __init__(self, file: IO[bytes], hasher: Any) -> None:
        self._file = file
        self._hasher = hasher
        self._queue: queue.Queue[bytearray | None] = queue.Queue(maxsize=self.QUEUE_DEPTH)
        self._error: BaseException | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="download-sink", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
        unsynced = 0
        batch: bytearray | None = None
        try:
            while (batch := self._queue.get()) is not None:
                self._file.write(batch)
                self._hasher.update(batch)
                self.written += len(batch)
                unsynced += len(batch)
                if unsynced >= self.SYNC_EVERY:
                    self._file.flush()
                    sync(self._file.fileno())
                    unsynced = 0
            self._file.flush()
            os.fsync(self._file.fileno())
        except BaseException as exc:  # raised to the producer by close()
            self._error = exc
            # Until the end marker arrives, keep draining so that put() never blocks forever.
            while batch is not None:
                batch = self._queue.get()

    def put(self, batch: bytearray) -> bool:
        """Queue `batch` (the sink owns it from now on). False once the worker failed; close() raises."""
        if self._error is not None:
            return False
        self._queue.put(batch)
        return True

    def close(self) -> int:
        """Wait until every batch is written, hashed and synced; return the bytes written."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.written


class _Transfer:
    """The state of one file's download across attempts: the part file, the hash, the offset."""

    def __init__(
        self,
        *,
        url: str,
        dest: Path,
        sha256: str | None,
        size: int | None,
        allow_unverified: bool,
        headers: Mapping[str, str],
        reporter: ProgressReporter,
        label: str,
        git_etag: bool = False,
        check: Callable[[Path], None] | None = None,
    ) -> None:
        self.url = url
        self.check = check
        self.dest = dest
        self.part = part_path(dest)
        self.pinned = normalize_sha256(sha256)
        if sha256 is not None and self.pinned is None:
            raise ValueError(f"not a SHA256 hex digest: {sha256!r}")
        self.size = size
        self.allow_unverified = allow_unverified
        self.headers = dict(headers)
        self.reporter = reporter
        self.label = label
        self.git_etag = git_etag
        self.expected: str | None = self.pinned
        self.git_sha1: str | None = None  # the git blob SHA-1 to check instead, when that is all there is
        self.verified_by = "pinned" if self.pinned else "unverified"
        self.hasher = hashlib.sha256()
        self.offset = 0
        self.resumed_from = 0
        self.fetched = 0
        self._load_part()

    def _load_part(self) -> None:
        """Hash what a previous run left so the new bytes extend the same digest."""
        if not self.part.exists():
            return
        with self.part.open("rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                self.hasher.update(chunk)
                self.offset += len(chunk)
        self.resumed_from = self.offset

    def reset(self) -> None:
        self.part.unlink(missing_ok=True)
        self.hasher = hashlib.sha256()
        self.offset = 0

    def _declares(self, first: httpx.Headers) -> bool:
        """Whether this response gives us a hash to check (or the caller needs none)."""
        return bool(
            self.pinned
            or normalize_sha256(first.get("x-linked-etag"))
            or self._git_sha1(first)
            or self.allow_unverified
        )

    def _git_sha1(self, first: httpx.Headers) -> str | None:
        # Only the Hub is known to mean its 40-hex ETags as git blob hashes; another server's may be a plain
        # SHA-1 of the bytes (or anything), and trusting it would fail good downloads.
        return git_blob_etag(first.get("etag")) if self.git_etag else None

    def _expect_from(self, first: httpx.Headers) -> None:
        """Take the expected hash from the first response: pinned > X-Linked-Etag > git blob ETag."""
        if self.pinned:
            return
        declared = normalize_sha256(first.get("x-linked-etag"))
        git_sha1 = self._git_sha1(first)
        if declared:
            self.expected, self.git_sha1, self.verified_by = declared, None, "x-linked-etag"
        elif git_sha1:
            self.expected, self.git_sha1, self.verified_by = None, git_sha1, "git-blob-sha1"
        elif not self.allow_unverified:
            raise UnverifiedDownload(
                f"Refusing to download {self.url}: no SHA256 is pinned for it and the server declares "
                "no hash (no X-Linked-Etag header, no git blob SHA-1 as a strong ETag). Pin one (for a "
                "URL, append #sha256=<hex>) or pass --allow-unverified to accept the file as it comes.",
                url=self.url,
            )

    def attempt(self, client: httpx.Client) -> bool:
        """One request. True when the file is complete; raises `_Retry`/`_Restart` or a final error."""
        headers = {"Accept-Encoding": "identity", **self.headers}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        try:
            response, first = _open(client, self.url, headers)
        except httpx.TransportError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc
        try:
            status = response.status_code
            if status in RETRYABLE_STATUSES:
                raise _Retry(f"HTTP {status}", retry_after(response))
            if status == 416 and self.offset:
                _, total = _content_range(response)
                if total is not None and total == self.offset:
                    if not self._declares(first):
                        # Servers need not repeat the ETag on a 416; a full answer will carry it. Only
                        # files without an X-Linked-Etag (small git files) get here, so starting over is cheap.
                        raise _Restart("the answer to the resume request declares no hash")
                    self._expect_from(first)
                    return True  # the part file already holds every byte
                raise _Restart(f"server cannot resume at byte {self.offset}")
            if status >= 400:
                raise DownloadError(
                    f"{self.url} answered HTTP {status} {response.reason_phrase} (final URL "
                    f"{response.url}). Check the name and the mirror, or pass another version.",
                    url=self.url,
                )
            self._expect_from(first)
            total = self._total(response, first)
            remaining = total - self.offset if total is not None else None
            if remaining is not None:
                check_disk_space(self.part.parent, remaining, what=f"{self.label} ({self.url})")
            self.reporter.start(self.label, total, self.offset)
            try:
                self._receive(response)
            finally:
                self.reporter.finish()
            if total is not None and self.offset < total:
                raise _Retry(f"connection closed after {self.offset} of {total} bytes")
            if total is not None and self.offset > total:
                raise _Restart(f"received {self.offset} bytes, more than the {total} announced")
            return True
        finally:
            response.close()

    def _total(self, response: httpx.Response, first: httpx.Headers) -> int | None:
        """Total file size for this response, restarting cleanly when a range request was ignored."""
        if response.status_code == 206:
            start, total = _content_range(response)
            if start != self.offset:
                raise _Restart(f"server resumed at byte {start}, not {self.offset}")
        else:
            if self.offset:
                # 200 to a Range request: the body is the whole file. Appending it would corrupt the
                # part file, so drop what we had and take this response from byte zero.
                self.reporter.note(f"{self.url}: the server ignored the resume request; starting over")
                self.reset()
            total = _int_header(response.headers, "content-length")
        if total is None:
            total = _int_header(first, "x-linked-size") or self.size
        if self.size is not None and total is not None and total != self.size:
            raise DownloadError(
                f"{self.url} is {total} bytes but {self.size} were expected. The mirror serves a "
                "different file; check its contents or the pinned version.",
                url=self.url,
            )
        return total

    def _receive(self, response: httpx.Response) -> None:
        mode = "ab" if self.offset else "wb"
        buffer = bytearray()
        failure: httpx.TransportError | None = None
        with self.part.open(mode) as f:
            sink = _Sink(f, self.hasher)
            try:
                # Socket reads arrive in pieces of up to 64 KB; they are handed on in WRITE_SIZE batches.
                for chunk in response.iter_raw():
                    buffer += chunk
                    if len(buffer) >= WRITE_SIZE:
                        if not sink.put(buffer):
                            break  # the disk failed; close() below says how
                        self.reporter.advance(len(buffer))
                        buffer = bytearray()
            except httpx.TransportError as exc:
                failure = exc
            finally:
                # Whatever arrived before a failure is kept, so a resume asks for exactly the missing
                # bytes; close() returns once everything is written, hashed and fsynced.
                if buffer and sink.put(buffer):
                    self.reporter.advance(len(buffer))
                try:
                    written = sink.close()
                except OSError as exc:
                    raise DownloadError(
                        f"Cannot write {self.part} ({exc}). Check free space and permissions there, "
                        "then run the command again to resume.",
                        url=self.url,
                    ) from exc
                self.offset += written
                self.fetched += written
        if failure is not None:
            raise _Retry(f"{type(failure).__name__} after {self.offset} bytes: {failure}") from failure

    def publish(self) -> DownloadResult:
        actual = self.hasher.hexdigest()
        if self.expected is not None and actual != self.expected:
            self.part.unlink(missing_ok=True)
            raise ChecksumMismatch(url=self.url, expected=self.expected, actual=actual)
        if self.git_sha1 is not None:
            # Read the finished part file once more rather than feed a second hasher through the sink
            # and the resume logic: files kept in git are small (large ones live in LFS and carry an
            # X-Linked-Etag instead), so the extra read costs next to nothing.
            actual_git = _git_blob_sha1(self.part)
            if actual_git != self.git_sha1:
                self.part.unlink(missing_ok=True)
                raise GitBlobMismatch(url=self.url, expected=self.git_sha1, actual=actual_git)
        if self.check is not None:
            try:
                self.check(self.part)
            except Exception:
                self.part.unlink(missing_ok=True)  # ours; the destination has not been touched
                raise
        size = self.part.stat().st_size
        meta: dict[str, Any] = {
            "url": self.url,
            "sha256": actual,  # always the real SHA256, so a later pinned lookup can reuse the file
            "size": size,
            "verified_by": self.verified_by,
            "downloaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if self.git_sha1 is not None:
            meta["git_blob_sha1"] = self.git_sha1
        # Data first, then the sidecar: a crash in between leaves a file without a sidecar, which the
        # next run does not trust and downloads again - never a sidecar vouching for a missing file.
        meta_path(self.dest).unlink(missing_ok=True)
        os.replace(self.part, self.dest)
        write_json_atomic(meta_path(self.dest), meta)
        return DownloadResult(
            path=self.dest,
            url=self.url,
            size=size,
            sha256=actual,
            verified_by=self.verified_by,
            fetched=self.fetched,
            resumed_from=self.resumed_from,
        )


def _git_blob_sha1(path: Path) -> str:
    """The hash git gives `path`'s content as a blob: SHA-1 over ``blob <size>\\0`` and the bytes."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    allow_unverified: bool = False,
    client: httpx.Client | None = None,
    headers: Mapping[str, str] | None = None,
    progress: ProgressReporter | None = None,
    label: str | None = None,
    retry: RetryPolicy | None = None,
    git_etag: bool = False,
    check: Callable[[Path], None] | None = None,
) -> DownloadResult:
    """Download `url` to `dest`, verified, resumable, once. See the module docstring for the rules.

    `sha256`/`size` pin what the file must be. `allow_unverified` accepts a file that has neither a
    pinned nor a server-declared hash (X-Linked-Etag, or - with `git_etag`, for Hugging Face files only - a
    git blob SHA-1 ETag). `headers` are sent to the first host only. `check` is called with the verified
    part file before it replaces `dest`; whatever it raises propagates after the part file is deleted.
    """
    reporter = progress or NullProgress()
    retry = retry or RetryPolicy()
    label = label or dest.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(dest), reporter, what=label):
        done = cached_file(dest, sha256=sha256, size=size)
        if done is not None:
            return done
        transfer = _Transfer(
            url=url,
            dest=dest,
            sha256=sha256,
            size=size,
            allow_unverified=allow_unverified,
            headers=headers or {},
            reporter=reporter,
            label=label,
            git_etag=git_etag,
            check=check,
        )
        own_client = client is None
        http = client or make_client()
        try:
            return _run(transfer, http, retry)
        finally:
            if own_client:
                http.close()


def _run(transfer: _Transfer, client: httpx.Client, retry: RetryPolicy) -> DownloadResult:
    failures = 0
    restarted_stale = False
    while True:
        before = transfer.offset
        try:
            transfer.attempt(client)
        except _Restart as exc:
            transfer.reporter.note(f"{transfer.url}: {exc}; starting over")
            transfer.reset()
            continue
        except _Retry as exc:
            # Progress resets the count: a flaky link that delivers something each time still finishes.
            failures = 1 if transfer.offset > before else failures + 1
            if failures >= retry.attempts:
                kept = (
                    f" The {transfer.offset} bytes received are kept in {transfer.part}; " if (transfer.offset) else " "
                )
                raise DownloadError(
                    f"Download of {transfer.url} failed after {failures} attempts ({exc}).{kept}"
                    "Run the command again to resume, or check the network and the mirror.",
                    url=transfer.url,
                ) from exc
            delay = retry.delay(failures, exc.retry_after)
            transfer.reporter.note(f"{transfer.url}: {exc}; retrying in {delay:.1f} s")
            retry.sleep(delay)
            continue
        try:
            return transfer.publish()
        except ChecksumMismatch:
            # A part file left by an earlier run may belong to an older version of the file; one clean
            # download settles whether the mismatch is ours or the server's.
            if transfer.resumed_from and not restarted_stale:
                restarted_stale = True
                transfer.reporter.note(f"{transfer.url}: resumed file did not verify; downloading afresh")
                transfer.reset()
                transfer.resumed_from = 0
                continue
            raise
