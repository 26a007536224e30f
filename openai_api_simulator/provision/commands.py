"""CLI commands: ``pull`` (prefetch llama-server and a model) and ``cache list|path|clear``.

`register(app)` adds them to the package's Typer app; the commands are thin wrappers over
`ensure_llama_server` / `ensure_model`, so ``run`` and ``pull`` share every rule.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from .. import paths
from .errors import ProvisionError
from .llama import ensure_llama_server, installed_all
from .models import cached_models, ensure_model
from .options import LlamaSource, ProvisionOptions
from .progress import default_progress, megabytes

_SECTIONS = ("llama.cpp", "models", "downloads", "releases")


def _fail(exc: ProvisionError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


# Options shared by `pull` and `run` (which provisions before serving), declared once.
ModelArg = Annotated[
    str | None,
    typer.Argument(
        help="Catalogue id, hf://OWNER/REPO/FILE.gguf[@REV], https URL or local .gguf path "
        "[default: the catalogue default].",
        metavar="MODEL",
        show_default=False,
    ),
]
LlamaVersionOpt = Annotated[
    str | None,
    typer.Option("--llama-version", envvar="OAS_LLAMA_VERSION", help="Pin a llama.cpp release tag, e.g. b11434."),
]
LlamaVariantOpt = Annotated[
    str | None, typer.Option("--llama-variant", envvar="OAS_LLAMA_VARIANT", help="Release variant, e.g. vulkan.")
]
LlamaServerOpt = Annotated[
    Path | None,
    typer.Option(
        "--llama-server", envvar="OAS_LLAMA_SERVER", help="Use this llama-server binary (checked with --version)."
    ),
]
HfEndpointOpt = Annotated[
    str | None, typer.Option("--hf-endpoint", help="Hugging Face endpoint or mirror [env: HF_ENDPOINT].")
]
ReleaseUrlOpt = Annotated[
    str | None,
    typer.Option("--llama-release-url", help="llama.cpp releases base URL or mirror [env: OAS_LLAMA_RELEASE_URL]."),
]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Use the cache only [env: OAS_OFFLINE=1 or HF_HUB_OFFLINE=1].")
]
AllowUnverifiedOpt = Annotated[
    bool, typer.Option("--allow-unverified", help="Accept downloads that have no SHA256 to check against.")
]


def pull(
    model: ModelArg = None,
    llama_version: LlamaVersionOpt = None,
    llama_variant: LlamaVariantOpt = None,
    llama_server: LlamaServerOpt = None,
    hf_endpoint: HfEndpointOpt = None,
    llama_release_url: ReleaseUrlOpt = None,
    offline: OfflineOpt = False,
    update: Annotated[
        bool, typer.Option("--update", help="Look for a newer llama.cpp release / model upload.")
    ] = False,
    allow_unverified: AllowUnverifiedOpt = False,
    no_llama: Annotated[bool, typer.Option("--no-llama", help="Skip llama-server.")] = False,
    no_model: Annotated[bool, typer.Option("--no-model", help="Skip the model.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Download and verify llama-server and a model into the cache, for offline use later."""
    options = ProvisionOptions(
        offline=True if offline else None,  # without the flag, OAS_OFFLINE / HF_HUB_OFFLINE decide
        allow_unverified=allow_unverified,
        update=update,
        hf_endpoint=hf_endpoint,
        progress=default_progress(quiet=quiet),
    )
    source = LlamaSource(
        version=llama_version, variant=llama_variant, server=llama_server, release_url=llama_release_url
    )
    try:
        if not no_llama:
            install = ensure_llama_server(source, options)
            tag = install.tag or "user binary"
            typer.echo(f"llama-server {tag} ({install.backend}): {install.server}")
        if not no_model:
            found = ensure_model(model, options)
            digest = f", sha256 {found.sha256}" if found.sha256 else ""
            typer.echo(f"model {found.name}: {found.path} ({found.size} bytes{digest})")
    except ProvisionError as exc:
        raise _fail(exc) from exc


def cache_path() -> None:
    """Print the cache directory (set OAS_CACHE_DIR to move it)."""
    typer.echo(str(paths.cache_dir()))


def cache_list() -> None:
    """List installed llama.cpp builds, cached models and partial downloads."""
    typer.echo(f"cache: {paths.cache_dir()}")
    installs = installed_all()
    typer.echo("llama.cpp:" if installs else "llama.cpp: (none)")
    for install in installs:
        typer.echo(f"  {install.tag}  {install.backend:<7} {install.asset}  {install.server}")
    models = cached_models()
    typer.echo("models:" if models else "models: (none)")
    for path, size, sha in models:
        typer.echo(f"  {megabytes(size):>10}  sha256 {sha}  {path}")
    parts = sorted(p for d in (paths.models_dir(), paths.downloads_dir()) if d.is_dir() for p in d.rglob("*.part"))
    for part in parts:
        typer.echo(f"  partial: {part} ({megabytes(part.stat().st_size)}; the next pull resumes it)")


def cache_clear(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete everything this tool downloaded (llama.cpp builds, models, partial downloads)."""
    root = paths.cache_dir()
    targets = [root / name for name in _SECTIONS if (root / name).exists()]
    if not targets:
        typer.echo(f"Nothing to clear in {root}.")
        return
    if not yes and not typer.confirm(f"Delete {', '.join(str(t) for t in targets)}?"):
        raise typer.Exit(1)
    # Only our own sub-folders are removed: OAS_CACHE_DIR may point at a folder that holds other things.
    for target in targets:
        shutil.rmtree(target)
    typer.echo(f"Cleared {len(targets)} folder(s) in {root}.")


def register(app: typer.Typer) -> None:
    """Add ``pull`` and the ``cache`` sub-commands to `app`."""
    app.command("pull")(pull)
    cache_app = typer.Typer(help="Inspect or clear the download cache.", no_args_is_help=True)
    cache_app.command("list")(cache_list)
    cache_app.command("path")(cache_path)
    cache_app.command("clear")(cache_clear)
    app.add_typer(cache_app, name="cache")


__all__ = ["register"]
