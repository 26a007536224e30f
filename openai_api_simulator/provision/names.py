"""Names that become cache paths: Hugging Face repositories, revisions, files in a repository, URL file names.

Every one of them comes from a user (a model spec, a catalogue entry) or a server (a repository listing), and
every one is joined onto a cache folder. So each is checked here, before any path is built, against one rule:
joined onto a folder, it names something inside that folder on every supported OS. That means no ``..`` or
``.`` segment, no empty segment (``a//b``, a leading or trailing ``/``), nothing absolute, no backslash (a
separator on Windows), no ``:`` (a drive or an NTFS stream there), and no control character or NUL.

A revision is the one name that may legitimately hold ``/`` (``refs/pr/1``). It is never used as path
segments: `revision_folder` percent-encodes it into one folder name, which cannot clash with another
revision (``refs--pr--1`` stays ``refs--pr--1``) the way replacing ``/`` with ``--`` did.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

from .errors import ModelSpecError

# What the Hub allows in an owner or repository name (it is stricter still; this is what keeps paths safe).
_REPO_PART_RE: Final = re.compile(r"^[A-Za-z0-9._-]+$")
# Characters git refuses in a ref name (git check-ref-format), besides control characters.
_REF_FORBIDDEN: Final = frozenset(" ~^:?*[\\")
# Characters no path segment may hold: separators (both kinds), drive/stream colons.
_SEGMENT_FORBIDDEN: Final = frozenset("/\\:")
# Longest file name the common filesystems take (ext4, APFS, NTFS: 255).
_MAX_NAME: Final = 255


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def safe_segment(name: str) -> bool:
    """Whether `name` is one path segment that stays where it is joined: not empty, ``.``, ``..`` or odd."""
    return (
        name not in ("", ".", "..")
        and len(name.encode("utf-8", "surrogateescape")) <= _MAX_NAME
        and not _has_control(name)
        and not any(c in _SEGMENT_FORBIDDEN for c in name)
    )


def split_repo(repo: str) -> tuple[str, str]:
    """(owner, name) of ``owner/name``; `ModelSpecError` for anything that could leave the cache folder."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(_REPO_PART_RE.match(p) and ".." not in p and p != "." for p in parts):
        raise ModelSpecError(
            f"{repo!r} is not a Hugging Face repository name: expected OWNER/NAME, each made of letters, "
            "digits, '.', '_' and '-' (no '..'), like sdobson/nanochat."
        )
    return parts[0], parts[1]


def check_revision(revision: str) -> str:
    """`revision` if it is a plausible branch, tag or commit; `ModelSpecError` otherwise.

    The rules are git's own for ref names where they matter for paths and URLs: no ``..``, no leading,
    trailing or doubled ``/``, no part starting with ``.``, no control characters, spaces or backslashes.
    """
    bad = (
        not revision
        or ".." in revision
        or revision.startswith("/")
        or revision.endswith("/")
        or "//" in revision
        or any(part.startswith(".") for part in revision.split("/"))
        or _has_control(revision)
        or any(c in _REF_FORBIDDEN for c in revision)
    )
    if bad:
        raise ModelSpecError(
            f"{revision!r} is not a revision: use a branch or tag name (like main or v1.0, with no '..', "
            "spaces or control characters, and '/' only between parts) or a 40-digit commit hash."
        )
    return revision


def revision_folder(revision: str) -> str:
    """The one folder name that stands for `revision` in the cache (``refs/pr/1`` -> ``refs%2Fpr%2F1``).

    Percent-encoding is reversible, so two revisions never share a folder; the result has no separator and,
    because `check_revision` refuses a leading ``.``, is never ``.`` or ``..``.
    """
    return quote(check_revision(revision), safe="")


def check_repo_path(path: str, repo: str) -> tuple[str, ...]:
    """The segments of a file path inside a repository; refuses anything absolute or climbing out."""
    parts = path.split("/")
    if not path or not all(safe_segment(part) for part in parts):
        raise ModelSpecError(
            f"{path!r} is not a file path inside {repo}: expected a relative path such as "
            "model_000650.pt or sub/config.json (no '..' or '.' parts, no leading, trailing or doubled '/', "
            "no '\\', ':' or control characters)."
        )
    return tuple(parts)


def url_file_name(name: str, default: str) -> str:
    """`name` (the last segment of a URL's path) if it is a safe file name, else `default`."""
    return name if safe_segment(name) else default
