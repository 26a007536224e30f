"""The tree an archive unpacks to, checked as a whole before anything is written (see `archive` for the rules).

`Tree.add` takes the entries one by one, in archive order, and refuses at once what is wrong in itself (a
name that climbs out, a link target that is absolute, a special file, an entry inside a link or a file, a
name that appears twice, too many entries or bytes). `Tree.finish` then checks what only the whole tree can
tell: where every symlink leads once all the others exist, and that every hard link names a regular file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final, Literal

from .errors import UnsafeArchive

Kind = Literal["dir", "file", "symlink", "hardlink"]

# Total bytes one archive may unpack to. llama.cpp's largest builds (CUDA ones, with cuBLAS beside the
# binary) unpack to several hundred MB, its usual ones to tens; 4 GiB leaves room for builds several times
# larger, yet stops an archive claiming terabytes before it fills the disk (free space is checked as well).
MAX_TOTAL_BYTES: Final = 4 << 30
# Entries one archive may hold: a release has tens to a few hundred (macOS ones count their links); ten
# thousand is far beyond that and still quick to check.
MAX_MEMBERS: Final = 10_000
# Links followed while resolving one symlink, as Linux's limit (ELOOP) before it gives up.
MAX_LINK_HOPS: Final = 40
# Longest symlink target taken (PATH_MAX on Linux); a zip stores it as the member's data.
MAX_LINK_TARGET: Final = 4096

ROOT: Final = PurePosixPath(".")
_WORDS: Final[dict[str, str]] = {"dir": "folder", "file": "file", "symlink": "symlink", "hardlink": "hard link"}


@dataclass(frozen=True)
class ArchiveLimits:
    """The caps on one archive; the defaults suit every llama.cpp release (see the constants' comments)."""

    max_bytes: int = MAX_TOTAL_BYTES
    max_members: int = MAX_MEMBERS


@dataclass
class Entry:
    """One archive member as it will be written."""

    path: PurePosixPath  # cleaned, relative to the target folder
    kind: Kind
    mode: int  # permission bits only
    size: int = 0  # bytes of data (a hard link: its file's, set by `Tree.finish`)
    link: str = ""  # a symlink's target as stored; a hard link's file, as a cleaned relative path
    member: object = None  # the reader's handle on the data (a TarInfo or ZipInfo)


def binary_size(n: int) -> str:
    """``4 GiB``, ``4 MiB`` or ``N bytes``: the caps read best in the units they were chosen in."""
    for unit, shift in (("GiB", 30), ("MiB", 20)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def clean_name(archive: Path, name: str, what: str = "entry") -> PurePosixPath:
    """An entry name as a relative POSIX path (``.`` for the root), or `UnsafeArchive` naming `what` it was.

    A backslash counts as a separator, as Windows reads it, so ``..\\x`` is caught as well; a colon is refused
    anywhere because Windows reads it as a drive (``C:x``) or a stream, and no release name has one.
    """
    text = name.replace("\\", "/")
    if _has_control(text):
        raise UnsafeArchive(f"{archive}: refusing {what} {name!r}: its name holds a control character")
    if text.startswith("/") or ":" in text:
        raise UnsafeArchive(f"{archive}: refusing absolute path {name!r} ({what}); entries must be relative")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"{archive}: refusing path with '..' {name!r} ({what})")
    return PurePosixPath(*parts) if parts else ROOT


def _check_link_text(archive: Path, entry: Entry) -> None:
    target = entry.link
    where = f"symlink {entry.path} -> {target!r}"
    if not target or len(target) > MAX_LINK_TARGET or _has_control(target):
        raise UnsafeArchive(f"{archive}: {where}: the target is empty, too long or holds a control character")
    if target.startswith("/"):
        raise UnsafeArchive(f"{archive}: {where} is absolute; a link may only point inside the archive")
    if "\\" in target or ":" in target:
        raise UnsafeArchive(
            f"{archive}: {where} holds '\\' or ':', which Windows reads as a separator or a drive; refusing it"
        )


class Tree:
    """The final state of the target folder as the archive describes it."""

    def __init__(self, archive: Path, limits: ArchiveLimits) -> None:
        self.archive = archive
        self.limits = limits
        self.entries: dict[PurePosixPath, Entry] = {}  # in archive order
        self.implied: dict[PurePosixPath, PurePosixPath] = {}  # folder -> first entry found inside it
        self.total = 0  # bytes the unpacked tree will hold
        self.members = 0

    def _refuse(self, text: str) -> UnsafeArchive:
        return UnsafeArchive(f"{self.archive}: {text}")

    def _grow(self, size: int) -> None:
        self.total += size
        if self.total > self.limits.max_bytes:
            raise self._refuse(
                f"unpacks to more than {binary_size(self.limits.max_bytes)} (the cap on one archive); refusing "
                "it before writing anything"
            )

    def add(self, entry: Entry) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise self._refuse(f"has more than {self.limits.max_members} entries (the cap on one archive)")
        if entry.path == ROOT:
            return  # the target folder itself: it exists, and its mode is the caller's
        if entry.kind == "symlink":
            _check_link_text(self.archive, entry)
        elif entry.kind == "file":
            self._grow(entry.size)
        for folder in entry.path.parents[:-1]:  # parents[-1] is ROOT
            above = self.entries.get(folder)
            if above is not None and above.kind != "dir":
                raise self._refuse(
                    f"{entry.path} is inside the {_WORDS[above.kind]} {folder}; an entry is never written "
                    "through a link or under a file"
                )
            self.implied.setdefault(folder, entry.path)
        earlier = self.entries.get(entry.path)
        if earlier is not None:
            if earlier.kind == entry.kind == "dir":
                self.entries[entry.path] = entry  # a folder named twice: the later mode wins, as with tar
                return
            raise self._refuse(
                f"{entry.path} appears twice (a {_WORDS[earlier.kind]}, then a {_WORDS[entry.kind]}); a later "
                "entry replacing an earlier one would make a tree other than the one checked"
            )
        if entry.kind != "dir" and entry.path in self.implied:
            raise self._refuse(
                f"{self.implied[entry.path]} is inside the {_WORDS[entry.kind]} {entry.path} (which comes "
                "later); an entry is never written through a link or under a file"
            )
        self.entries[entry.path] = entry

    def finish(self) -> None:
        """Check hard links and symlinks against the whole tree; count hard-link copies against the cap."""
        for entry in self.entries.values():
            if entry.kind == "hardlink":
                source = self.entries.get(PurePosixPath(entry.link))
                if source is None or source.kind != "file":
                    raise self._refuse(
                        f"hard link {entry.path} -> {entry.link!r} does not name a regular file of the archive"
                    )
                entry.size, entry.mode = source.size, source.mode
                self._grow(source.size)  # unpacked as a copy, so it costs its bytes again
        for entry in self.entries.values():
            if entry.kind == "symlink":
                self._resolve(entry)

    def _resolve(self, link: Entry) -> None:
        """Follow `link` through the tree as the OS will once every link exists; refuse it if it climbs out.

        Resolved segment by segment from the link's own folder, replacing each segment that is one of the
        archive's symlinks by that link's target, just as path lookup does. A segment the archive does not
        create is taken as a plain name: on disk it will not exist (the target folder starts empty), so
        nothing can be reached through it.
        """
        where = list(link.path.parent.parts)
        todo = list(reversed(link.link.split("/")))
        hops = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not where:
                    raise self._refuse(
                        f"symlink {link.path} -> {link.link!r} points outside the folder the archive unpacks "
                        "into, once the archive's own links are followed"
                    )
                where.pop()
                continue
            where.append(part)
            found = self.entries.get(PurePosixPath(*where))
            if found is not None and found.kind == "symlink":
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise self._refuse(
                        f"symlink {link.path} -> {link.link!r} goes round a loop of links (more than "
                        f"{MAX_LINK_HOPS} followed)"
                    )
                where.pop()
                todo.extend(reversed(found.link.split("/")))

    def folders(self) -> list[PurePosixPath]:
        """Every folder to create, named or implied, parents before children."""
        named = [p for p, e in self.entries.items() if e.kind == "dir"]
        return sorted({*named, *self.implied}, key=lambda p: (len(p.parts), p.parts))
