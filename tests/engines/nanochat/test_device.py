"""Where nanochat runs and in which precision: every decision, on hardware described rather than present."""

from __future__ import annotations

from pathlib import Path

import pytest

from openai_api_simulator.engines.nanochat.device import (
    DeviceUnavailable,
    Hardware,
    Placement,
    cpu_flags,
    place,
    probe,
)

PLAIN_CPU = Hardware(cuda=False, cuda_bf16=False, mps=False, cpu_flags=frozenset({"avx2", "fma"}))
AMX_CPU = Hardware(cuda=False, cuda_bf16=False, mps=False, cpu_flags=frozenset({"avx2", "amx_bf16", "amx_tile"}))
AMPERE = Hardware(cuda=True, cuda_bf16=True, mps=False, cpu_flags=frozenset())
TURING = Hardware(cuda=True, cuda_bf16=False, mps=False, cpu_flags=frozenset())
APPLE = Hardware(cuda=False, cuda_bf16=False, mps=True, cpu_flags=frozenset())


@pytest.mark.parametrize(
    ("hardware", "expected"),
    [
        (AMPERE, Placement("cuda", "bfloat16")),
        (TURING, Placement("cuda", "float16")),  # no native bf16 before Ampere
        (APPLE, Placement("mps", "float16")),
        (AMX_CPU, Placement("cpu", "bfloat16")),  # oneDNN runs bf16 natively there, and reads half the bytes
        (PLAIN_CPU, Placement("cpu", "float32")),  # emulated bf16 would be slower than fp32
    ],
)
def test_auto_picks_cuda_then_mps_then_cpu_in_their_fast_precision(hardware: Hardware, expected: Placement) -> None:
    assert place("auto", "auto", hardware) == expected


def test_explicit_choices_win_and_impossible_ones_are_explained() -> None:
    assert place("cpu", "auto", AMPERE) == Placement("cpu", "float32")
    assert place("auto", "float32", AMPERE) == Placement("cuda", "float32")
    assert place("cuda", "bfloat16", AMPERE).label == "CUDA"
    with pytest.raises(DeviceUnavailable, match="no CUDA GPU"):
        place("cuda", "auto", PLAIN_CPU)
    with pytest.raises(DeviceUnavailable, match="macOS on Apple Silicon"):
        place("mps", "auto", AMPERE)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 amx_bf16\nbugs\t: none\n")
    assert cpu_flags(info) == frozenset({"fpu", "sse", "avx2", "amx_bf16"})
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_this_machine_is_described_as_torch_sees_it() -> None:
    import torch

    here = probe()
    assert here.cuda == torch.cuda.is_available()
    assert place("auto", "auto", here).device == ("cuda" if here.cuda else "mps" if here.mps else "cpu")
