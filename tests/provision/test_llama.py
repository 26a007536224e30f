"""Installing llama-server from (small, stand-in) releases served by the loopback mirror."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from openai_api_simulator.provision import files
from openai_api_simulator.provision.errors import (
    BinaryCheckFailed,
    ChecksumMismatch,
    DownloadError,
    InsufficientDiskSpace,
    OfflineError,
    ReleaseError,
)
from openai_api_simulator.provision.llama import LlamaInstall, ensure_llama_server
from openai_api_simulator.provision.options import LlamaSource, ProvisionOptions
from openai_api_simulator.provision.platforms import Platform
from openai_api_simulator.provision.progress import NullProgress
from openai_api_simulator.testing import free_port
from tests.support.mirror import Mirror
from tests.support.provision import fake_server_script, release_tar, release_zip, sha256_file, tree

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the stand-in llama-server is a shell script")

LINUX = Platform("linux", "x86_64")


def publish(mirror: Mirror, tmp_path: Path, tag: str, *, works: bool = True, zip_: bool = False) -> Path:
    script = fake_server_script(f"version: {tag[1:]} (fake)", works=works)
    if zip_:
        archive = release_zip(tmp_path / f"llama-{tag}-bin-win-cpu-x64.zip", script)
    else:
        archive = release_tar(tmp_path / f"llama-{tag}-bin-ubuntu-x64.tar.gz", tag, script)
    mirror.add_asset(tag, archive.name, archive)
    return archive


def install(
    options: ProvisionOptions = ProvisionOptions(), *, version: str | None = None, release_url: str | None = None
) -> LlamaInstall:
    return ensure_llama_server(LlamaSource(version=version, release_url=release_url, platform=LINUX), options)


def test_installs_latest_release_with_manifest_and_reuses_it_without_requests(
    mirror_env: Mirror, tmp_path: Path, oas_env: Path
) -> None:
    archive = publish(mirror_env, tmp_path, "b200")
    mirror_env.latest = "b200"
    got = install()
    root = oas_env / "llama.cpp" / "b200-bin-ubuntu-x64"
    assert got == LlamaInstall(
        server=root / "llama-b200" / "llama-server",
        version="version: 200 (fake)",
        backend="cpu",
        source="download",
        tag="b200",
        asset="llama-b200-bin-ubuntu-x64.tar.gz",
        root=root,
    )
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["archive_sha256"] == sha256_file(archive)
    assert manifest["archive_size"] == archive.stat().st_size
    assert manifest["verified_by"] == "pinned"
    assert manifest["installed_at"].endswith("+00:00")
    assert os.readlink(root / "llama-b200" / "libggml-cpu.so") == "libggml-cpu-haswell.so"
    # The archive is gone once installed; no staging folder is left behind.
    leftovers = [p for p in tree(oas_env) if p.startswith(("downloads/", "llama.cpp/.")) and not p.endswith(".lock")]
    assert leftovers == []

    mirror_env.reset_stats()
    again = install()
    assert (again.source, again.server) == ("cache", got.server)
    assert mirror_env.count() == 0


def test_pinned_version_installs_that_tag(mirror_env: Mirror, tmp_path: Path) -> None:
    publish(mirror_env, tmp_path, "b150")
    publish(mirror_env, tmp_path, "b200")
    mirror_env.latest = "b200"
    assert install(version="b150").tag == "b150"
    assert mirror_env.count("/releases/latest") == 0


def test_failed_update_keeps_the_working_install(mirror_env: Mirror, tmp_path: Path, oas_env: Path) -> None:
    publish(mirror_env, tmp_path, "b200")
    mirror_env.latest = "b200"
    old = install()
    publish(mirror_env, tmp_path, "b201", works=False)
    mirror_env.latest = "b201"
    with pytest.raises(BinaryCheckFailed, match=r"(?s)release b201\) does not run here.*status 127.*libggml\.so"):
        install(ProvisionOptions(update=True))
    assert not (oas_env / "llama.cpp" / "b201-bin-ubuntu-x64").exists()
    assert not [p for p in tree(oas_env / "llama.cpp") if p.startswith(".staging")]
    still = install()
    assert (still.tag, still.server, still.source) == ("b200", old.server, "cache")


def test_update_installs_the_newer_release_beside_the_old(mirror_env: Mirror, tmp_path: Path, oas_env: Path) -> None:
    publish(mirror_env, tmp_path, "b200")
    mirror_env.latest = "b200"
    old = install()
    publish(mirror_env, tmp_path, "b205")
    mirror_env.latest = "b205"
    assert install().tag == "b200"  # no update asked: the cache is used, no request
    new = install(ProvisionOptions(update=True))
    assert new.tag == "b205"
    assert old.server.is_file()
    assert install().tag == "b205"  # the newest cached build wins from now on


def test_latest_release_missing_our_asset_falls_back_to_the_previous_one(mirror_env: Mirror, tmp_path: Path) -> None:
    publish(mirror_env, tmp_path, "b300")
    mirror_env.add_release("b301")  # released, but the Linux build failed to upload
    mirror_env.latest = "b301"
    assert install().tag == "b300"


def test_pinned_release_missing_our_asset_is_a_clear_error(mirror_env: Mirror) -> None:
    mirror_env.add_release("b301")
    with pytest.raises(ReleaseError, match=r"Release b301 has no asset llama-b301-bin-ubuntu-x64\.tar\.gz"):
        install(version="b301")


def test_asset_listed_but_404_names_the_url(mirror_env: Mirror, tmp_path: Path) -> None:
    publish(mirror_env, tmp_path, "b310")
    mirror_env.missing_assets.add(("b310", "llama-b310-bin-ubuntu-x64.tar.gz"))
    with pytest.raises(
        DownloadError, match=r"releases/download/b310/llama-b310-bin-ubuntu-x64\.tar\.gz answered HTTP 404"
    ):
        install(version="b310")


def test_latest_redirect_without_a_tag(mirror_env: Mirror) -> None:
    mirror_env.latest = None
    with pytest.raises(ReleaseError, match=r"names no release tag.*--llama-version bNNNN"):
        install()


def test_tampered_archive_installs_nothing(mirror_env: Mirror, tmp_path: Path, oas_env: Path) -> None:
    publish(mirror_env, tmp_path, "b320")
    mirror_env.faults.flip_at = 100
    with pytest.raises(ChecksumMismatch, match=r"llama-b320-bin-ubuntu-x64\.tar\.gz: expected [0-9a-f]{64}, got"):
        install(version="b320")
    assert [p for p in tree(oas_env) if not p.endswith(".lock") and "releases" not in p] == [
        "downloads",
        "llama.cpp",
    ]


def test_zip_release_installs(mirror_env: Mirror, tmp_path: Path) -> None:
    publish(mirror_env, tmp_path, "b330", zip_=True)
    got = ensure_llama_server(LlamaSource(version="b330", platform=Platform("windows", "x86_64")))
    assert got.server.name == "llama-server"
    assert got.version == "version: 330 (fake)"


def test_offline_with_empty_cache_says_what_to_do(oas_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAS_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        install()
    message = str(info.value)
    assert str(oas_env / "llama.cpp") in message
    assert "openai-api-simulator pull" in message
    assert "--llama-server PATH" in message


def test_network_down_during_update_falls_back_to_the_cache(
    mirror_env: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(mirror_env, tmp_path, "b200")
    mirror_env.latest = "b200"
    install()
    dead = f"http://127.0.0.1:{free_port()}/ggml-org/llama.cpp"  # a port nobody listens on
    notes: list[str] = []

    class Notes(NullProgress):
        def note(self, message: str) -> None:
            notes.append(message)

    got = install(ProvisionOptions(update=True, progress=Notes()), release_url=dead)
    assert (got.tag, got.source) == ("b200", "cache")
    assert any("cannot check for a newer llama.cpp" in n for n in notes)


def test_network_down_with_empty_cache_is_a_clear_error(oas_env: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/ggml-org/llama.cpp"
    with pytest.raises(DownloadError, match=r"Cannot reach http://127\.0\.0\.1:\d+/ggml-org/llama\.cpp"):
        install(release_url=dead)


def test_user_supplied_binary_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "llama-server"
    good.write_bytes(fake_server_script("version: 42 (mine)"))
    good.chmod(0o755)
    got = ensure_llama_server(LlamaSource(server=good))
    assert (got.source, got.version, got.tag) == ("user", "version: 42 (mine)", None)
    bad = tmp_path / "broken"
    bad.write_bytes(fake_server_script(works=False))
    bad.chmod(0o755)
    with pytest.raises(BinaryCheckFailed, match="exited with status 127"):
        ensure_llama_server(LlamaSource(server=bad))
    with pytest.raises(BinaryCheckFailed, match="not found"):
        ensure_llama_server(LlamaSource(server=tmp_path / "missing"))
    not_exec = tmp_path / "plain"
    not_exec.write_bytes(b"data")
    with pytest.raises(BinaryCheckFailed, match="cannot be run"):
        ensure_llama_server(LlamaSource(server=not_exec))


def test_two_concurrent_installs_download_once(mirror_env: Mirror, tmp_path: Path) -> None:
    publish(mirror_env, tmp_path, "b340")
    mirror_env.latest = "b340"
    mirror_env.faults.chunk_delay = 0.2
    start = threading.Barrier(2)
    got: list[LlamaInstall] = []

    def worker() -> None:
        start.wait()
        got.append(install())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 2 and got[0].server == got[1].server
    assert len(mirror_env.blob_requests()) == 1


def test_too_little_room_to_unpack(mirror_env: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = publish(mirror_env, tmp_path, "b350")
    size = archive.stat().st_size
    # Enough for the download, not for unpacking (which asks for several times the archive).
    monkeypatch.setattr(files, "disk_free", lambda path: files.DISK_MARGIN + 2 * size)
    with pytest.raises(InsufficientDiskSpace, match=r"unpacking .*llama-b350-bin-ubuntu-x64\.tar\.gz"):
        install(version="b350")
