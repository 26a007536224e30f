"""Where nanochat runs and in which precision, decided once (by the orchestrator, passed to the engine).

* **Device**: `auto` takes CUDA when torch sees a GPU, else Apple's MPS, else the CPU; `cuda`, `mps` and `cpu`
  are taken as asked, with a clear error when torch cannot use that device here.
* **Precision**: `auto` is bfloat16 where the hardware computes it natively - a CUDA GPU that supports it, a CPU
  with AVX512-BF16 or AMX (oneDNN then runs bf16 matrix products at full speed, and the weights read per token
  halve) - float16 on MPS, float32 otherwise (bf16 emulated on an older CPU is slower than fp32).
* **Threads**: the physical core count, as for llama-server: hyper-threads slow the matrix kernels down.

The decisions take what they look at as arguments, so each is tested without a GPU.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

DeviceChoice = Literal["auto", "cpu", "cuda", "mps"]
DtypeChoice = Literal["auto", "float32", "bfloat16", "float16"]
DEVICES: Final = ("auto", "cpu", "cuda", "mps")
DTYPES: Final = ("auto", "float32", "bfloat16", "float16")
# CPU features (as Linux /proc/cpuinfo names them) with native bf16 matrix arithmetic.
BF16_CPU_FLAGS: Final = frozenset({"avx512_bf16", "amx_bf16"})
LABELS: Final = {"cuda": "CUDA", "mps": "MPS", "cpu": "CPU"}


class DeviceUnavailable(ValueError):
    """The device asked for is not one torch can use on this machine."""


@dataclass(frozen=True)
class Placement:
    device: str  # cpu | cuda | mps
    dtype: str  # float32 | bfloat16 | float16

    @property
    def label(self) -> str:
        """What the start-up line says: CUDA, MPS or CPU."""
        return LABELS[self.device]


@dataclass(frozen=True)
class Hardware:
    """What the decisions look at."""

    cuda: bool
    cuda_bf16: bool
    mps: bool
    cpu_flags: frozenset[str]


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags where the OS lists them (Linux); empty elsewhere."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def probe() -> Hardware:
    """This machine, as torch sees it (imports torch)."""
    import torch

    cuda = bool(torch.cuda.is_available())
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return Hardware(
        cuda=cuda,
        cuda_bf16=cuda and bool(torch.cuda.is_bf16_supported()),
        mps=mps,
        cpu_flags=cpu_flags() if sys.platform.startswith("linux") else frozenset(),
    )


def place(device: DeviceChoice, dtype: DtypeChoice, hardware: Hardware) -> Placement:
    """The device and precision for the asked-for choices on `hardware` (see the module docstring)."""
    if device == "auto":
        chosen = "cuda" if hardware.cuda else "mps" if hardware.mps else "cpu"
    elif device == "cuda" and not hardware.cuda:
        raise DeviceUnavailable("--device cuda: torch sees no CUDA GPU here (a CPU-only torch build, or no driver).")
    elif device == "mps" and not hardware.mps:
        raise DeviceUnavailable("--device mps: Apple's MPS is not available here (it needs macOS on Apple Silicon).")
    else:
        chosen = device
    if dtype != "auto":
        return Placement(chosen, dtype)
    if chosen == "cuda":
        return Placement(chosen, "bfloat16" if hardware.cuda_bf16 else "float16")
    if chosen == "mps":
        return Placement(chosen, "float16")
    return Placement(chosen, "bfloat16" if hardware.cpu_flags & BF16_CPU_FLAGS else "float32")
