"""The platform -> asset table, and where the cache lives."""

from __future__ import annotations

import platform
from pathlib import Path

import platformdirs
import pytest

from openai_api_simulator import paths
from openai_api_simulator.provision import platforms, settings
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


def test_cache_dir_defaults_to_platformdirs_and_env_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OAS_CACHE_DIR", raising=False)
    assert paths.cache_dir() == platformdirs.user_cache_path("openai-api-simulator", appauthor=False)
    monkeypatch.setenv("OAS_CACHE_DIR", str(tmp_path / "c"))
    assert paths.cache_dir() == tmp_path / "c"
    assert paths.models_dir() == tmp_path / "c" / "models"
    assert paths.llama_dir() == tmp_path / "c" / "llama.cpp"


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HF_ENDPOINT", "OAS_LLAMA_RELEASE_URL", "OAS_GITHUB_API_URL", "OAS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    assert settings.hf_endpoint() == "https://huggingface.co"
    assert settings.release_url() == "https://github.com/ggml-org/llama.cpp"
    assert settings.github_api_url() == "https://api.github.com"
    assert settings.offline() is False
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.test/")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert settings.hf_endpoint() == "https://hf-mirror.test"
    assert settings.hf_endpoint("https://flag.test") == "https://flag.test"
    assert settings.offline() is True
    assert settings.offline(False) is False  # an explicit argument wins over the environment
