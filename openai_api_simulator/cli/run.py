"""`openai-api-simulator run`: a real model (llama.cpp) beside the fake, on one port.

A thin adapter: flags become a `pipeline.RunPlan`, `orchestrator.run` does the work, `output` prints it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, NoReturn, cast

import typer

from openai_api_simulator import __version__
from openai_api_simulator.cli import output
from openai_api_simulator.cli.options import (
    Access,
    AliasOpt,
    AllowedHostsOpt,
    AllowUnverifiedOpt,
    CacheDirOpt,
    CacheMbOpt,
    CorsOpt,
    HeaderTimeoutOpt,
    HfEndpointOpt,
    HostOpt,
    KeepAliveOpt,
    KeyFileOpt,
    KeyOpt,
    LlamaServerOpt,
    LlamaVariantOpt,
    LlamaVersionOpt,
    LogFormatOpt,
    MaxConnOpt,
    ModelArg,
    NameOpt,
    OfflineOpt,
    PortOpt,
    ReadyTimeoutOpt,
    ReleaseUrlOpt,
    RequestTimeoutOpt,
    RulesOpt,
    RunLogOpt,
    UpstreamKeyOpt,
    UpstreamOpt,
    access_from,
    checked_rules,
    fitted,
    split_values,
)
from openai_api_simulator.cli.provision import llama_source, provision_options
from openai_api_simulator.config import (
    DEFAULT_CACHE_MB,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_PORT,
    LogFormat,
    Settings,
)
from openai_api_simulator.errors import StartupError
from openai_api_simulator.paths import CACHE_DIR_ENV

if TYPE_CHECKING:
    from openai_api_simulator.pipeline import RunPlan

# Where `main` leaves the arguments after `--` in the Click context's `obj`.
PASSTHROUGH: Final = "passthrough"


def run(
    ctx: typer.Context,
    model: ModelArg = None,
    model_path: Annotated[
        Path | None,
        typer.Option("--model", help="A local GGUF file to serve (instead of MODEL)."),
    ] = None,
    name: NameOpt = None,
    host: HostOpt = DEFAULT_HOST,
    port: PortOpt = DEFAULT_PORT,
    alias: AliasOpt = None,
    api_key: KeyOpt = None,
    api_key_file: KeyFileOpt = None,
    allowed_hosts: AllowedHostsOpt = None,
    cors_origins: CorsOpt = None,
    max_connections: MaxConnOpt = DEFAULT_MAX_CONNECTIONS,
    header_timeout: HeaderTimeoutOpt = DEFAULT_HEADER_TIMEOUT,
    keep_alive_timeout: KeepAliveOpt = DEFAULT_KEEP_ALIVE_TIMEOUT,
    upstream: UpstreamOpt = None,
    upstream_key: UpstreamKeyOpt = None,
    llama_port: Annotated[
        int | None,
        typer.Option(
            "--llama-port",
            envvar="OAS_LLAMA_PORT",
            min=1,
            max=65535,
            help="Internal port for llama-server [default: a free port].",
        ),
    ] = None,
    ctx_size: Annotated[
        int, typer.Option("--ctx-size", "-c", envvar="OAS_CTX_SIZE", min=256, help="Context size in tokens.")
    ] = 4096,
    threads: Annotated[
        int | None,
        typer.Option("--threads", "-t", envvar="OAS_THREADS", min=1, help="CPU threads [default: physical cores]."),
    ] = None,
    gpu: Annotated[
        str, typer.Option("--gpu", envvar="OAS_GPU", help="auto (Metal on Apple Silicon, or a GPU build), on or off.")
    ] = "auto",
    parallel: Annotated[
        int | None,
        typer.Option(
            "--parallel",
            "-np",
            envvar="OAS_PARALLEL",
            min=1,
            help="Concurrent requests llama-server serves [default: 2 on CPU, 4 on GPU].",
        ),
    ] = None,
    ready_timeout: ReadyTimeoutOpt = None,
    request_timeout: RequestTimeoutOpt = 600.0,
    llama_version: LlamaVersionOpt = None,
    llama_variant: LlamaVariantOpt = None,
    llama_server: LlamaServerOpt = None,
    hf_endpoint: HfEndpointOpt = None,
    llama_release_url: ReleaseUrlOpt = None,
    offline: OfflineOpt = False,
    allow_unverified: AllowUnverifiedOpt = False,
    cache_dir: CacheDirOpt = None,
    cache_mb: CacheMbOpt = DEFAULT_CACHE_MB,
    rules: RulesOpt = None,
    log_level: RunLogOpt = "warning",
    log_format: LogFormatOpt = "text",
) -> None:
    """Serve a real model (llama.cpp) beside the fake `gpt-sim-1`, on one port. Arguments after `--` go to llama-server.

    Downloads llama-server and the model on first use (see `pull`), starts llama-server on a private port and
    supervises it (health checks, restart after a crash, nothing left running on exit).
    """
    from openai_api_simulator.backends import RelaySettings
    from openai_api_simulator.engines.llama import GpuMode, LlamaConfig, LlamaEngine, LlamaOptions
    from openai_api_simulator.pipeline import ModelChoice, RunPlan

    if gpu not in ("auto", "on", "off"):
        output.error(f"--gpu must be auto, on or off, not {gpu!r}.")
        raise typer.Exit(2)
    use_cache_dir(cache_dir)
    upstreams = upstreams_from(upstream)
    settings = server_settings(
        host=host,
        port=port,
        alias=alias,
        access=access_from(
            api_key=api_key,
            api_key_file=api_key_file,
            allowed_hosts=allowed_hosts,
            cors_origins=cors_origins,
            max_connections=max_connections,
            header_timeout=header_timeout,
            keep_alive_timeout=keep_alive_timeout,
        ),
        log_level=log_level,
        cache_mb=cache_mb,
        log_format=log_format,
        rules_file=checked_rules(rules),
    )
    llama = LlamaEngine(
        LlamaConfig(
            source=llama_source(llama_version, llama_variant, llama_server, llama_release_url),
            options=LlamaOptions(
                ctx_size=ctx_size,
                threads=threads,
                gpu=cast(GpuMode, gpu),  # checked against auto/on/off above
                parallel=parallel,
                port=llama_port,
                ready_timeout=ready_timeout,
                extra_args=passthrough(ctx),
            ),
        )
    )
    plan = RunPlan(
        settings=settings,
        models=(ModelChoice(str(model_path) if model_path is not None else model, name),),
        provision=provision_options(offline=offline, allow_unverified=allow_unverified, hf_endpoint=hf_endpoint),
        engines={llama.kind: llama},
        upstreams=upstreams,
        upstream_api_key=upstream_key,
        relay=RelaySettings(read_timeout=request_timeout),
    )
    execute(plan)


def server_settings(
    *,
    host: str,
    port: int,
    alias: list[str] | None,
    access: Access,
    log_level: str,
    log_format: str = "text",
    cache_mb: float = DEFAULT_CACHE_MB,
    rules_file: str | None = None,
) -> Settings:
    """The public server's settings from the flags `run` and `nanochat` share."""
    return Settings(
        host=host,
        port=port,
        aliases=split_values(alias),
        api_key=access.api_key,
        allowed_hosts=access.allowed_hosts,
        cors_origins=access.cors_origins,
        connections=access.connections,
        log_level=log_level,
        access_log=log_level in ("debug", "info", "trace"),
        cache_mb=cache_mb,
        log_format=cast(LogFormat, log_format),  # checked by the option's callback
        rules_file=rules_file,  # the fake's scripted answers
    )


def upstreams_from(values: list[str] | None) -> dict[str, list[str]]:
    """`--upstream` values parsed, or exit 2 with what is wrong."""
    from openai_api_simulator.backends import parse_upstream_flags

    try:
        return parse_upstream_flags(split_values(values))
    except ValueError as exc:
        output.error(exc)
        raise typer.Exit(2) from None


def use_cache_dir(cache_dir: Path | None) -> None:
    """`--cache-dir`: moves the cache for this process and the engines it starts (they read OAS_CACHE_DIR)."""
    if cache_dir is not None:
        os.environ[CACHE_DIR_ENV] = str(cache_dir.expanduser().absolute())


def execute(plan: RunPlan) -> NoReturn:
    """Bind the public port, then provision, supervise and serve `plan`; exit with the run's code."""
    from openai_api_simulator import orchestrator
    from openai_api_simulator.backends import DuplicateModel
    from openai_api_simulator.provision import ProvisionError, current_platform
    from openai_api_simulator.server import bind_socket

    settings = plan.settings
    try:
        sock = bind_socket(settings.host, settings.port)  # first: a busy port should fail before any download
    except StartupError as exc:
        output.error(exc)
        raise typer.Exit(1) from None
    plan = replace(plan, settings=replace(settings, connections=fitted(settings.connections)))
    output.out.print(f"[bold]openai-api-simulator {__version__}[/] on {current_platform()}")
    try:
        code = orchestrator.run(plan, sock, output.ConsoleEvents(api_key=bool(settings.api_key)))
    except ProvisionError as exc:
        output.error(exc)
        raise typer.Exit(1) from None
    except DuplicateModel as exc:
        output.error(exc)
        raise typer.Exit(2) from None
    finally:
        sock.close()
    raise typer.Exit(code)


def passthrough(ctx: typer.Context) -> tuple[str, ...]:
    """The arguments after `--`, for llama-server (`main` takes them off before Click parses the rest)."""
    obj = ctx.find_root().obj
    return tuple(obj.get(PASSTHROUGH, ())) if isinstance(obj, dict) else ()
