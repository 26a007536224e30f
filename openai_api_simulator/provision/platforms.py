"""Which llama.cpp release asset runs on this machine.

llama.cpp publishes one archive per platform and backend for every ``bNNNN`` tag
(``.github/workflows/release.yml`` in ggml-org/llama.cpp). Linux and macOS builds are ``.tar.gz`` with a
top folder ``llama-bNNNN/``; Windows builds are ``.zip`` without one. The table below is the whole of what
this package knows; anything else gets an error that lists the supported combinations, so a user on an
odd machine learns at once to pass ``--llama-server PATH``.
"""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import Final

from .errors import UnsupportedPlatform


@dataclass(frozen=True)
class Platform:
    """An operating system and CPU architecture, in this package's spelling."""

    system: str  # "linux" | "darwin" | "windows"
    machine: str  # "x86_64" | "arm64"

    def __str__(self) -> str:
        return f"{self.system}-{self.machine}"


@dataclass(frozen=True)
class AssetSpec:
    """How one release asset is named and what it runs on."""

    platform: Platform
    variant: str  # "" for the default build of the platform
    suffix: str  # the part after "llama-{tag}-bin-", e.g. "ubuntu-x64.tar.gz"
    backend: str  # what the build accelerates with: cpu, metal, vulkan, ...

    def name(self, tag: str) -> str:
        return f"llama-{tag}-bin-{self.suffix}"


_LINUX_X64: Final = Platform("linux", "x86_64")
_LINUX_ARM: Final = Platform("linux", "arm64")
_MAC_ARM: Final = Platform("darwin", "arm64")
_MAC_X64: Final = Platform("darwin", "x86_64")
_WIN_X64: Final = Platform("windows", "x86_64")

# (platform, variant) -> asset. The empty variant is what users get without asking.
ASSETS: Final[dict[tuple[Platform, str], AssetSpec]] = {
    (spec.platform, spec.variant): spec
    for spec in (
        AssetSpec(_LINUX_X64, "", "ubuntu-x64.tar.gz", "cpu"),
        AssetSpec(_LINUX_X64, "vulkan", "ubuntu-vulkan-x64.tar.gz", "vulkan"),
        AssetSpec(_LINUX_ARM, "", "ubuntu-arm64.tar.gz", "cpu"),
        # The macOS arm64 build carries the Metal backend; the Intel one runs on the CPU.
        AssetSpec(_MAC_ARM, "", "macos-arm64.tar.gz", "metal"),
        AssetSpec(_MAC_X64, "", "macos-x64.tar.gz", "cpu"),
        AssetSpec(_WIN_X64, "", "win-cpu-x64.zip", "cpu"),
        AssetSpec(_WIN_X64, "vulkan", "win-vulkan-x64.zip", "vulkan"),
    )
}

_SYSTEMS: Final = {"linux": "linux", "darwin": "darwin", "windows": "windows"}
_MACHINES: Final = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "arm64": "arm64",
    "aarch64": "arm64",
    "armv8": "arm64",
}


def current_platform() -> Platform:
    """This machine, normalised (``AMD64`` → ``x86_64``, ``aarch64`` → ``arm64``)."""
    system = _platform.system().lower()
    machine = _platform.machine().lower()
    return Platform(_SYSTEMS.get(system, system), _MACHINES.get(machine, machine))


def supported() -> list[str]:
    """Human-readable list of what the table covers."""
    return sorted(f"{p}" + (f" (--llama-variant {v})" if v else "") for p, v in ASSETS)


def asset_for(plat: Platform | None = None, variant: str | None = None) -> AssetSpec:
    """The asset for `plat` (default: this machine) and `variant` (default: the plain build)."""
    plat = plat or current_platform()
    key = (plat, (variant or "").strip().lower())
    spec = ASSETS.get(key)
    if spec is None:
        wanted = f"{plat}" + (f" with variant {variant!r}" if variant else "")
        raise UnsupportedPlatform(
            f"No llama.cpp release build for {wanted}. Supported: {', '.join(supported())}. "
            "Build llama-server yourself and pass --llama-server PATH."
        )
    return spec
