"""`openai-api-simulator run`: a real model (llama.cpp) beside the fake, on one port.

A thin adapter: flags become a `pipeline.RunPlan`, `orchestrator.run` does the work, `output` prints it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final, cast

import typer

from openai_api_simulator import __version__
from openai_api_simulator.cli import output
from openai_api_simulator.cli.options import (
    AliasOpt,
    AllowUnverifiedOpt,
    HfEndpointOpt,
    HostOpt,
    KeyOpt,
    LlamaServerOpt,
    LlamaVariantOpt,
    LlamaVersionOpt,
    ModelArg,
    OfflineOpt,
    PortOpt,
    ReleaseUrlOpt,
    split_values,
)
from openai_api_simulator.cli.provision import llama_source, provision_options
from openai_api_simulator.config import DEFAULT_HOST, DEFAULT_PORT, Settings
from openai_api_simulator.errors import StartupError

# Where `main` leaves the arguments after `--` in the Click context's `obj`.
PASSTHROUGH: Final = "passthrough"


def run(
    ctx: typer.Context,
    model: ModelArg = None,
    model_path: Annotated[
        Path | None,
        typer.Option("--model", help="A local GGUF file to serve (instead of MODEL)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", envvar="OAS_MODEL_NAME", help="Model id clients use [default: the catalogue id or file name]."
        ),
    ] = None,
    host: HostOpt = DEFAULT_HOST,
    port: PortOpt = DEFAULT_PORT,
    alias: AliasOpt = None,
    api_key: KeyOpt = None,
    upstream: Annotated[
        list[str] | None,
        typer.Option(
            "--upstream",
            envvar="OAS_UPSTREAMS",
            help="NAME=URL: also route model NAME to an OpenAI-compatible server (repeatable; several URLs for one "
            "NAME are balanced).",
        ),
    ] = None,
    upstream_key: Annotated[
        str | None,
        typer.Option("--upstream-api-key", envvar="OAS_UPSTREAM_API_KEY", help="API key sent to --upstream servers."),
    ] = None,
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
    ready_timeout: Annotated[
        float | None,
        typer.Option(
            "--ready-timeout",
            envvar="OAS_READY_TIMEOUT",
            min=1,
            help="Seconds llama-server may take to load [default: grows with the model size].",
        ),
    ] = None,
    request_timeout: Annotated[
        float,
        typer.Option(
            "--request-timeout",
            envvar="OAS_REQUEST_TIMEOUT",
            min=1,
            help="Seconds to wait for upstream data before answering 504.",
        ),
    ] = 600.0,
    llama_version: LlamaVersionOpt = None,
    llama_variant: LlamaVariantOpt = None,
    llama_server: LlamaServerOpt = None,
    hf_endpoint: HfEndpointOpt = None,
    llama_release_url: ReleaseUrlOpt = None,
    offline: OfflineOpt = False,
    allow_unverified: AllowUnverifiedOpt = False,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level", envvar="OAS_LOG_LEVEL", help="info shows every request; warning (default) only problems."
        ),
    ] = "warning",
) -> None:
    """Serve a real model (llama.cpp) beside the fake `gpt-sim-1`, on one port. Arguments after `--` go to llama-server.

    Downloads llama-server and the model on first use (see `pull`), starts llama-server on a private port and
    supervises it (health checks, restart after a crash, nothing left running on exit).
    """
    from openai_api_simulator import orchestrator
    from openai_api_simulator.backends import DuplicateModel, RelaySettings, parse_upstream_flags
    from openai_api_simulator.engines.llama import GpuMode, LlamaConfig, LlamaEngine, LlamaOptions
    from openai_api_simulator.pipeline import ModelChoice, RunPlan
    from openai_api_simulator.provision import ProvisionError, current_platform
    from openai_api_simulator.server import bind_socket

    if gpu not in ("auto", "on", "off"):
        output.error(f"--gpu must be auto, on or off, not {gpu!r}.")
        raise typer.Exit(2)
    try:
        upstreams = parse_upstream_flags(split_values(upstream))
    except ValueError as exc:
        output.error(exc)
        raise typer.Exit(2) from None
    settings = Settings(
        host=host,
        port=port,
        aliases=split_values(alias),
        api_key=api_key or None,
        log_level=log_level,
        access_log=log_level in ("debug", "info", "trace"),
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
    try:
        sock = bind_socket(host, port)  # first: a busy port should fail before any download
    except StartupError as exc:
        output.error(exc)
        raise typer.Exit(1) from None
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
