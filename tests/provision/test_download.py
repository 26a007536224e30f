"""The downloader against a real loopback server: verification, resume, retries, locking, disk checks."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from openai_api_simulator.provision import download as dl
from openai_api_simulator.provision import files
from openai_api_simulator.provision.errors import (
    ChecksumMismatch,
    DownloadError,
    GitBlobMismatch,
    InsufficientDiskSpace,
    UnverifiedDownload,
)
from openai_api_simulator.provision.progress import NullProgress, PlainProgress
from tests.support.mirror import Mirror, git_blob_sha1, random_bytes, sha256_bytes
from tests.support.provision import tree

SIZE = 6 * 1024 * 1024 + 123  # several chunks, not a multiple of the chunk size
DATA = random_bytes(SIZE, seed=7)
FAST = dl.RetryPolicy(attempts=4, base_delay=0.0)


def asset(mirror: Mirror, data: bytes = DATA, **kw: bool) -> str:
    mirror.add_asset("b100", "llama-b100-bin-ubuntu-x64.tar.gz", data, **kw)
    return f"{mirror.release_url}/releases/download/b100/llama-b100-bin-ubuntu-x64.tar.gz"


def hf_file(mirror: Mirror, data: bytes = DATA, *, etag: bool = True) -> str:
    mirror.add_hf("org/repo", "model.gguf", data, etag=etag)
    return f"{mirror.hf_endpoint}/org/repo/resolve/main/model.gguf"


def test_pinned_download_follows_release_redirect_and_publishes_atomically(mirror: Mirror, tmp_path: Path) -> None:
    url = asset(mirror)
    dest = tmp_path / "out.bin"
    result = dl.download(url, dest, sha256=sha256_bytes(DATA))
    assert dest.read_bytes() == DATA
    assert (result.size, result.sha256, result.verified_by, result.cached) == (
        SIZE,
        sha256_bytes(DATA),
        "pinned",
        False,
    )
    assert tree(tmp_path) == ["out.bin", "out.bin.lock", "out.bin.meta.json"]
    assert [r.path.split("/")[1] for r in mirror.requests] == ["ggml-org", "storage"]


def test_hash_declared_by_x_linked_etag_on_the_first_response_is_checked(mirror: Mirror, tmp_path: Path) -> None:
    result = dl.download(hf_file(mirror), tmp_path / "m.gguf")
    assert (result.verified_by, result.sha256) == ("x-linked-etag", sha256_bytes(DATA))


def test_download_without_any_hash_is_refused_unless_allowed(mirror: Mirror, tmp_path: Path) -> None:
    url = hf_file(mirror, etag=False)
    with pytest.raises(UnverifiedDownload, match=r"no SHA256 is pinned.*--allow-unverified"):
        dl.download(url, tmp_path / "m.gguf")
    assert tree(tmp_path) == ["m.gguf.lock"]
    result = dl.download(url, tmp_path / "m.gguf", allow_unverified=True)
    assert (result.verified_by, (tmp_path / "m.gguf").read_bytes() == DATA) == ("unverified", True)


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "x-linked-etag"])
def test_flipped_byte_is_a_mismatch_naming_url_and_hashes_and_leaves_nothing(
    mirror: Mirror, tmp_path: Path, pinned: bool
) -> None:
    url = hf_file(mirror)
    mirror.faults.flip_at = SIZE // 2
    corrupt = bytearray(DATA)
    corrupt[SIZE // 2] ^= 0xFF
    with pytest.raises(ChecksumMismatch) as info:
        dl.download(url, tmp_path / "m.gguf", sha256=sha256_bytes(DATA) if pinned else None)
    message = str(info.value)
    assert url in message
    assert sha256_bytes(DATA) in message
    assert sha256_bytes(bytes(corrupt)) in message
    assert tree(tmp_path) == ["m.gguf.lock"]  # no .part, no file, no sidecar


def test_connection_cut_mid_body_resumes_with_range_without_refetching(mirror: Mirror, tmp_path: Path) -> None:
    url = asset(mirror)
    cut = 2 * 1024 * 1024 + 5
    mirror.faults.cut_after = cut
    result = dl.download(url, tmp_path / "a.tgz", sha256=sha256_bytes(DATA), retry=FAST)
    assert (tmp_path / "a.tgz").read_bytes() == DATA
    blobs = mirror.blob_requests()
    assert [b.range for b in blobs] == [None, f"bytes={cut}-"]
    assert mirror.bytes_served == SIZE  # every byte crossed the wire exactly once
    assert result.fetched == SIZE


def test_interrupted_run_leaves_a_part_file_that_the_next_run_resumes(mirror: Mirror, tmp_path: Path) -> None:
    url = hf_file(mirror)
    cut = 3 * 1024 * 1024
    mirror.faults.cut_after = cut
    with pytest.raises(DownloadError, match=r"Run the command again to resume") as info:
        dl.download(url, tmp_path / "m.gguf", retry=dl.RetryPolicy(attempts=1))
    assert str(tmp_path / "m.gguf.part") in str(info.value)
    assert (tmp_path / "m.gguf.part").stat().st_size == cut
    assert not (tmp_path / "m.gguf").exists()

    result = dl.download(url, tmp_path / "m.gguf")
    assert (tmp_path / "m.gguf").read_bytes() == DATA
    assert (result.resumed_from, result.fetched) == (cut, SIZE - cut)
    assert mirror.bytes_served == SIZE
    assert mirror.blob_requests()[-1].range == f"bytes={cut}-"


def test_server_that_ignores_range_gets_a_clean_restart_not_an_append(mirror: Mirror, tmp_path: Path) -> None:
    url = hf_file(mirror)
    (tmp_path / "m.gguf.part").write_bytes(DATA[:1000])
    mirror.faults.ignore_range = True
    notes: list[str] = []

    class Notes(NullProgress):
        def note(self, message: str) -> None:
            notes.append(message)

    result = dl.download(url, tmp_path / "m.gguf", progress=Notes())
    assert (tmp_path / "m.gguf").read_bytes() == DATA  # not 1000 + SIZE bytes
    assert result.size == SIZE
    assert mirror.blob_requests()[0].range == "bytes=1000-"
    assert any("ignored the resume request" in n for n in notes)


def test_complete_part_file_is_finished_from_a_416_answer(mirror: Mirror, tmp_path: Path) -> None:
    url = hf_file(mirror)
    (tmp_path / "m.gguf.part").write_bytes(DATA)
    result = dl.download(url, tmp_path / "m.gguf")
    assert (result.fetched, result.sha256) == (0, sha256_bytes(DATA))
    assert mirror.bytes_served == 0


def test_stale_part_file_from_another_version_is_replaced_once(mirror: Mirror, tmp_path: Path) -> None:
    url = hf_file(mirror)
    (tmp_path / "m.gguf.part").write_bytes(b"old version of the file")
    result = dl.download(url, tmp_path / "m.gguf")
    assert (tmp_path / "m.gguf").read_bytes() == DATA
    assert result.sha256 == sha256_bytes(DATA)


def test_transient_statuses_are_retried_with_backoff(mirror: Mirror, tmp_path: Path) -> None:
    url = asset(mirror)
    mirror.faults.statuses = [503, 429, 502]
    slept: list[float] = []
    policy = dl.RetryPolicy(attempts=5, base_delay=0.25, max_delay=1.0, sleep=slept.append)
    dl.download(url, tmp_path / "a.tgz", sha256=sha256_bytes(DATA), retry=policy)
    assert len(mirror.blob_requests()) == 4
    assert slept == [0.25, 0.0, 0.5 * 2]  # backoff, Retry-After: 0 (the 429), backoff doubled


def test_retries_run_out_with_a_message_naming_the_url(mirror: Mirror, tmp_path: Path) -> None:
    url = asset(mirror)
    mirror.faults.statuses = [500] * 10
    with pytest.raises(DownloadError, match=r"failed after 3 attempts \(HTTP 500\)") as info:
        dl.download(url, tmp_path / "a.tgz", sha256=sha256_bytes(DATA), retry=dl.RetryPolicy(3, 0.0))
    assert url in str(info.value)


def test_404_names_the_url(mirror: Mirror, tmp_path: Path) -> None:
    url = f"{mirror.release_url}/releases/download/b1/nothing.tar.gz"
    with pytest.raises(DownloadError, match=r"answered HTTP 404") as info:
        dl.download(url, tmp_path / "x", allow_unverified=True)
    assert url in str(info.value)


def test_too_little_disk_is_refused_before_writing(
    mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = asset(mirror)
    monkeypatch.setattr(files, "disk_free", lambda path: 5_000_000)
    with pytest.raises(InsufficientDiskSpace, match=r"need 23\.1 MB in .*, 5\.0 MB free") as info:
        dl.download(url, tmp_path / "a.tgz", sha256=sha256_bytes(DATA))
    assert str(tmp_path) in str(info.value)
    assert tree(tmp_path) == ["a.tgz.lock"]


def test_two_concurrent_downloads_fetch_once(mirror: Mirror, tmp_path: Path) -> None:
    url = asset(mirror)
    mirror.faults.chunk_delay = 0.05  # ~0.3 s per download: the second caller must wait
    start = threading.Barrier(2)
    results: list[files.DownloadResult] = []
    notes: list[str] = []

    class Notes(NullProgress):
        def note(self, message: str) -> None:
            notes.append(message)

    def worker() -> None:
        start.wait()
        results.append(dl.download(url, tmp_path / "a.tgz", sha256=sha256_bytes(DATA), progress=Notes()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2
    assert sorted(r.cached for r in results) == [False, True]
    assert len(mirror.blob_requests()) == 1
    assert mirror.bytes_served == SIZE
    assert any("Waiting for another run" in n for n in notes)


def test_cached_file_is_reused_without_a_request_and_truncation_is_noticed(mirror: Mirror, tmp_path: Path) -> None:
    url = asset(mirror)
    dest = tmp_path / "a.tgz"
    dl.download(url, dest, sha256=sha256_bytes(DATA))
    mirror.reset_stats()
    again = dl.download(url, dest, sha256=sha256_bytes(DATA))
    assert again.cached and mirror.count() == 0
    with dest.open("r+b") as f:
        f.truncate(SIZE - 1)
    repaired = dl.download(url, dest, sha256=sha256_bytes(DATA))
    assert not repaired.cached
    assert dest.read_bytes() == DATA


def test_plain_progress_writes_log_lines(mirror: Mirror, tmp_path: Path) -> None:
    out = io.StringIO()
    dl.download(asset(mirror), tmp_path / "a.tgz", sha256=sha256_bytes(DATA), progress=PlainProgress(out))
    lines = out.getvalue().splitlines()
    assert lines[0] == "Downloading a.tgz (6.3 MB)"
    assert any("100%" in line for line in lines)
    assert lines[-1].startswith("  a.tgz: done, 6.3 MB in ")
    assert "\r" not in out.getvalue()


def test_credentials_are_not_sent_across_a_redirect_to_another_host(tmp_path: Path) -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("authorization")
        if request.url.host == "hub.test":
            return httpx.Response(
                302,
                headers={"Location": "https://cdn.test/blob", "X-Linked-Etag": f'"{sha256_bytes(b"GGUF")}"'},
            )
        return httpx.Response(200, stream=httpx.ByteStream(b"GGUF"))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        dl.download(
            "https://hub.test/o/r/resolve/main/f.gguf",
            tmp_path / "f.gguf",
            client=client,
            headers={"Authorization": "Bearer secret"},
        )
    assert seen == {"hub.test": "Bearer secret", "cdn.test": None}


def test_write_failure_mid_download_is_a_clear_error_and_the_next_run_resumes(
    mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = hf_file(mirror)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(DownloadError, match=r"Cannot write .*m\.gguf\.part \(\[Errno 28\] No space left"):
        dl.download(url, tmp_path / "m.gguf")
    monkeypatch.undo()
    assert not (tmp_path / "m.gguf").exists()
    result = dl.download(url, tmp_path / "m.gguf")
    assert (tmp_path / "m.gguf").read_bytes() == DATA
    assert result.resumed_from == SIZE  # the bytes written before the failure were not fetched again


def test_sink_stops_taking_batches_after_a_write_error(tmp_path: Path) -> None:
    class FullDisk(io.BytesIO):
        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    sink = dl._Sink(FullDisk(), hashlib.sha256())
    sink.put(bytearray(b"x" * 10))
    deadline = time.monotonic() + 5
    while sink.put(bytearray(b"y")) and time.monotonic() < deadline:
        pass
    assert not sink.put(bytearray(b"z"))
    with pytest.raises(OSError, match="No space left"):
        sink.close()


# -- small git files: verified by the git blob SHA-1 in their ETag -------------------------------------

GIT = b'{"step": 650, "model_config": {"n_layer": 20}}\n' * 200  # a small non-LFS file, ~9 KB


def git_file(mirror: Mirror, data: bytes = GIT, *, etag: bool | str = True) -> str:
    mirror.add_hf("org/repo", "meta_000650.json", data, lfs=False, etag=etag)
    return f"{mirror.hf_endpoint}/org/repo/resolve/main/meta_000650.json"


def test_git_file_is_verified_by_its_blob_sha1_and_the_sidecar_says_so(mirror: Mirror, tmp_path: Path) -> None:
    url = git_file(mirror)
    result = dl.download(url, tmp_path / "meta.json", git_etag=True)
    assert (tmp_path / "meta.json").read_bytes() == GIT
    assert (result.verified_by, result.sha256, result.size) == ("git-blob-sha1", sha256_bytes(GIT), len(GIT))
    meta = files.read_meta(tmp_path / "meta.json")
    assert meta is not None
    assert (meta["verified_by"], meta["sha256"], meta["git_blob_sha1"]) == (
        "git-blob-sha1",
        sha256_bytes(GIT),
        git_blob_sha1(GIT),
    )
    assert [r.path for r in mirror.requests] == ["/hf/org/repo/resolve/main/meta_000650.json"]  # no redirect
    mirror.reset_stats()
    assert dl.download(url, tmp_path / "meta.json", git_etag=True).cached and mirror.count() == 0


def test_git_blob_sha1_is_the_one_git_computes() -> None:
    # `git hash-object` of "hello\n" - a known value, so neither side of the check can drift alone.
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_corrupted_git_file_is_a_mismatch_naming_both_sha1s_and_leaves_nothing(mirror: Mirror, tmp_path: Path) -> None:
    url = git_file(mirror)
    mirror.faults.flip_at = 100  # other bytes under the same ETag
    corrupt = bytearray(GIT)
    corrupt[100] ^= 0xFF
    with pytest.raises(GitBlobMismatch) as info:
        dl.download(url, tmp_path / "meta.json", git_etag=True)
    assert isinstance(info.value, ChecksumMismatch)  # callers handling a bad SHA256 handle this too
    message = str(info.value)
    assert url in message
    assert git_blob_sha1(GIT) in message
    assert git_blob_sha1(bytes(corrupt)) in message
    assert "git blob" in message
    assert tree(tmp_path) == ["meta.json.lock"]


def test_weak_etag_is_no_content_hash_and_the_download_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    url = git_file(mirror, etag=f'W/"{git_blob_sha1(GIT)}"')
    with pytest.raises(UnverifiedDownload, match=r"no git blob SHA-1"):
        dl.download(url, tmp_path / "meta.json", git_etag=True)
    assert tree(tmp_path) == ["meta.json.lock"]
    allowed = dl.download(url, tmp_path / "meta.json", allow_unverified=True, git_etag=True)
    assert allowed.verified_by == "unverified"


def test_git_file_without_an_etag_is_still_refused(mirror: Mirror, tmp_path: Path) -> None:
    with pytest.raises(UnverifiedDownload):
        dl.download(git_file(mirror, etag=False), tmp_path / "meta.json", git_etag=True)


def test_a_pinned_sha256_wins_over_the_git_etag(mirror: Mirror, tmp_path: Path) -> None:
    url = git_file(mirror, etag=f'"{"0" * 40}"')  # a wrong git hash: checking it would fail
    result = dl.download(url, tmp_path / "meta.json", sha256=sha256_bytes(GIT), git_etag=True)
    assert result.verified_by == "pinned"


def test_x_linked_etag_wins_over_a_git_etag(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "hub.test":
            headers = {
                "Location": "https://cdn.test/b",
                "X-Linked-Etag": f'"{sha256_bytes(GIT)}"',
                "ETag": f'"{"0" * 40}"',
            }
            return httpx.Response(302, headers=headers)
        return httpx.Response(200, stream=httpx.ByteStream(GIT))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = dl.download(
            "https://hub.test/o/r/resolve/main/f.json", tmp_path / "f.json", client=client, git_etag=True
        )
    assert result.verified_by == "x-linked-etag"


def test_interrupted_git_file_resumes_and_is_verified_over_all_its_bytes(mirror: Mirror, tmp_path: Path) -> None:
    url = git_file(mirror)
    mirror.faults.cut_after = 3000
    result = dl.download(url, tmp_path / "meta.json", retry=FAST, git_etag=True)
    assert (result.verified_by, (tmp_path / "meta.json").read_bytes() == GIT) == ("git-blob-sha1", True)
    assert [r.range for r in mirror.blob_requests()] == [None, "bytes=3000-"]
    assert mirror.bytes_served == len(GIT)


def test_complete_git_part_file_answered_416_without_etag_is_fetched_again(mirror: Mirror, tmp_path: Path) -> None:
    url = git_file(mirror)
    (tmp_path / "meta.json.part").write_bytes(GIT)
    result = dl.download(url, tmp_path / "meta.json", git_etag=True)
    assert result.verified_by == "git-blob-sha1"
    assert [r.range for r in mirror.blob_requests()] == [f"bytes={len(GIT)}-", None]


def test_a_40_hex_etag_from_another_server_is_no_git_hash(mirror: Mirror, tmp_path: Path) -> None:
    """Only Hub downloads read a strong 40-hex ETag as a git blob SHA-1; elsewhere it proves nothing."""
    url = git_file(mirror)
    with pytest.raises(UnverifiedDownload):
        dl.download(url, tmp_path / "meta.json")
    assert not (tmp_path / "meta.json").exists()
