"""Writing a checked `Tree` into its target folder without ever following a link.

The order is what makes that hold without trusting any earlier check: folders first, then regular files,
then hard links (as copies of the files just written), then the folders' modes, and the symlinks last of
all, so that while anything is written or chmod-ed there is no link in the tree to be followed. Each write
also checks, with ``lstat``, that the target folder and every folder down to the entry is a real folder
(not a link, not a Windows junction), and creates files with ``O_CREAT | O_EXCL | O_NOFOLLOW``, which
refuses anything already at that name, a dangling link included. Modes are set on the open descriptor where
the OS allows it, so a chmod can never land anywhere but on what was just created.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Final

from .archive_tree import Entry, Tree
from .errors import ArchiveError, UnsafeArchive

# Open flags that exist only on some systems; 0 where they do not (Windows has no links to refuse here).
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
_EXTRA: Final = getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_CREATE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _EXTRA
# Copy in pieces of this size: archive data never sits in memory whole.
_CHUNK: Final = 1 << 20
# Kept from an archive's modes: rwx for everyone, never setuid, setgid or sticky. The owner can always
# read every file and enter, list and change every folder, so the cache can be updated and cleared.
_MODE_MASK: Final = 0o777
_OWNER_FILE: Final = 0o400
_OWNER_DIR: Final = 0o700
_IMPLIED_DIR_MODE: Final = 0o755

OpenData = Callable[[Entry], AbstractContextManager[IO[bytes]]]
Reading = Callable[[str], AbstractContextManager[None]]


class Writer:
    """Writes one tree into `dest`, which exists and is empty."""

    def __init__(self, archive: Path, dest: Path, open_data: OpenData, reading: Reading) -> None:
        self.archive = archive
        self.dest = dest
        self.open_data = open_data
        self.reading = reading  # turns a reader's failure into `UnsafeArchive`

    @contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise ArchiveError(
                f"Cannot write {path} while unpacking {self.archive}: {exc.strerror or exc}. Check free space "
                f"and permissions in {self.dest.parent}, then run the command again."
            ) from exc

    def _real_folder(self, rel: PurePosixPath) -> Path:
        """`dest`/`rel` after checking it and every folder above it (from `dest` down) is a real folder."""
        path = self.dest
        self._check_folder(path)
        for part in rel.parts:
            path = path / part
            self._check_folder(path)
        return path

    def _check_folder(self, path: Path) -> None:
        with self._writing(path):
            st = os.lstat(path)
        reparse: int = getattr(st, "st_reparse_tag", 0)  # Windows: junctions and other reparse points
        if not stat.S_ISDIR(st.st_mode) or reparse:
            raise UnsafeArchive(
                f"{self.archive}: {path} is no longer a folder made by this extraction (something else is "
                "changing it); stopped without writing through it"
            )

    def write(self, tree: Tree) -> None:
        folders = tree.folders()
        for rel in folders:
            parent = self._real_folder(rel.parent)
            with self._writing(parent / rel.name):
                os.mkdir(parent / rel.name, 0o700)
        entries = list(tree.entries.values())
        for entry in entries:
            if entry.kind == "file":
                self._file(entry)
        for entry in entries:
            if entry.kind == "hardlink":
                self._copy(entry)
        # Deepest first, so a folder's mode is set after everything inside it is in place.
        for rel in reversed(folders):
            named = tree.entries.get(rel)
            mode = named.mode & _MODE_MASK if named is not None else _IMPLIED_DIR_MODE
            self._chmod_folder(rel, mode | _OWNER_DIR)
        for entry in entries:
            if entry.kind == "symlink":
                parent = self._real_folder(entry.path.parent)
                with self._writing(parent / entry.path.name):
                    os.symlink(entry.link, parent / entry.path.name)

    def _create(self, rel: PurePosixPath) -> tuple[Path, int]:
        path = self._real_folder(rel.parent) / rel.name
        with self._writing(path):
            return path, os.open(path, _CREATE, 0o600)

    def _file(self, entry: Entry) -> None:
        path, fd = self._create(entry.path)
        # `_writing` outermost: closing the file flushes it, and that may fail (a full disk) as well.
        with self._writing(path), open(fd, "wb") as out, self.open_data(entry) as source:
            while True:
                with self.reading(f"the data of {entry.path}"):
                    chunk = source.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
            out.flush()
            _set_mode(out.fileno(), path, (entry.mode & _MODE_MASK) | _OWNER_FILE)

    def _copy(self, entry: Entry) -> None:
        """A hard link, unpacked as a copy: nothing in the target shares an inode with anything else."""
        source = PurePosixPath(entry.link)
        source_path = self._real_folder(source.parent) / source.name
        path, fd = self._create(entry.path)
        with (
            self._writing(path),
            open(fd, "wb") as out,
            open(os.open(source_path, os.O_RDONLY | _NOFOLLOW | _EXTRA), "rb") as src,
        ):
            while chunk := src.read(_CHUNK):
                out.write(chunk)
            out.flush()
            _set_mode(out.fileno(), path, (entry.mode & _MODE_MASK) | _OWNER_FILE)

    def _chmod_folder(self, rel: PurePosixPath, mode: int) -> None:
        path = self._real_folder(rel)
        with self._writing(path):
            if _DIRECTORY and _NOFOLLOW and os.chmod in os.supports_fd:
                fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _EXTRA)
                try:
                    os.chmod(fd, mode)
                finally:
                    os.close(fd)
            else:  # Windows: only the read-only bit exists, and the folder was just checked with lstat
                os.chmod(path, mode)


def _set_mode(fd: int, path: Path, mode: int) -> None:
    if os.chmod in os.supports_fd:
        os.chmod(fd, mode)
    else:  # Windows before Python 3.13: by name, on the file this extraction just created
        os.chmod(path, mode)
