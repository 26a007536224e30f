"""The llama.cpp engine: llama-server and a GGUF provisioned, launched and described for `run` and `pull`.

Decisions, each testable without a GPU:

* **Offload**: all layers on the GPU (`-ngl 999`, a number builds of any age accept) on Apple Silicon
  (Metal is built into the macOS arm64 release) or when the installed build names a GPU backend (vulkan,
  cuda, rocm, metal); `-ngl 0` on a CPU build so llama-server does not probe for devices. `--gpu on|off`
  overrides.
* **Threads**: the physical core count — hyper-threads slow llama.cpp's matrix kernels down.
* **Slots**: `-np` parallel slots (2 on a CPU, 4 with a GPU) over one unified KV cache (`--kv-unified`),
  so a lone request can still use the whole `--ctx-size`.
* **Security**: bound to 127.0.0.1 with a random API key passed in the environment (`LLAMA_API_KEY`, not
  on the command line where `ps` shows it), so only the relay can use the internal port. `/health` needs
  no key, which is what the supervisor polls.
* **Deadline**: loading reads the whole GGUF, so the health deadline grows with its size.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final, Literal, TypeVar

from openai_api_simulator.api.endpoints import NAMES
from openai_api_simulator.engines.base import Engine, Identity, Launch, physical_cores
from openai_api_simulator.engines.launch import LaunchSpec
from openai_api_simulator.provision import (
    LlamaInstall,
    LlamaSource,
    ModelFile,
    Platform,
    ProvisionOptions,
    current_platform,
    ensure_llama_server,
    ensure_model,
)

GPU_BACKENDS: Final = frozenset({"metal", "vulkan", "cuda", "rocm", "hip", "sycl"})
DEFAULT_CTX_SIZE: Final = 4096
# Health deadline: a fixed part for process start-up plus loading at a pessimistic 50 MB/s (a slow disk or
# a first read through a cold page cache); 98 MB → 32 s, 5 GB → 130 s.
_BASE_TIMEOUT_S: Final = 30.0
_LOAD_BYTES_PER_S: Final = 50 * 1024 * 1024

GpuMode = Literal["auto", "on", "off"]
T = TypeVar("T")


@dataclass(frozen=True)
class LlamaOptions:
    ctx_size: int = DEFAULT_CTX_SIZE
    threads: int | None = None  # None: physical cores
    gpu: GpuMode = "auto"
    parallel: int | None = None  # None: 2 slots on a CPU, 4 with a GPU
    port: int | None = None  # None: a free port on each launch
    ready_timeout: float | None = None  # None: scaled with the model size
    extra_args: tuple[str, ...] = ()  # passed through after `--`


def uses_gpu(install: LlamaInstall, platform: Platform, mode: GpuMode) -> bool:
    if mode != "auto":
        return mode == "on"
    if platform.system == "darwin" and platform.machine == "arm64":
        return True
    return install.backend in GPU_BACKENDS


def backend_label(install: LlamaInstall, platform: Platform, gpu: bool) -> str:
    """What the start-up line says the model runs on: Metal, Vulkan, CUDA … or CPU."""
    if not gpu:
        return "CPU"
    if platform.system == "darwin":
        return "Metal"
    names = {"vulkan": "Vulkan", "cuda": "CUDA", "rocm": "ROCm", "hip": "ROCm", "sycl": "SYCL", "metal": "Metal"}
    return names.get(install.backend, "GPU")


def ready_timeout(model: ModelFile) -> float:
    return _BASE_TIMEOUT_S + model.size / _LOAD_BYTES_PER_S


@dataclass(frozen=True)
class LlamaLaunch:
    spec: LaunchSpec
    backend: str  # for the start-up line
    gpu: bool


def build_launch(
    install: LlamaInstall,
    model: ModelFile,
    public_id: str,
    options: LlamaOptions,
    log_dir: Path,
    *,
    platform: Platform | None = None,
    api_key: str | None = None,
) -> LlamaLaunch:
    platform = platform or current_platform()
    gpu = uses_gpu(install, platform, options.gpu)
    threads = options.threads or physical_cores()
    parallel = options.parallel or (4 if gpu else 2)
    argv: list[str] = [
        str(install.server),
        "--host", "127.0.0.1",
        "--port", "{port}",
        "--model", str(model.path),
        "--alias", public_id,
        "--ctx-size", str(options.ctx_size),
        "--parallel", str(parallel),
        "--kv-unified",
        "--threads", str(threads),
        "--n-gpu-layers", "999" if gpu else "0",
        "--no-webui",
        "--metrics",
        *options.extra_args,
    ]  # fmt: skip
    key = api_key or secrets.token_urlsafe(24)
    spec = LaunchSpec(
        name=public_id,
        argv=argv,
        log_file=log_dir / f"llama-server-{_file_safe(public_id)}.log",
        port=options.port,
        env={"LLAMA_API_KEY": key},
        ready_timeout=options.ready_timeout or ready_timeout(model),
        api_key=key,
    )
    return LlamaLaunch(spec=spec, backend=backend_label(install, platform, gpu), gpu=gpu)


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def build_label(install: LlamaInstall) -> str:
    """`b11434`, or the build a user's own binary reports (`version: 0.6.0-dev (build 11434, …)`)."""
    if install.tag:
        return install.tag
    match = re.search(r"build (\d+)", install.version)
    return f"b{match.group(1)}" if match else install.version.removeprefix("version: ")


def default_model_id(model: ModelFile) -> str:
    """The id clients send in `model` unless the user names one: the catalogue id, else the file name."""
    if model.entry is not None:
        return model.entry.id
    return model.path.name.removesuffix(".gguf")


@dataclass(frozen=True)
class LlamaConfig:
    """The llama.cpp engine's own settings: where llama-server comes from and how it is started."""

    source: LlamaSource = field(default_factory=LlamaSource)
    options: LlamaOptions = field(default_factory=LlamaOptions)
    platform: Platform | None = None  # None: this machine


@dataclass(frozen=True)
class LlamaPrepared:
    """What `provision` got: the server, the model, either left out when not asked for."""

    install: LlamaInstall | None
    model: ModelFile | None


class LlamaEngine(Engine[LlamaPrepared]):
    """llama.cpp's llama-server, serving one GGUF on a private port."""

    kind: ClassVar[str] = "llama.cpp"
    # llama-server answers all four; `/v1/embeddings` says 501 itself unless started with `--embeddings`.
    capabilities: ClassVar[frozenset[str]] = NAMES

    def __init__(self, config: LlamaConfig | None = None) -> None:
        self.config = config or LlamaConfig()

    def provision(
        self, spec: str | None, options: ProvisionOptions, *, runtime: bool = True, weights: bool = True
    ) -> LlamaPrepared:
        install = ensure_llama_server(self.config.source, options) if runtime else None
        model = ensure_model(spec, options) if weights else None
        return LlamaPrepared(install, model)

    def identity(self, prepared: LlamaPrepared) -> Identity:
        model = _required(prepared.model, "model")
        owner = model.entry.owner if model.entry is not None and model.entry.owner else "llama.cpp"
        return Identity(default_model_id(model), owner)

    def launch(self, prepared: LlamaPrepared, model_id: str, log_dir: Path) -> Launch:
        install = _required(prepared.install, "install")
        launch = build_launch(
            install, _required(prepared.model, "model"), model_id, self.config.options, log_dir,
            platform=self.config.platform,
        )  # fmt: skip
        return Launch(launch.spec, server=f"llama.cpp server {build_label(install)}", device=launch.backend)

    def describe(self, prepared: LlamaPrepared) -> list[str]:
        lines = []
        if prepared.install is not None:
            install = prepared.install
            lines.append(f"llama-server {install.tag or 'user binary'} ({install.backend}): {install.server}")
        if prepared.model is not None:
            model = prepared.model
            digest = f", sha256 {model.sha256}" if model.sha256 else ""
            lines.append(f"model {model.name}: {model.path} ({model.size} bytes{digest})")
        return lines


def _required(value: T | None, what: str) -> T:
    if value is None:  # provision(runtime=False / weights=False) is for `pull`; a launch needs both
        raise ValueError(f"llama.cpp: the {what} was not provisioned")
    return value
