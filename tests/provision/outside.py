"""A record of the filesystem around a target folder, for "nothing outside was written or changed" checks.

`snapshot` notes, for every path under a root (without following links), what a write, a chmod, a new hard
link, a rename or a replacement would change: type and mode bits, inode, link count, size, modification and
status-change times, and the content (the bytes' hash, or a link's target). Two snapshots compare equal only if
nothing under the root was created, removed or touched in between; reading leaves them equal.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

Record = tuple[int, int, int, int, int, int, str]


def _record(path: Path) -> Record:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        content = "-> " + os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        content = hashlib.sha256(path.read_bytes()).hexdigest()
    else:
        content = ""
    return (st.st_mode, st.st_ino, st.st_nlink, st.st_size, st.st_mtime_ns, st.st_ctime_ns, content)


def snapshot(root: Path, *, exclude: Iterable[Path] = ()) -> dict[str, Record]:
    """Every path under `root` (and `root` itself), except the `exclude` folders and what lies below them."""
    skip = set(exclude)
    found: dict[str, Record] = {".": _record(root)}
    for folder, dirs, files in os.walk(root):  # os.walk does not descend into symlinked folders
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d not in skip]
        for name in [*dirs, *files]:
            path = here / name
            found[str(path.relative_to(root))] = _record(path)
    return found


def changes(before: dict[str, Record], after: dict[str, Record]) -> list[str]:
    """What differs, one line per path: new, gone or changed (empty when nothing did)."""
    lines = [f"new: {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"gone: {p}" for p in sorted(before.keys() - after.keys())]
    lines += [
        f"changed: {p} {before[p]} -> {after[p]}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]
    ]
    return lines
