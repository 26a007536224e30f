"""The cache files beside a download: SHA256 spellings, the sidecar a cached file is trusted by, atomic JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from openai_api_simulator.provision import files
from openai_api_simulator.provision.errors import InsufficientDiskSpace
from tests.support.mirror import sha256_bytes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f'"{"A" * 64}"', "a" * 64),
        (f"sha256:{'b' * 64}", "b" * 64),
        (f'W/"{"c" * 64}"', "c" * 64),
        ('"0123abcd"', None),  # a git blob id, not a SHA256
        (None, None),
    ],
)
def test_normalize_sha256(value: str | None, expected: str | None) -> None:
    assert files.normalize_sha256(value) == expected


def _cached(tmp_path: Path, data: bytes) -> Path:
    """A file as the downloader leaves it: the bytes, then the sidecar recording their size and hash."""
    dest = tmp_path / "f.bin"
    dest.write_bytes(data)
    meta = {"url": "https://x.test/f.bin", "sha256": sha256_bytes(data), "size": len(data), "verified_by": "pinned"}
    files.write_json_atomic(files.meta_path(dest), meta)
    return dest


def test_cached_file_is_trusted_by_its_sidecar_and_size_alone(tmp_path: Path) -> None:
    data = b"GGUF payload"
    dest = _cached(tmp_path, data)
    assert files.cached_file(dest, sha256=sha256_bytes(data).upper(), size=len(data)) == files.DownloadResult(
        path=dest,
        url="https://x.test/f.bin",
        size=len(data),
        sha256=sha256_bytes(data),
        verified_by="pinned",
        cached=True,
    )
    assert files.cached_file(dest, sha256="0" * 64) is None  # another file is wanted
    assert files.cached_file(dest, size=len(data) + 1) is None
    dest.write_bytes(data + b"!")  # grown since it was verified
    assert files.cached_file(dest) is None
    dest.write_bytes(data)
    files.meta_path(dest).unlink()  # bytes without a sidecar were never verified
    assert files.cached_file(dest) is None


def test_write_json_atomic_replaces_the_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    target.write_text("old, and not JSON")
    files.write_json_atomic(target, {"b": 1, "a": [2]})
    assert target.read_text() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_disk_check_keeps_a_margin_and_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert files.disk_free(tmp_path / "not" / "created" / "yet") > 0  # measured on the nearest existing parent
    monkeypatch.setattr(files, "disk_free", lambda path: files.DISK_MARGIN + 1000)
    files.check_disk_space(tmp_path, 1000, what="m.gguf")  # fits exactly, margin included
    with pytest.raises(InsufficientDiskSpace, match=r"for m\.gguf: need 16\.8 MB in .*, 16\.8 MB free.*OAS_CACHE_DIR"):
        files.check_disk_space(tmp_path, 1001, what="m.gguf")
