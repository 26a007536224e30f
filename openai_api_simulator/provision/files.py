"""The download cache on disk: where a file's companions live, when a cached file can be trusted.

Every downloaded file ``<dest>`` has up to three companions beside it:

* ``<dest>.part`` - the bytes received so far; a later run resumes from its end;
* ``<dest>.meta.json`` - written only after the whole file was verified: URL, size, SHA256 and how the
  hash was established. A file without it is never trusted;
* ``<dest>.lock`` - the inter-process lock that makes concurrent runs fetch a file once.

Also here: the free-space check run before bytes are written or an archive is unpacked, reading the
hash forms servers send (`normalize_sha256`, `git_blob_etag`), and the atomic JSON write used for
sidecars, install manifests, the release cache and the Hub listings.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from filelock import FileLock, Timeout

from .errors import DownloadError, InsufficientDiskSpace
from .progress import ProgressReporter, megabytes

# Keep this much free beyond the file itself, so a download never fills the disk to the last byte.
DISK_MARGIN: Final = 16 * 1024 * 1024
# How long a second process waits for the first one's download of the same file.
LOCK_WAIT_SECONDS: Final = 4 * 3600.0

_SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")
_SHA1_RE: Final = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class DownloadResult:
    """A verified file in the cache."""

    path: Path
    url: str
    size: int
    sha256: str
    verified_by: str  # "pinned" | "x-linked-etag" | "git-blob-sha1" | "unverified"
    cached: bool = False  # True when no byte was fetched in this call
    fetched: int = 0  # bytes received over the network in this call
    resumed_from: int = 0  # bytes already on disk when the transfer started


def disk_free(path: Path) -> int:
    """Free bytes on the filesystem that holds `path` (or its nearest existing parent).

    A module-level function so tests can monkeypatch it to simulate a full disk.
    """
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_disk_space(path: Path, needed: int, *, what: str) -> None:
    """Raise `InsufficientDiskSpace` unless `needed` bytes (plus a margin) fit under `path`."""
    free = disk_free(path)
    if needed + DISK_MARGIN > free:
        raise InsufficientDiskSpace(
            f"Not enough disk space for {what}: need {megabytes(needed + DISK_MARGIN)} in {path}, "
            f"{megabytes(free)} free. Free some space or point OAS_CACHE_DIR at a larger disk."
        )


def normalize_sha256(value: str | None) -> str | None:
    """Lower-case 64-hex SHA256 from forms like ``"<hex>"``, ``sha256:<hex>``, ``W/"<hex>"``."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"').strip()
    if text.lower().startswith("sha256:"):
        text = text[7:]
    text = text.lower()
    return text if _SHA256_RE.match(text) else None


def git_blob_etag(value: str | None) -> str | None:
    """The git blob SHA-1 in an ``ETag`` such as ``"<40 hex>"`` (what Hugging Face sends for non-LFS files).

    Only a strong ETag counts: a weak one (``W/"..."``) promises equivalent content, not these bytes, so
    it is no content hash.
    """
    if not value:
        return None
    text = value.strip()
    if text.startswith("W/"):
        return None
    text = text.strip('"').lower()
    return text if _SHA1_RE.match(text) else None


def meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".meta.json")


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def lock_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".lock")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`; None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_meta(dest: Path) -> dict[str, Any] | None:
    return read_json(meta_path(dest))


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON so that readers see either the old file or the whole new one."""
    # Unique per writer: two threads (or processes) may write the same file at the same moment.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with tmp.open("w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cached_file(dest: Path, *, sha256: str | None = None, size: int | None = None) -> DownloadResult | None:
    """The cached download at `dest` if it is complete and matches - checked by size and recorded hash.

    Re-hashing every cached gigabyte on each start would make a warm start slow; the sidecar is written
    only after the full-file hash was verified, and the size check catches truncation.
    """
    meta = read_meta(dest)
    if meta is None:
        return None
    try:
        actual_size = dest.stat().st_size
    except OSError:
        return None
    recorded = normalize_sha256(str(meta.get("sha256", "")))
    if recorded is None or meta.get("size") != actual_size:
        return None
    if sha256 is not None and recorded != normalize_sha256(sha256):
        return None
    if size is not None and size != actual_size:
        return None
    return DownloadResult(
        path=dest,
        url=str(meta.get("url", "")),
        size=actual_size,
        sha256=recorded,
        verified_by=str(meta.get("verified_by", "pinned")),
        cached=True,
    )


@contextmanager
def file_lock(path: Path, reporter: ProgressReporter, *, what: str) -> Iterator[None]:
    """Hold an exclusive inter-process lock on `path`, saying so if we have to wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        reporter.note(f"Waiting for another run that is fetching {what} (lock: {path})")
        try:
            lock.acquire(timeout=LOCK_WAIT_SECONDS)
        except Timeout:
            raise DownloadError(
                f"Gave up waiting for the lock {path} held by another run. If no other "
                "openai-api-simulator is running, delete the lock file and try again.",
                url=what,
            ) from None
    try:
        yield
    finally:
        lock.release()
