"""The platform -> asset table and the normalisation of this machine's OS and CPU names."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from openai_api_simulator.provision import platforms
from openai_api_simulator.provision.archive import archive_kind
from openai_api_simulator.provision.errors import UnsupportedPlatform
from openai_api_simulator.provision.platforms import Platform, asset_for


@pytest.mark.parametrize(
    ("system", "machine", "variant", "name", "backend"),
    [
        ("linux", "x86_64", None, "llama-b1-bin-ubuntu-x64.tar.gz", "cpu"),
        ("linux", "x86_64", "vulkan", "llama-b1-bin-ubuntu-vulkan-x64.tar.gz", "vulkan"),
        ("linux", "arm64", None, "llama-b1-bin-ubuntu-arm64.tar.gz", "cpu"),
        ("darwin", "arm64", None, "llama-b1-bin-macos-arm64.tar.gz", "metal"),
        ("darwin", "x86_64", None, "llama-b1-bin-macos-x64.tar.gz", "cpu"),
        ("windows", "x86_64", None, "llama-b1-bin-win-cpu-x64.zip", "cpu"),
    ],
)
def test_asset_table(system: str, machine: str, variant: str | None, name: str, backend: str) -> None:
    spec = asset_for(Platform(system, machine), variant)
    kind = "zip" if name.endswith(".zip") else "tar"
    assert (spec.name("b1"), spec.backend, archive_kind(Path(spec.name("b1")))) == (name, backend, kind)


@pytest.mark.parametrize(
    ("plat", "variant"),
    [
        (Platform("freebsd", "x86_64"), None),
        (Platform("linux", "riscv64"), None),
        (Platform("darwin", "arm64"), "cuda"),
    ],
)
def test_unsupported_platform_lists_what_is_supported(plat: Platform, variant: str | None) -> None:
    with pytest.raises(UnsupportedPlatform) as info:
        asset_for(plat, variant)
    message = str(info.value)
    assert str(plat) in message
    assert "linux-x86_64 (--llama-variant vulkan)" in message
    assert "darwin-arm64" in message
    assert "--llama-server PATH" in message


@pytest.mark.parametrize(
    ("system", "machine", "expected"),
    [("Linux", "aarch64", "linux-arm64"), ("Windows", "AMD64", "windows-x86_64"), ("Darwin", "arm64", "darwin-arm64")],
)
def test_current_platform_is_normalised(
    monkeypatch: pytest.MonkeyPatch, system: str, machine: str, expected: str
) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    assert str(platforms.current_platform()) == expected
