"""The llama.cpp engine: every launch decision, on every platform, without a GPU; its identity and report."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from openai_api_simulator.engines.base import Identity, physical_cores
from openai_api_simulator.engines.llama import (
    GpuMode,
    LlamaConfig,
    LlamaEngine,
    LlamaOptions,
    LlamaPrepared,
    build_label,
    build_launch,
)
from openai_api_simulator.provision import LlamaInstall, ModelFile, Platform
from openai_api_simulator.provision.catalog import get_entry

MAC_ARM = Platform("darwin", "arm64")
MAC_X64 = Platform("darwin", "x86_64")
LINUX = Platform("linux", "x86_64")


def _install(backend: str = "cpu") -> LlamaInstall:
    return LlamaInstall(
        server=Path("/opt/llama/llama-server"),
        version="version: 1 (build 1)",
        backend=backend,
        source="cache",
        tag="b11434",
    )


def _model(size: int = 98_000_000) -> ModelFile:
    return ModelFile(path=Path("/models/m.gguf"), name="m", size=size, sha256=None, source="/models/m.gguf")


def _arg(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize(
    ("platform", "backend", "gpu_mode", "offload", "label"),
    [
        (MAC_ARM, "metal", "auto", "999", "Metal"),
        (MAC_ARM, "unknown", "auto", "999", "Metal"),  # Metal is in every Apple Silicon build
        (MAC_X64, "cpu", "auto", "0", "CPU"),
        (LINUX, "cpu", "auto", "0", "CPU"),
        (LINUX, "vulkan", "auto", "999", "Vulkan"),
        (LINUX, "cuda", "auto", "999", "CUDA"),
        (LINUX, "vulkan", "off", "0", "CPU"),
        (LINUX, "cpu", "on", "999", "GPU"),
    ],
)
def test_gpu_offload_decision(
    platform: Platform, backend: str, gpu_mode: str, offload: str, label: str, tmp_path: Path
) -> None:
    launch = build_launch(
        _install(backend),
        _model(),
        "m",
        LlamaOptions(gpu=cast(GpuMode, gpu_mode)),
        tmp_path,
        platform=platform,
    )
    argv = list(launch.spec.argv)
    assert _arg(argv, "--n-gpu-layers") == offload
    assert launch.backend == label
    assert _arg(argv, "--parallel") == ("4" if offload != "0" else "2")


def test_command_line_essentials(tmp_path: Path) -> None:
    launch = build_launch(
        _install(), _model(), "smollm2", LlamaOptions(extra_args=("--temp", "0.1")), tmp_path, platform=LINUX
    )
    argv = list(launch.spec.argv)
    assert argv[0] == "/opt/llama/llama-server"
    assert _arg(argv, "--host") == "127.0.0.1"
    assert _arg(argv, "--port") == "{port}"  # the supervisor picks the port per launch
    assert _arg(argv, "--alias") == "smollm2"
    assert _arg(argv, "--model") == "/models/m.gguf"
    assert _arg(argv, "--ctx-size") == "4096"
    assert _arg(argv, "--threads") == str(physical_cores())
    assert "--no-webui" in argv
    assert argv[-2:] == ["--temp", "0.1"]  # passthrough last, so it can override ours
    key = launch.spec.api_key
    assert key and len(key) >= 24
    assert launch.spec.env == {"LLAMA_API_KEY": key}
    assert key not in " ".join(argv)  # never on the command line, where `ps` shows it
    assert launch.spec.log_file.parent == tmp_path


def test_keys_are_random_and_deadline_grows_with_size(tmp_path: Path) -> None:
    a = build_launch(_install(), _model(), "m", LlamaOptions(), tmp_path, platform=LINUX)
    b = build_launch(_install(), _model(5_000_000_000), "m", LlamaOptions(), tmp_path, platform=LINUX)
    assert a.spec.api_key != b.spec.api_key
    assert b.spec.ready_timeout > a.spec.ready_timeout >= 30
    fixed = build_launch(_install(), _model(), "m", LlamaOptions(ready_timeout=7, port=5555), tmp_path, platform=LINUX)
    assert fixed.spec.ready_timeout == 7 and fixed.spec.port == 5555


def test_the_engine_names_the_model_and_its_publisher() -> None:
    entry = get_entry("smollm2-135m")
    assert entry is not None
    engine = LlamaEngine()
    assert engine.identity(LlamaPrepared(_install(), _model())) == Identity("m", "llama.cpp")
    catalogued = ModelFile(path=Path("/c/x.gguf"), name="x", size=1, sha256=None, source="", entry=entry)
    assert engine.identity(LlamaPrepared(_install(), catalogued)) == Identity("smollm2-135m", "HuggingFaceTB")


def test_the_engine_launches_with_its_options_and_labels(tmp_path: Path) -> None:
    engine = LlamaEngine(LlamaConfig(options=LlamaOptions(ctx_size=1024, extra_args=("--x",)), platform=MAC_ARM))
    launch = engine.launch(LlamaPrepared(_install("metal"), _model()), "mine", tmp_path)
    assert (launch.server, launch.device) == ("llama.cpp server b11434", "Metal")
    argv = list(launch.spec.argv)
    assert _arg(argv, "--alias") == "mine" and _arg(argv, "--ctx-size") == "1024" and argv[-1] == "--x"
    user_binary = LlamaInstall(Path("/x/llama-server"), "version: 0.6.0-dev (build 9876 (abc))", "unknown", "user")
    assert build_label(user_binary) == "b9876"
    with pytest.raises(ValueError, match="install"):
        engine.launch(LlamaPrepared(None, _model()), "mine", tmp_path)  # `pull --no-llama` prepared no server


def test_describe_says_what_was_provisioned_and_where() -> None:
    model = ModelFile(path=Path("/c/m.gguf"), name="m", size=12, sha256="ab" * 32, source="")
    lines = LlamaEngine().describe(LlamaPrepared(_install(), model))
    assert lines == [
        "llama-server b11434 (cpu): /opt/llama/llama-server",
        f"model m: /c/m.gguf (12 bytes, sha256 {'ab' * 32})",
    ]
    assert LlamaEngine().describe(LlamaPrepared(None, None)) == []
