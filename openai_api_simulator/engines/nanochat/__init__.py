"""The nanochat engine kind: Karpathy's nanochat (`sdobson/nanochat`, 561M) served by a PyTorch engine.

Stock llama.cpp cannot load nanochat's architecture; transformers (>= 5.0) can, as `NanoChatForCausalLM`. So the
model runs in its own process (`server`), supervised like llama-server, on a private port with an internal key;
the app relays `/v1/chat/completions` to it. Provisioning fetches the repository's files through the one
downloader (`provision.hub`): the raw layout nanochat's trainer writes (`model_<step>.pt`, `meta_<step>.json`,
`tokenizer.pkl`; converted once on the engine's first start, `checkpoint`) or a Hugging Face layout
(`config.json`, safetensors weights, a tokenizer) used as it is.

Model specs: the catalogue id `nanochat` (`sdobson/nanochat` on `main`), or `hf://OWNER/REPO[@REVISION]` - a
repository rather than one file, which is how this kind tells its specs from llama.cpp's.

This module imports no torch: the kind is looked up (and `claims` asked) without the optional extra installed,
and `provision` says what to install before anything is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final, Literal

from openai_api_simulator import paths
from openai_api_simulator.engines.base import Engine, Identity, Launch, physical_cores
from openai_api_simulator.engines.launch import LaunchSpec
from openai_api_simulator.engines.nanochat.device import DeviceChoice, DtypeChoice, place, probe
from openai_api_simulator.provision import (
    ModelSpecError,
    ProvisionError,
    ProvisionOptions,
    RepoSnapshot,
    fetch_file,
    get_entry,
    list_repo,
)

KEY_ENV: Final = "OAS_ENGINE_API_KEY"  # the engine server reads its internal key from here
INSTALL: Final = (
    "pip install 'openai-api-simulator[nanochat]' "
    "(with pipx: pipx inject openai-api-simulator torch transformers tiktoken safetensors)"
)
# Health deadline: start-up (importing torch and transformers) plus loading at a pessimistic 50 MB/s; a first
# start also converts the raw checkpoint (read, rename, write safetensors) at about 25 MB/s.
_BASE_TIMEOUT_S: Final = 90.0
_LOAD_BYTES_PER_S: Final = 50 * 1024 * 1024
_CONVERT_BYTES_PER_S: Final = 25 * 1024 * 1024
_SPEC: Final = re.compile(r"^hf://([^/@]+/[^/@]+)/?(?:@(.+))?$")
_RAW_MODEL: Final = re.compile(r"^(?:(.*)/)?model_(\d+)\.pt$")
_PACKAGE_ROOT: Final = Path(__file__).resolve().parents[3]


def conversions_dir() -> Path:
    """Where raw checkpoints are converted, one folder per `OWNER/NAME/COMMIT`."""
    return paths.cache_dir() / "nanochat"


def cached_conversions() -> list[tuple[Path, int]]:
    """Every finished conversion in the cache, with its size in bytes (for `cache list`)."""
    root = conversions_dir()
    if not root.is_dir():
        return []
    found = []
    for marker in sorted(root.glob("*/*/*/conversion.json")):
        folder = marker.parent
        found.append((folder, sum(f.stat().st_size for f in folder.iterdir() if f.is_file())))
    return found


class EngineUnavailable(ProvisionError):
    """The optional packages the nanochat engine needs are not installed."""


def check_extra() -> None:
    """`EngineUnavailable` naming what is missing and the install command, unless the extra is installed."""
    needed = ("torch", "transformers", "tiktoken", "safetensors")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if not missing and importlib.util.find_spec("transformers.models.nanochat") is None:
        missing = ["transformers >= 5.0 (this one has no NanoChat model)"]
    if missing:
        raise EngineUnavailable(
            f"The nanochat engine needs {', '.join(missing)}, which the base install leaves out to stay light. "
            f"Install the extra: {INSTALL}"
        )


@dataclass(frozen=True)
class NanochatConfig:
    """The engine's own settings (the `nanochat` command's flags)."""

    device: DeviceChoice = "auto"
    dtype: DtypeChoice = "auto"
    threads: int | None = None  # None: physical cores
    port: int | None = None  # None: a free port on each launch
    ready_timeout: float | None = None  # None: grows with the model size


@dataclass(frozen=True)
class NanochatPrepared:
    """A nanochat model on disk, ready for the engine server."""

    repo: str
    commit: str
    layout: Literal["raw", "hf"]
    model_dir: Path  # what the server loads: the conversion's folder (raw) or the snapshot's (hf)
    raw: tuple[Path, Path, Path] | None  # model_<step>.pt, meta_<step>.json, tokenizer.pkl (raw layout)
    size: int  # bytes of weights
    catalogued: bool
    files: tuple[Path, ...] = field(default=())


def parse_spec(spec: str | None) -> tuple[str, str, bool]:
    """(repo, revision, from the catalogue) for `nanochat` or `hf://OWNER/REPO[@REVISION]`."""
    entry = get_entry(spec or "nanochat")
    if entry is not None:
        if entry.engine != NanochatEngine.kind:
            raise ModelSpecError(f"The catalogue model {entry.id!r} is served by the {entry.engine} engine.")
        return entry.repo, entry.revision, True
    match = _SPEC.match(spec or "")
    if match is None:
        raise ModelSpecError(f"{spec!r}: the nanochat engine serves `nanochat` or hf://OWNER/REPO[@REVISION].")
    return match.group(1), match.group(2) or "main", False


def _raw_files(snapshot: RepoSnapshot) -> tuple[str, str, str] | None:
    """The newest step's `model_<step>.pt` with its `meta_<step>.json`, and the `tokenizer.pkl` beside them."""
    steps = []
    files = set(snapshot.files)
    for path in snapshot.files:
        match = _RAW_MODEL.match(path)
        if match is not None:
            folder = f"{match.group(1)}/" if match.group(1) else ""
            meta = f"{folder}meta_{match.group(2)}.json"
            beside = (f"{folder}tokenizer.pkl", "tokenizer.pkl", "tokenizer/tokenizer.pkl")
            tokenizers = [t for t in beside if t in files]
            if meta in files and tokenizers:
                steps.append((int(match.group(2)), path, meta, tokenizers[0]))
    if not steps:
        return None
    _, model, meta, tokenizer = max(steps)
    return model, meta, tokenizer


def _hf_files(snapshot: RepoSnapshot) -> list[str] | None:
    """`config.json`, the safetensors weights (and their index) and a tokenizer, at the top of the repo."""
    top = [f for f in snapshot.files if "/" not in f]
    weights = [f for f in top if f.endswith(".safetensors") or f == "model.safetensors.index.json"]
    tokenizer = next((t for t in ("tokenizer.pkl", "tokenizer.json") if t in top), None)
    if "config.json" not in top or not weights or tokenizer is None:
        return None
    return ["config.json", *sorted(weights), tokenizer]


class NanochatEngine(Engine[NanochatPrepared]):
    kind: ClassVar[str] = "nanochat"
    capabilities: ClassVar[frozenset[str]] = frozenset({"chat/completions"})

    def __init__(self, config: NanochatConfig | None = None) -> None:
        self.config = config or NanochatConfig()

    @classmethod
    def claims(cls, spec: str) -> bool:
        return _SPEC.match(spec) is not None

    def provision(
        self, spec: str | None, options: ProvisionOptions, *, runtime: bool = True, weights: bool = True
    ) -> NanochatPrepared:
        if runtime:
            check_extra()  # first: nothing is downloaded for an engine that cannot run
        repo, revision, catalogued = parse_spec(spec)
        if not weights:
            return NanochatPrepared(repo, "", "hf", Path(), None, 0, catalogued)
        snapshot = list_repo(repo, revision, options)
        raw = _raw_files(snapshot)
        hf = None if raw is not None else _hf_files(snapshot)
        if raw is None and hf is None:
            raise ModelSpecError(
                f"hf://{repo}@{revision} is neither nanochat's raw layout (model_<step>.pt, meta_<step>.json, "
                "tokenizer.pkl) nor a Hugging Face one (config.json, *.safetensors, tokenizer.pkl or tokenizer.json)."
            )
        fetched = tuple(fetch_file(snapshot, path, options) for path in (raw or hf or ()))
        size = sum(r.size for r in fetched if r.path.suffix in (".pt", ".safetensors"))
        files = tuple(r.path for r in fetched)
        if raw is not None:
            owner, name = repo.split("/")
            converted = conversions_dir() / owner / name / snapshot.commit
            raw_paths = (files[0], files[1], files[2])
            return NanochatPrepared(repo, snapshot.commit, "raw", converted, raw_paths, size, catalogued, files)
        return NanochatPrepared(repo, snapshot.commit, "hf", files[0].parent, None, size, catalogued, files)

    def identity(self, prepared: NanochatPrepared) -> Identity:
        if prepared.catalogued:
            entry = get_entry("nanochat")
            return Identity("nanochat", entry.owner if entry is not None else "sdobson")
        owner, name = prepared.repo.split("/")
        return Identity(name, owner)

    def launch(self, prepared: NanochatPrepared, model_id: str, log_dir: Path) -> Launch:
        placement = place(self.config.device, self.config.dtype, probe())
        threads = self.config.threads or physical_cores()
        argv = [
            sys.executable, "-m", "openai_api_simulator.engines.nanochat.server",
            "--port", "{port}",
            "--model-dir", str(prepared.model_dir),
            "--served-name", model_id,
            "--device", placement.device,
            "--dtype", placement.dtype,
            "--threads", str(threads),
        ]  # fmt: skip
        converted = prepared.raw is None or (prepared.model_dir / "conversion.json").is_file()
        if prepared.raw is not None:
            model, meta, tokenizer = prepared.raw
            argv += ["--raw-model", str(model), "--raw-meta", str(meta), "--raw-tokenizer", str(tokenizer)]
        deadline = _BASE_TIMEOUT_S + prepared.size / _LOAD_BYTES_PER_S
        if not converted:
            deadline += prepared.size / _CONVERT_BYTES_PER_S
        key = secrets.token_urlsafe(24)
        # The package may run from a source tree the child's sys.path does not know; name its root.
        pythonpath = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {KEY_ENV: key, "PYTHONPATH": pythonpath}
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)
        spec = LaunchSpec(
            name=model_id,
            argv=argv,
            log_file=log_dir / f"nanochat-{safe}.log",
            port=self.config.port,
            env=env,
            ready_timeout=self.config.ready_timeout or deadline,
            api_key=key,
            label="nanochat engine",
        )
        notes: tuple[str, ...] = (f"{placement.dtype}, {threads} thread{'s' if threads != 1 else ''}",)
        if not converted:  # the wait before "ready" is longer this once: say why
            notes += ("converting the checkpoint first (once)",)
        return Launch(spec, server="nanochat engine", device=placement.label, notes=notes)

    def describe(self, prepared: NanochatPrepared) -> list[str]:
        if not prepared.files:
            return ["nanochat engine: torch, transformers, tiktoken and safetensors are installed"]
        where = f"{prepared.repo}@{prepared.commit[:12]}"
        lines = [f"nanochat {where} ({prepared.layout} layout, {prepared.size} bytes of weights):"]
        lines += [f"  {path}" for path in prepared.files]
        if prepared.layout == "raw":
            lines.append(f"  converted on the engine's first start into {prepared.model_dir}")
        return lines
