"""Safe extraction of release archives (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``).

The whole archive is unpacked - llama-server loads its shared libraries from its own directory, and
macOS builds reach them through symlink chains - so symlinks are kept. What is refused, before a byte
of the offending entry is written:

* absolute names (``/etc/x``, ``C:\\x``) and names with a ``..`` component;
* symlinks whose target is absolute or resolves outside the destination;
* hard links to anything outside the destination;
* device files and FIFOs (a release has no business shipping them);
* any entry whose parent directory, as it exists on disk at that moment, resolves outside the
  destination - this defeats the "symlink to a directory, then a file through it" trick, because the
  check runs against the real filesystem after the earlier entries were extracted.

Extraction goes entry by entry into the destination the caller gives (a staging folder; the caller
moves it into place only after everything succeeded).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Final

from .errors import UnsafeArchive

# Permission bits we keep from an archive: rwx for everyone, no setuid/setgid/sticky.
_MODE_MASK: Final = 0o777


def archive_kind(path: Path) -> str:
    """``"tar"`` or ``"zip"`` from the file name; anything else is refused."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2")):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    raise UnsafeArchive(f"Unknown archive type: {path}. Expected .tar.gz, .tgz, .tar or .zip.")


def extract(archive: Path, dest: Path) -> None:
    """Extract all of `archive` into `dest` (created if needed), refusing unsafe entries."""
    dest.mkdir(parents=True, exist_ok=True)
    if archive_kind(archive) == "tar":
        _extract_tar(archive, dest)
    else:
        _extract_zip(archive, dest)


def _clean_name(archive: Path, name: str) -> PurePosixPath:
    """The entry name as a relative POSIX path, or `UnsafeArchive`."""
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise UnsafeArchive(f"{archive}: refusing absolute path {name!r}")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"{archive}: refusing path with '..' {name!r}")
    if not parts:
        return PurePosixPath(".")
    return PurePosixPath(*parts)


def _inside(root: Path, candidate: str) -> bool:
    root_s = os.path.realpath(root)
    cand = os.path.realpath(candidate)
    return cand == root_s or cand.startswith(root_s + os.sep)


def _check_parent(archive: Path, dest: Path, rel: PurePosixPath) -> Path:
    """Where `rel` will be written, after checking its parent resolves inside `dest` on disk now."""
    target = dest.joinpath(*rel.parts)
    if not _inside(dest, str(target.parent)):
        raise UnsafeArchive(f"{archive}: {rel} would be written outside {dest} through a symlink")
    return target


def _check_symlink(archive: Path, dest: Path, rel: PurePosixPath, link: str) -> None:
    link_text = link.replace("\\", "/")
    if link_text.startswith("/") or (len(link_text) > 1 and link_text[1] == ":"):
        raise UnsafeArchive(f"{archive}: symlink {rel} -> {link!r} is absolute")
    # Lexically first: the link resolved relative to its own directory must stay inside.
    joined = posixpath.normpath(posixpath.join(str(rel.parent), link_text))
    if joined == ".." or joined.startswith("../"):
        raise UnsafeArchive(f"{archive}: symlink {rel} -> {link!r} points outside the archive")
    # Then against the disk as it is now, which catches chains through earlier symlinks.
    target = dest.joinpath(*rel.parts).parent / link_text
    if not _inside(dest, str(target)):
        raise UnsafeArchive(f"{archive}: symlink {rel} -> {link!r} resolves outside {dest}")


def _extract_tar(archive: Path, dest: Path) -> None:
    try:
        tar = tarfile.open(archive)  # noqa: SIM115 - closed by the with-block below once it opened
    except (tarfile.TarError, OSError) as exc:
        raise UnsafeArchive(f"Cannot read {archive} as a tar archive: {exc}") from exc
    with tar:
        for member in tar:
            rel = _clean_name(archive, member.name)
            if str(rel) == ".":
                continue
            target = _check_parent(archive, dest, rel)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                os.chmod(target, (member.mode & _MODE_MASK) | 0o700)
            elif member.issym():
                _check_symlink(archive, dest, rel, member.linkname)
                target.parent.mkdir(parents=True, exist_ok=True)
                _remove(target)
                os.symlink(member.linkname, target)
            elif member.islnk():
                source_rel = _clean_name(archive, member.linkname)
                source = dest.joinpath(*source_rel.parts)
                if not _inside(dest, str(source)) or not source.is_file():
                    raise UnsafeArchive(
                        f"{archive}: hard link {rel} -> {member.linkname!r} does not point to a file "
                        "extracted earlier inside the archive"
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                _remove(target)
                shutil.copy2(source, target)
            elif member.isfile():
                source_file = tar.extractfile(member)
                if source_file is None:  # pragma: no cover - isfile() members always have data
                    raise UnsafeArchive(f"{archive}: cannot read {rel}")
                target.parent.mkdir(parents=True, exist_ok=True)
                _remove(target)
                with source_file, target.open("wb") as out:
                    shutil.copyfileobj(source_file, out, 1 << 20)
                os.chmod(target, member.mode & _MODE_MASK)
            else:
                raise UnsafeArchive(f"{archive}: refusing special file {rel} (type {member.type!r})")


def _remove(path: Path) -> None:
    """Make room for an entry that appears twice (the later one wins, as with tar itself)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        raise UnsafeArchive(f"{path}: an archive entry would replace a directory")


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeArchive(f"Cannot read {archive} as a zip archive: {exc}") from exc
    with zf:
        for info in zf.infolist():
            rel = _clean_name(archive, info.filename)
            if str(rel) == ".":
                continue
            target = _check_parent(archive, dest, rel)
            # Zip keeps Unix modes (and the symlink type bit) in the high half of external_attr
            # when the archive was made on Unix; Windows-made archives leave it zero.
            mode = info.external_attr >> 16
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif stat.S_ISLNK(mode):
                link = zf.read(info).decode("utf-8")
                _check_symlink(archive, dest, rel, link)
                target.parent.mkdir(parents=True, exist_ok=True)
                _remove(target)
                os.symlink(link, target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                _remove(target)
                with zf.open(info) as source_file, target.open("wb") as out:
                    shutil.copyfileobj(source_file, out, 1 << 20)
                if mode & _MODE_MASK:
                    os.chmod(target, mode & _MODE_MASK)
