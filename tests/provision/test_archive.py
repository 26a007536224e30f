"""Archive extraction: the whole release with its symlinks, and nothing that escapes the target."""

from __future__ import annotations

import io
import os
import stat
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from openai_api_simulator.provision.archive import extract
from openai_api_simulator.provision.errors import UnsafeArchive
from tests.support.provision import fake_server_script, release_tar, release_zip, tree

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symlinks and modes are POSIX here")


def _tar(path: Path, *entries: tarfile.TarInfo | tuple[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_release_tar_extracts_whole_with_exec_bit_and_internal_symlink(tmp_path: Path) -> None:
    archive = release_tar(tmp_path / "r.tar.gz", "b7", fake_server_script())
    extract(archive, tmp_path / "out")
    top = tmp_path / "out" / "llama-b7"
    assert tree(tmp_path / "out") == [
        "llama-b7",
        "llama-b7/LICENSE",
        "llama-b7/libggml-cpu-haswell.so",
        "llama-b7/libggml-cpu.so",
        "llama-b7/llama-server",
    ]
    assert os.readlink(top / "libggml-cpu.so") == "libggml-cpu-haswell.so"
    assert (top / "libggml-cpu.so").read_bytes() == b"\x7fELF fake library"
    assert os.access(top / "llama-server", os.X_OK)
    assert not os.access(top / "LICENSE", os.X_OK)


def test_release_zip_keeps_unix_modes_and_symlinks(tmp_path: Path) -> None:
    archive = release_zip(tmp_path / "r.zip", fake_server_script())
    extract(archive, tmp_path / "out")
    assert os.readlink(tmp_path / "out" / "libggml-cpu.so") == "libggml-cpu-haswell.so"
    assert os.access(tmp_path / "out" / "llama-server", os.X_OK)


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([("../evil.txt", b"x")], "'..'"),
        ([("top/../../evil.txt", b"x")], "'..'"),
        ([("/tmp/oas-evil-absolute.txt", b"x")], "absolute path"),
        ([_link("top/lib.so", "../../evil.txt")], "points outside"),
        ([_link("top/lib.so", "/etc/passwd")], "is absolute"),
        ([("top/a.txt", b"x"), _link("top/hard", "../evil.txt", tarfile.LNKTYPE)], "'..'"),
        ([_link("top/hard", "/etc/passwd", tarfile.LNKTYPE)], "absolute path"),
        ([_link("top/hard", "top/missing", tarfile.LNKTYPE)], "does not name a regular file"),
        ([_link("top/dev", "", tarfile.CHRTYPE)], "special file"),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "absolute",
        "symlink-escape",
        "symlink-absolute",
        "hardlink-escape",
        "hardlink-absolute",
        "hardlink-dangling",
        "device",
    ],
)
def test_malicious_tar_entries_are_refused(
    tmp_path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], reason: str
) -> None:
    archive = _tar(tmp_path / "bad.tar.gz", *entries)
    dest = tmp_path / "a" / "b" / "out"
    with pytest.raises(UnsafeArchive, match=reason) as info:
        extract(archive, dest)
    assert str(archive) in str(info.value)
    assert not (tmp_path / "a" / "evil.txt").exists()
    assert not (tmp_path / "a" / "b" / "evil.txt").exists()
    assert not Path("/tmp/oas-evil-absolute.txt").exists()


def test_symlink_chain_resolving_outside_is_refused(tmp_path: Path) -> None:
    # "deep/up" -> ".." stays inside lexically; "deep/up/x" then -> "../x" would not: the disk check runs
    # on the real filesystem after "deep/up" exists, so the chain is caught.
    archive = _tar(
        tmp_path / "bad.tar.gz",
        _link("deep/up", ".."),
        _link("deep/up/esc", "../outside.txt"),
    )
    with pytest.raises(UnsafeArchive):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()


def _zip(path: Path, name: str, data: bytes, *, symlink: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(name)
        info.external_attr = ((stat.S_IFLNK | 0o777) if symlink else (stat.S_IFREG | 0o644)) << 16
        zf.writestr(info, data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "symlink", "reason"),
    [
        ("../evil.txt", b"x", False, "'..'"),
        ("/tmp/oas-evil-zip.txt", b"x", False, "absolute path"),
        ("C:\\evil.txt", b"x", False, "absolute path"),
        ("..\\evil.txt", b"x", False, "'..'"),
        ("lib.so", b"../../evil.txt", True, "points outside"),
        ("lib.so", b"/etc/passwd", True, "is absolute"),
    ],
    ids=["dotdot", "absolute", "drive", "backslash-dotdot", "symlink-escape", "symlink-absolute"],
)
def test_malicious_zip_entries_are_refused(tmp_path: Path, name: str, data: bytes, symlink: bool, reason: str) -> None:
    archive = _zip(tmp_path / "bad.zip", name, data, symlink=symlink)
    with pytest.raises(UnsafeArchive, match=reason):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/oas-evil-zip.txt").exists()


def test_corrupt_or_unknown_archives_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "x.tar.gz").write_bytes(b"not gzip")
    with pytest.raises(UnsafeArchive, match=r"Cannot read .*x\.tar\.gz as a tar archive"):
        extract(tmp_path / "x.tar.gz", tmp_path / "out")
    (tmp_path / "x.rar").write_bytes(b"")
    with pytest.raises(UnsafeArchive, match="Unknown archive type"):
        extract(tmp_path / "x.rar", tmp_path / "out")
