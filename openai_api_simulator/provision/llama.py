"""Install llama.cpp's ``llama-server`` from a release into the cache, or check one the user has.

Layout: ``<cache>/llama.cpp/<tag>-bin-<platform>/`` holds the whole unpacked archive plus
``manifest.json`` (tag, asset, URL, archive SHA256 and size, install time, relative path of the
binary, its ``--version`` line). Each tag and asset gets its own folder, so installing a newer build
never touches the one that works.

Installing: download the archive (verified, see `download`), unpack it into a ``.staging-*`` folder,
find ``llama-server``, run ``llama-server --version``, write the manifest, then rename the staging
folder into place. Only a folder that passed all of that carries a manifest under its final name, so
a crash or a broken build can never replace a working install.

Reuse is cheap: a manifest, a binary of the recorded size with its execute bit - no process is started
and no request made. A cached build is used as is unless ``ProvisionOptions(update=True)`` asks for the
latest release.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal

import httpx

from .. import paths
from . import settings
from .archive import extract
from .download import download, make_client
from .errors import BinaryCheckFailed, DownloadError, OfflineError, ReleaseError
from .files import check_disk_space, file_lock, meta_path, write_json_atomic
from .options import LlamaSource, ProvisionOptions
from .platforms import AssetSpec, asset_for
from .releases import ResolvedAsset, resolve_asset, validate_tag

log = logging.getLogger(__name__)

MANIFEST: Final = "manifest.json"
# A healthy llama-server prints its version in well under a second; a minute covers a cold disk
# and a slow antivirus scan on first run without hanging forever on a binary that blocks.
VERSION_TIMEOUT: Final = 60.0
# Unpacked release folders are a few times their .tar.gz; ask for that much room before unpacking.
UNPACK_FACTOR: Final = 4
_SERVER_NAMES: Final = ("llama-server", "llama-server.exe")


@dataclass(frozen=True)
class LlamaInstall:
    """A llama-server binary that ran ``--version`` successfully."""

    server: Path  # the executable
    version: str  # its ``--version`` line, e.g. "version: 0.6.0-dev (build 11434 ...)"
    backend: str  # cpu | metal | vulkan | ... | unknown (for a user-supplied binary)
    source: Literal["cache", "download", "user"]
    tag: str | None = None  # bNNNN; None for a user-supplied binary
    asset: str | None = None  # release asset name it was unpacked from
    root: Path | None = None  # install folder in the cache


def install_key(asset_name: str) -> str:
    """Folder name for an asset: ``llama-b1-bin-ubuntu-x64.tar.gz`` -> ``b1-bin-ubuntu-x64``."""
    key = asset_name.removeprefix("llama-")
    for suffix in (".tar.gz", ".tgz", ".zip"):
        key = key.removesuffix(suffix)
    return key


def _suffix_key(spec: AssetSpec) -> str:
    return install_key(spec.name("TAG")).removeprefix("TAG-")


def check_server(path: Path) -> str:
    """Run ``path --version``; return its version line or raise `BinaryCheckFailed`."""
    if not path.is_file():
        raise BinaryCheckFailed(f"llama-server not found at {path}.")
    try:
        proc = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=VERSION_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BinaryCheckFailed(f"{path} --version did not finish within {VERSION_TIMEOUT:.0f} s.") from None
    except OSError as exc:
        raise BinaryCheckFailed(
            f"{path} cannot be run ({exc}). It may be built for another platform or lack the execute "
            "permission; pass a working binary with --llama-server PATH."
        ) from exc
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-8:])
        raise BinaryCheckFailed(
            f"{path} --version exited with status {proc.returncode}. Its output:\n{tail}\n"
            "A missing shared library or a CPU without the required instructions are the usual causes; "
            "pass a binary built for this machine with --llama-server PATH."
        )
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("version")), lines[0] if lines else "unknown")


def _read_install(root: Path) -> LlamaInstall | None:
    """The install in `root` if its manifest and binary are intact (cheap: no process started)."""
    try:
        manifest: Any = json.loads((root / MANIFEST).read_text())
        server = root / manifest["server"]
        stat = server.stat()
        if stat.st_size != manifest["server_size"] or not os.access(server, os.X_OK):
            return None
        return LlamaInstall(
            server=server,
            version=str(manifest["version"]),
            backend=str(manifest["backend"]),
            source="cache",
            tag=str(manifest["tag"]),
            asset=str(manifest["asset"]),
            root=root,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def installed(spec: AssetSpec, tag: str | None = None) -> LlamaInstall | None:
    """The cached install of `tag` (or the newest tag) for `spec`, if intact."""
    base = paths.llama_dir()
    if tag is not None:
        return _read_install(base / install_key(spec.name(tag)))
    if not base.is_dir():
        return None
    pattern = re.compile(rf"^b(\d+)-{re.escape(_suffix_key(spec))}$")
    found = []
    for child in base.iterdir():
        match = pattern.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
    for _, root in sorted(found, reverse=True):
        hit = _read_install(root)
        if hit is not None:
            return hit
    return None


def installed_all() -> list[LlamaInstall]:
    """Every intact install in the cache, any platform (for ``cache list``)."""
    base = paths.llama_dir()
    if not base.is_dir():
        return []
    hits = (_read_install(child) for child in sorted(base.iterdir()) if not child.name.startswith("."))
    return [hit for hit in hits if hit is not None]


def find_server(root: Path) -> Path:
    """The llama-server binary inside an unpacked release (shallowest match)."""
    matches = [p for p in root.rglob("*") if p.name in _SERVER_NAMES and p.is_file()]
    if not matches:
        raise ReleaseError(f"The release unpacked in {root} contains no llama-server binary.")
    return min(matches, key=lambda p: (len(p.relative_to(root).parts), str(p)))


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`; a previous (broken) folder there is removed only afterwards."""
    trash: Path | None = None
    if target.exists():
        trash = target.with_name(f".trash-{target.name}-{secrets.token_hex(4)}")
        os.rename(target, trash)
    try:
        os.rename(staging, target)
    except OSError:
        if trash is not None:
            os.rename(trash, target)
        raise
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _install(client: httpx.Client, spec: AssetSpec, resolved: ResolvedAsset, options: ProvisionOptions) -> LlamaInstall:
    base = paths.llama_dir()
    key = install_key(resolved.name)
    target = base / key
    with file_lock(base / f".{key}.lock", options.progress, what=f"llama.cpp {resolved.tag}"):
        again = _read_install(target)
        if again is not None:  # another run installed it while we waited for the lock
            return again
        for leftover in base.glob(f".staging-{key}-*"):  # from a run that crashed mid-install
            shutil.rmtree(leftover, ignore_errors=True)
        archive = paths.downloads_dir() / resolved.name
        result = download(
            resolved.url,
            archive,
            sha256=resolved.sha256,
            allow_unverified=options.allow_unverified,
            client=client,
            progress=options.progress,
            label=resolved.name,
            retry=options.retry,
        )
        check_disk_space(base, result.size * UNPACK_FACTOR, what=f"unpacking {archive}")
        staging = base / f".staging-{key}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            extract(archive, staging)
            server = find_server(staging)
            server.chmod(server.stat().st_mode | 0o111)
            try:
                version = check_server(server)
            except BinaryCheckFailed as exc:
                raise BinaryCheckFailed(
                    f"The llama-server in {resolved.name} (release {resolved.tag}) does not run here, so it "
                    f"was not installed; any earlier install is untouched. Pin another release with "
                    f"--llama-version, or pass --llama-server PATH. Details: {exc}"
                ) from exc
            manifest = {
                "tag": resolved.tag,
                "asset": resolved.name,
                "url": resolved.url,
                "archive_sha256": result.sha256,
                "archive_size": result.size,
                "verified_by": result.verified_by,
                "backend": spec.backend,
                "server": server.relative_to(staging).as_posix(),
                "server_size": server.stat().st_size,
                "version": version,
                "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            write_json_atomic(staging / MANIFEST, manifest)
            _swap_into_place(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        # Installed and recorded (the archive's hash is in the manifest): the archive is no longer needed.
        archive.unlink(missing_ok=True)
        meta_path(archive).unlink(missing_ok=True)
    done = _read_install(target)
    if done is None:  # pragma: no cover - the folder was just verified
        raise ReleaseError(f"The install in {target} vanished right after it was made.")
    return LlamaInstall(
        server=done.server,
        version=done.version,
        backend=done.backend,
        source="download",
        tag=done.tag,
        asset=done.asset,
        root=done.root,
    )


def ensure_llama_server(
    source: LlamaSource = LlamaSource(), options: ProvisionOptions = ProvisionOptions()
) -> LlamaInstall:
    """A runnable llama-server: the user's (`source.server`), a cached build, or a fresh install.

    `source.version` pins a tag (``b11434``); otherwise a cached build is used as is, and only
    `options.update` (or an empty cache) asks for the latest release. `source.variant` picks e.g. the
    Vulkan build. Offline, only the cache is used and `OfflineError` names what is missing; when the
    network fails during an update, a cached build is used with a warning.
    """
    if source.server is not None:
        path = source.server.expanduser().absolute()
        return LlamaInstall(server=path, version=check_server(path), backend="unknown", source="user")
    spec = asset_for(source.platform, source.variant)
    tag = validate_tag(source.version) if source.version else None
    hit = installed(spec, tag)
    if hit is not None and not (options.update and tag is None):
        return hit
    if settings.offline(options.offline):
        if hit is not None:
            return hit
        wanted = f"llama.cpp {tag}" if tag else "a llama.cpp build"
        raise OfflineError(
            f"Offline, and the cache ({paths.llama_dir()}) holds no {wanted} for {spec.platform}"
            f"{' (' + spec.backend + ')' if spec.variant else ''}. Run `openai-api-simulator pull` with "
            "network access first, or pass an existing binary with --llama-server PATH."
        )
    base = settings.release_url(source.release_url)
    api = settings.github_api_url(source.api_url)
    http = options.client or make_client()
    try:
        try:
            resolved = resolve_asset(
                http, spec, base_url=base, api_url=api, tag=tag, need_digest=not options.allow_unverified
            )
        except (ReleaseError, httpx.TransportError) as exc:
            if hit is not None:
                log.warning("Cannot check %s for a newer llama.cpp (%s); using cached %s", base, exc, hit.tag)
                options.progress.note(f"warning: cannot check for a newer llama.cpp ({exc}); using cached {hit.tag}")
                return hit
            if isinstance(exc, httpx.TransportError):
                raise DownloadError(
                    f"Cannot reach {base} ({type(exc).__name__}: {exc}). Check the network or "
                    "--llama-release-url, or pass an existing binary with --llama-server PATH.",
                    url=base,
                ) from exc
            raise
        existing = installed(spec, resolved.tag)
        if existing is not None:
            return existing
        return _install(http, spec, resolved, options)
    finally:
        if options.client is None:
            http.close()
