"""`pull` (prefetch what a model needs) and `cache list|path|clear`.

`pull` provisions through `pipeline.provision_model`, the call `run` makes too, so both share every rule.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from openai_api_simulator import paths
from openai_api_simulator.cli.options import (
    AllowUnverifiedOpt,
    HfEndpointOpt,
    LlamaServerOpt,
    LlamaVariantOpt,
    LlamaVersionOpt,
    ModelArg,
    OfflineOpt,
    ReleaseUrlOpt,
)
from openai_api_simulator.provision import LlamaSource, ProvisionError, ProvisionOptions, default_progress
from openai_api_simulator.provision.llama import installed_all
from openai_api_simulator.provision.models import cached_models
from openai_api_simulator.provision.progress import megabytes

_SECTIONS = ("llama.cpp", "models", "downloads", "releases", "hub", "nanochat")


def provision_options(
    *, offline: bool, allow_unverified: bool, hf_endpoint: str | None, update: bool = False, quiet: bool = False
) -> ProvisionOptions:
    """The provisioning flags of `pull` and `run` as one object."""
    return ProvisionOptions(
        offline=True if offline else None,  # without the flag, OAS_OFFLINE / HF_HUB_OFFLINE decide
        allow_unverified=allow_unverified,
        update=update,
        hf_endpoint=hf_endpoint,
        progress=default_progress(quiet=quiet),
    )


def llama_source(version: str | None, variant: str | None, server: Path | None, release_url: str | None) -> LlamaSource:
    return LlamaSource(version=version, variant=variant, server=server, release_url=release_url)


def _fail(exc: ProvisionError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


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
    from openai_api_simulator.engines.llama import LlamaConfig, LlamaEngine
    from openai_api_simulator.pipeline import ModelChoice, provision_model

    options = provision_options(
        offline=offline, allow_unverified=allow_unverified, hf_endpoint=hf_endpoint, update=update, quiet=quiet
    )
    llama = LlamaEngine(LlamaConfig(source=llama_source(llama_version, llama_variant, llama_server, llama_release_url)))
    try:
        prepared = provision_model(
            ModelChoice(model), options, {llama.kind: llama}, runtime=not no_llama, weights=not no_model
        )
    except ProvisionError as exc:
        raise _fail(exc) from exc
    for line in prepared.describe():
        typer.echo(line)


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
    from openai_api_simulator.engines.nanochat import cached_conversions

    conversions = cached_conversions()
    if conversions:
        typer.echo("nanochat conversions (made on the engine's first start):")
    for folder, size in conversions:
        typer.echo(f"  {megabytes(size):>10}  {folder}")
    parts = sorted(p for d in (paths.models_dir(), paths.downloads_dir()) if d.is_dir() for p in d.rglob("*.part"))
    for part in parts:
        typer.echo(f"  partial: {part} ({megabytes(part.stat().st_size)}; the next pull resumes it)")


def cache_clear(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete everything this tool downloaded or made (llama.cpp builds, models, conversions, partial downloads)."""
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
