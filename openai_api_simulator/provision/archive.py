"""Safe extraction of release archives (``.tar.gz``, ``.tgz``, ``.tar``, ``.tar.xz``, ``.tar.bz2``, ``.zip``).

The whole archive is unpacked - llama-server loads its shared libraries from its own folder, and the Linux
and macOS builds reach them through relative symlinks (``libllama.dylib -> libllama.0.dylib``) - so links
are kept. The promise is that nothing outside the target folder is ever created, written, chmod-ed or
linked to, and that the only errors are this package's own (`UnsafeArchive`, `ArchiveError`).

How, in two passes:

1. **Check the whole tree first** (`archive_tree`). Every entry's header is read, and the tree the archive
   would make is built in memory, before one byte is written. Refused, naming the archive and the entry:

   * names that are absolute, hold ``..``, a drive or stream colon, or a control character (a backslash
     counts as a separator, as Windows reads it);
   * device files, FIFOs and sockets; encrypted zip members, unknown compression methods;
   * an entry inside a symlink or a file (``link/x``), and a name that appears twice - except a folder
     named twice - since a later entry replacing an earlier one makes a tree other than the one checked;
   * symlinks with an absolute target, or whose target, followed through the archive's *own* links as the
     OS will follow it once they all exist, climbs above the target folder. Checking each link against the
     disk as it is when that entry arrives is not enough: with ``x -> y/..`` first and ``y -> .`` second,
     each looks harmless when it arrives, and together they lead out. Resolving against the final tree
     catches that in any order. A target the archive does not create is taken literally (the target folder
     starts empty, so nothing can be reached through it);
   * hard links that do not name a regular file of the archive; they are unpacked as copies;
   * more than `MAX_MEMBERS` entries, or more than `MAX_TOTAL_BYTES` in total (hard-link copies count);
     free disk space is checked against the total too.

2. **Write without following links** (`archive_write`): folders, files, hard-link copies, folder modes,
   and the symlinks last, so no link exists while anything is written or chmod-ed; every write checks its
   folders with ``lstat`` and creates files with ``O_EXCL | O_NOFOLLOW``.

The target folder must be new or empty: a link already in it would otherwise decide where files go. When
anything fails after writing started (a member's data turns out damaged, the disk fills), what was
written is removed again, so the target is left as it was found. The readers bound what they return by
the sizes in the headers (``tarfile`` and ``zipfile`` both stop at the declared size), so the caps
checked in pass 1 hold for the bytes written in pass 2.

Python 3.12's ``tarfile`` extraction filters are not used: they cover tar only, differ between Python
versions, and the checks above are stricter (they refuse the link chains the filters let through).
"""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Final

from .archive_tree import MAX_LINK_TARGET, MAX_MEMBERS, MAX_TOTAL_BYTES, ArchiveLimits, Entry, Tree, clean_name
from .archive_write import Writer
from .errors import ArchiveError, UnsafeArchive
from .files import check_disk_space

__all__ = ["MAX_MEMBERS", "MAX_TOTAL_BYTES", "ArchiveLimits", "archive_kind", "extract"]

# What a damaged archive raises from inside tarfile, zipfile and the decompressors (a truncated gzip
# stream raises EOFError, a corrupt one zlib.error or BadGzipFile, an encrypted zip RuntimeError ...).
_READ_ERRORS: Final = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)
# Read size while draining a compressed tar to its end (for its CRC check).
_DRAIN_CHUNK: Final = 1 << 20
_ZIP_METHODS: Final = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
_ADVICE: Final = "The archive is damaged or was not made as a release is; download it again or use another release."


def archive_kind(path: Path) -> str:
    """``"tar"`` or ``"zip"`` from the file name; anything else is refused."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2")):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    raise UnsafeArchive(f"Unknown archive type: {path}. Expected .tar.gz, .tgz, .tar or .zip.")


def extract(archive: Path, dest: Path, *, limits: ArchiveLimits = ArchiveLimits()) -> None:
    """Unpack all of `archive` into `dest` (created if needed; it must be empty), refusing unsafe archives.

    Raises `UnsafeArchive` for an archive that is refused (nothing of it is left in `dest`), `ArchiveError`
    when a write fails, `InsufficientDiskSpace` when the unpacked tree would not fit.
    """
    kind = archive_kind(archive)
    existed = os.path.lexists(dest)
    if existed:
        if dest.is_symlink() or not dest.is_dir():
            raise UnsafeArchive(f"Cannot unpack {archive} into {dest}: it is not a folder.")
        try:
            occupied = any(dest.iterdir())
        except OSError as exc:
            raise ArchiveError(f"Cannot unpack {archive} into {dest}: {exc.strerror or exc}.") from exc
        if occupied:
            raise UnsafeArchive(
                f"Cannot unpack {archive} into {dest}: the folder is not empty, and what is in it (a link, say) "
                "could decide where the archive's files go. Unpack into a new folder."
            )
    if kind == "tar":
        _extract_tar(archive, dest, limits, existed)
    else:
        _extract_zip(archive, dest, limits, existed)


@contextmanager
def _reading(archive: Path, what: str) -> Iterator[None]:
    """Turn whatever a damaged archive makes the readers raise into `UnsafeArchive`."""
    try:
        yield
    except _READ_ERRORS as exc:
        raise UnsafeArchive(f"{archive}: cannot read {what} ({type(exc).__name__}: {exc}). {_ADVICE}") from exc


def _unpack(archive: Path, dest: Path, tree: Tree, writer: Writer, existed: bool) -> None:
    """Write the checked `tree`; on any failure remove what was written, leaving `dest` as it was found."""
    check_disk_space(dest, tree.total, what=f"unpacking {archive}")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(f"Cannot create {dest} to unpack {archive} into: {exc.strerror or exc}.") from exc
    try:
        writer.write(tree)
    except BaseException:
        _clear(dest, keep=existed)
        raise


def _clear(dest: Path, *, keep: bool) -> None:
    if not keep:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in os.scandir(dest):
        if child.is_dir(follow_symlinks=False):
            shutil.rmtree(child.path, ignore_errors=True)
        else:
            with suppress(OSError):  # best effort: the error that got us here is the one to report
                os.unlink(child.path)


# -- tar ----------------------------------------------------------------------------------------------


def _tar_entry(archive: Path, member: tarfile.TarInfo) -> Entry:
    path = clean_name(archive, member.name)
    mode = stat.S_IMODE(member.mode)
    if member.isdir():
        return Entry(path, "dir", mode, member=member)
    if member.issym():
        return Entry(path, "symlink", mode, link=member.linkname, member=member)
    if member.islnk():
        source = clean_name(archive, member.linkname, f"hard link target of {path}")
        return Entry(path, "hardlink", mode, link=source.as_posix(), member=member)
    if member.isreg():
        return Entry(path, "file", mode, size=member.size, member=member)
    raise UnsafeArchive(f"{archive}: refusing special file {path} (tar type {member.type!r}). {_ADVICE}")


def _check_tar_end(archive: Path, tar: tarfile.TarFile) -> None:
    """Tell a damaged archive from a whole one once `tarfile` has run out of headers.

    `tarfile` stops quietly at a damaged header after the first, so the block where the next header would
    be must be the zeros that end a tar; anything else is damage (or a cut) that would drop the rest of
    the archive without a word. Then the stream is read to its end: gzip, bzip2 and xz check their own
    CRC only there, and reading the headers alone never gets that far.
    """
    fileobj = tar.fileobj
    assert fileobj is not None
    fileobj.seek(tar.offset)
    block = fileobj.read(tarfile.BLOCKSIZE)
    if len(block) < tarfile.BLOCKSIZE or block.count(0) != len(block):
        raise UnsafeArchive(f"{archive}: the header at byte {tar.offset} is damaged or missing. {_ADVICE}")
    while fileobj.read(_DRAIN_CHUNK):
        pass


def _extract_tar(archive: Path, dest: Path, limits: ArchiveLimits, existed: bool) -> None:
    try:
        tar = tarfile.open(archive)  # noqa: SIM115 - closed by the with-block below once it opened
    except _READ_ERRORS as exc:
        raise UnsafeArchive(f"Cannot read {archive} as a tar archive: {exc}. {_ADVICE}") from exc
    with tar:
        tree = Tree(archive, limits)
        with _reading(archive, "the list of entries"):
            for member in tar:  # headers one at a time: a cap is enforced before the next is even read
                tree.add(_tar_entry(archive, member))
            _check_tar_end(archive, tar)
        tree.finish()

        @contextmanager
        def open_data(entry: Entry) -> Iterator[IO[bytes]]:
            assert isinstance(entry.member, tarfile.TarInfo)
            with _reading(archive, f"the data of {entry.path}"):
                source = tar.extractfile(entry.member)
            assert source is not None  # regular files always have data
            with source:
                yield source

        _unpack(archive, dest, tree, Writer(archive, dest, open_data, lambda what: _reading(archive, what)), existed)


# -- zip ----------------------------------------------------------------------------------------------


def _zip_entry(archive: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Entry:
    path = clean_name(archive, info.filename)
    # Zip keeps Unix modes (and the file type) in the high half of external_attr when the archive was made
    # on Unix; Windows-made archives leave it zero, and their entries are plain files and folders.
    mode = info.external_attr >> 16
    kind, perms = stat.S_IFMT(mode), stat.S_IMODE(mode)
    if info.flag_bits & 0x1:
        raise UnsafeArchive(f"{archive}: {path} is encrypted; a release never is. {_ADVICE}")
    if info.compress_type not in _ZIP_METHODS:
        raise UnsafeArchive(f"{archive}: {path} uses the unknown compression method {info.compress_type}. {_ADVICE}")
    if info.filename.endswith(("/", "\\")) or kind == stat.S_IFDIR:
        return Entry(path, "dir", perms or 0o755, member=info)
    if kind == stat.S_IFLNK:
        if info.file_size > MAX_LINK_TARGET:
            raise UnsafeArchive(f"{archive}: symlink {path} has a {info.file_size}-byte target. {_ADVICE}")
        with _reading(archive, f"the target of symlink {path}"):
            target = zf.read(info).decode("utf-8")
        return Entry(path, "symlink", perms, link=target, member=info)
    if kind in (0, stat.S_IFREG):
        return Entry(path, "file", perms or 0o644, size=info.file_size, member=info)
    raise UnsafeArchive(f"{archive}: refusing special file {path} (mode {mode:o}). {_ADVICE}")


def _extract_zip(archive: Path, dest: Path, limits: ArchiveLimits, existed: bool) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except _READ_ERRORS as exc:
        raise UnsafeArchive(f"Cannot read {archive} as a zip archive: {exc}. {_ADVICE}") from exc
    with zf:
        tree = Tree(archive, limits)
        for info in zf.infolist():
            tree.add(_zip_entry(archive, zf, info))
        tree.finish()

        @contextmanager
        def open_data(entry: Entry) -> Iterator[IO[bytes]]:
            assert isinstance(entry.member, zipfile.ZipInfo)
            with _reading(archive, f"the data of {entry.path}"):
                source = zf.open(entry.member)
            with source:
                yield source

        _unpack(archive, dest, tree, Writer(archive, dest, open_data, lambda what: _reading(archive, what)), existed)
