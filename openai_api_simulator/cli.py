"""The `openai-api-simulator` command (Typer). Kept thin: it parses flags into Settings and hands over."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console

from openai_api_simulator import __version__
from openai_api_simulator.config import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PORT,
    FAKE_MODEL,
    Faults,
    Settings,
)
from openai_api_simulator.errors import StartupError
from openai_api_simulator.provision.commands import (
    AllowUnverifiedOpt,
    HfEndpointOpt,
    LlamaServerOpt,
    LlamaVariantOpt,
    LlamaVersionOpt,
    ModelArg,
    OfflineOpt,
    ReleaseUrlOpt,
    register,
)

QUICK_START = f"""A local OpenAI-compatible API. Quick start:

  openai-api-simulator                    serve the deterministic fake model `{FAKE_MODEL}` on
                                          http://127.0.0.1:{DEFAULT_PORT}/v1 (no download, no key)

  curl http://127.0.0.1:{DEFAULT_PORT}/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{{"model": "{FAKE_MODEL}", "messages": [{{"role": "user", "content": "Hello"}}]}}'

  OPENAI_BASE_URL=http://127.0.0.1:{DEFAULT_PORT}/v1 OPENAI_API_KEY=sk-test python your_app.py

The same request always gets the same answer. Test your client's retries with
`--error-rate 0.2` or a header such as `X-Simulator-Error: 429` (see `serve --help`)."""

app = typer.Typer(help=QUICK_START, no_args_is_help=False, add_completion=False, rich_markup_mode=None)
# soft_wrap: long lines (paths, the curl example) stay whole for copy-paste when the output is not a terminal.
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        print(f"openai-api-simulator {__version__}")
        raise typer.Exit()


HostOpt = Annotated[
    str, typer.Option("--host", envvar="OAS_HOST", help="Interface to listen on (loopback by default).")
]
PortOpt = Annotated[int, typer.Option("--port", "-p", envvar="OAS_PORT", min=0, max=65535, help="Port to listen on.")]
AliasOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--alias",
        envvar="OAS_ALIASES",
        help=f"Another model id {FAKE_MODEL} answers as and lists (repeatable; env: comma or space separated).",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="OAS_API_KEY", help="Require `Authorization: Bearer KEY` on every endpoint but /health."
    ),
]
LatencyOpt = Annotated[
    float, typer.Option("--latency-ms", envvar="OAS_LATENCY_MS", min=0, help="Time to first token, in ms.")
]
TpsOpt = Annotated[
    float,
    typer.Option(
        "--tokens-per-second", envvar="OAS_TOKENS_PER_SECOND", min=0, help="Generation speed; 0 = as fast as possible."
    ),
]
ErrStatusOpt = Annotated[
    int | None,
    typer.Option(
        "--error-status",
        envvar="OAS_ERROR_STATUS",
        min=400,
        max=599,
        help="Answer requests with this HTTP error (all of them, or --error-rate of them).",
    ),
]
ErrRateOpt = Annotated[
    float,
    typer.Option(
        "--error-rate",
        envvar="OAS_ERROR_RATE",
        min=0,
        max=1,
        help="Fraction of requests that fail (status from --error-status, else 500).",
    ),
]
ErrSeedOpt = Annotated[
    int,
    typer.Option(
        "--error-seed",
        envvar="OAS_ERROR_SEED",
        help="Seed of the error-rate sequence: same seed, same failing requests.",
    ),
]
RetryOpt = Annotated[
    float,
    typer.Option(
        "--retry-after", envvar="OAS_RETRY_AFTER", min=0, help="Seconds sent in Retry-After with 429 and 503."
    ),
]
FailAfterOpt = Annotated[
    int | None,
    typer.Option(
        "--stream-fail-after",
        envvar="OAS_STREAM_FAIL_AFTER",
        min=0,
        help="Fail every stream after this many content chunks.",
    ),
]
FailModeOpt = Annotated[
    str,
    typer.Option(
        "--stream-fail-mode",
        envvar="OAS_STREAM_FAIL_MODE",
        help="How a stream fails: 'error' (SSE error event) or 'disconnect'.",
    ),
]
BodyOpt = Annotated[
    int, typer.Option("--max-body-bytes", envvar="OAS_MAX_BODY_BYTES", min=1024, help="Larger request bodies get 413.")
]
CreatedOpt = Annotated[
    int | None,
    typer.Option(
        "--fixed-created",
        envvar="OAS_FIXED_CREATED",
        help="Use this Unix time as every `created`, making whole responses byte-identical.",
    ),
]
LogOpt = Annotated[str, typer.Option("--log-level", envvar="OAS_LOG_LEVEL", help="debug, info, warning or error.")]


def _aliases(values: list[str] | None) -> tuple[str, ...]:
    """Values of a repeatable flag; each may also hold several, comma or space separated (as env vars do)."""
    out: list[str] = []
    for value in values or []:
        out.extend(part for part in value.replace(",", " ").split() if part)
    return tuple(out)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Root options; a bare invocation is rewritten to `serve` by `main`."""


@app.command()
def serve(
    host: HostOpt = DEFAULT_HOST,
    port: PortOpt = DEFAULT_PORT,
    alias: AliasOpt = None,
    api_key: KeyOpt = None,
    latency_ms: LatencyOpt = 0.0,
    tokens_per_second: TpsOpt = 0.0,
    error_status: ErrStatusOpt = None,
    error_rate: ErrRateOpt = 0.0,
    error_seed: ErrSeedOpt = 0,
    retry_after: RetryOpt = 1.0,
    stream_fail_after: FailAfterOpt = None,
    stream_fail_mode: FailModeOpt = "error",
    max_body_bytes: BodyOpt = DEFAULT_MAX_BODY_BYTES,
    fixed_created: CreatedOpt = None,
    log_level: LogOpt = "info",
) -> None:
    """Serve the deterministic fake model on HOST:PORT (what a bare `openai-api-simulator` does).

    Per-request headers override the fault flags: X-Simulator-Latency-Ms, X-Simulator-Tokens-Per-Second,
    X-Simulator-Error (a status), X-Simulator-Error-Rate, X-Simulator-Retry-After,
    X-Simulator-Stream-Fail-After, X-Simulator-Stream-Fail-Mode.
    """
    from openai_api_simulator.api.app import create_app
    from openai_api_simulator.server import bind_socket, serve_forever

    if stream_fail_mode not in ("error", "disconnect"):
        err.print(f"[red]Error:[/] --stream-fail-mode must be 'error' or 'disconnect', not {stream_fail_mode!r}.")
        raise typer.Exit(2)
    settings = Settings(
        host=host,
        port=port,
        aliases=_aliases(alias),
        api_key=api_key or None,
        faults=Faults(
            latency_ms=latency_ms,
            tokens_per_second=tokens_per_second,
            error_status=error_status,
            error_rate=error_rate,
            error_seed=error_seed,
            retry_after=retry_after,
            stream_fail_after=stream_fail_after,
            stream_fail_mode=stream_fail_mode,  # type: ignore[arg-type]
        ),
        max_body_bytes=max_body_bytes,
        fixed_created=fixed_created,
        log_level=log_level,
    )
    try:
        sock = bind_socket(host, port)
    except StartupError as exc:
        err.print(f"[red]Error:[/] {exc}")
        raise typer.Exit(1) from None
    bound_port = sock.getsockname()[1]
    display_host = f"[{host}]" if ":" in host else host
    base = f"http://{display_host}:{bound_port}/v1"
    out.print(f"[bold]openai-api-simulator {__version__}[/] serving on [cyan]{base}[/]")
    out.print(f"  models: {', '.join(settings.fake_models)}" + ("  (API key required)" if api_key else ""))
    sample = json.dumps({"model": FAKE_MODEL, "messages": [{"role": "user", "content": "Hello"}]})
    auth = " -H 'Authorization: Bearer $OAS_API_KEY'" if api_key else ""
    out.print(
        f"  try: curl {base}/chat/completions -H 'Content-Type: application/json'{auth} -d '{sample}'", soft_wrap=True
    )
    sys.stdout.flush()
    serve_forever(create_app(settings), sock, log_level=log_level, access_log=True)


# Arguments after `--` on a `run` command line, for llama-server; set by `main` before Click parses the rest
# (Click would otherwise take the first of them for the optional MODEL argument).
_PASSTHROUGH: tuple[str, ...] = ()


@app.command(context_settings={"help_option_names": ["--help", "-h"]})
def run(
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
    from openai_api_simulator.engines.llama import GpuMode, LlamaOptions, public_model_id
    from openai_api_simulator.provision import (
        LlamaSource,
        ProvisionError,
        ProvisionOptions,
        current_platform,
        default_progress,
        ensure_llama_server,
        ensure_model,
    )
    from openai_api_simulator.proxy import ProxySettings, parse_upstream_flags
    from openai_api_simulator.server import bind_socket

    if gpu not in ("auto", "on", "off"):
        err.print(f"[red]Error:[/] --gpu must be auto, on or off, not {gpu!r}.")
        raise typer.Exit(2)
    try:
        extra = parse_upstream_flags(_aliases(upstream), api_key=upstream_key)
    except ValueError as exc:
        err.print(f"[red]Error:[/] {exc}")
        raise typer.Exit(2) from None
    settings = Settings(
        host=host,
        port=port,
        aliases=_aliases(alias),
        api_key=api_key or None,
        log_level=log_level,
        access_log=log_level in ("debug", "info", "trace"),
    )
    for taken in sorted({u.id for u in extra} & set(settings.fake_models)):
        err.print(f"[red]Error:[/] --upstream {taken}=… uses the id of a fake model; choose another NAME.")
        raise typer.Exit(2)
    try:
        sock = bind_socket(host, port)  # first: a busy port should fail before any download
    except StartupError as exc:
        err.print(f"[red]Error:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(f"[bold]openai-api-simulator {__version__}[/] on {current_platform()}")
    options = ProvisionOptions(
        offline=True if offline else None,
        allow_unverified=allow_unverified,
        hf_endpoint=hf_endpoint,
        progress=default_progress(quiet=False),
    )
    source = LlamaSource(
        version=llama_version, variant=llama_variant, server=llama_server, release_url=llama_release_url
    )
    try:
        install = ensure_llama_server(source, options)
        found = ensure_model(str(model_path) if model_path is not None else model, options)
    except ProvisionError as exc:
        sock.close()
        err.print(f"[red]Error:[/] {exc}")
        raise typer.Exit(1) from None
    public = public_model_id(found, name)
    if public in settings.fake_models or public in {u.id for u in extra}:
        sock.close()
        err.print(f"[red]Error:[/] the model id {public!r} is taken by another model; choose one with --name.")
        raise typer.Exit(2)

    plan = orchestrator.RunPlan(
        settings=settings,
        install=install,
        model=found,
        public_id=public,
        options=LlamaOptions(
            ctx_size=ctx_size,
            threads=threads,
            gpu=cast(GpuMode, gpu),  # checked against auto/on/off above
            parallel=parallel,
            port=llama_port,
            ready_timeout=ready_timeout,
            extra_args=_PASSTHROUGH,
        ),
        extra_upstreams=extra,
        proxy=ProxySettings(read_timeout=request_timeout),
    )
    raise typer.Exit(orchestrator.run(plan, sock, out))


# provisioning commands
register(app)


_ROOT_ONLY = {"--help", "-h", "--version"}


def argv_with_default_command(argv: list[str]) -> list[str]:
    """`openai-api-simulator [serve options]` means `openai-api-simulator serve [serve options]`.

    Rewriting the arguments (rather than calling `serve` from the root callback) lets Click parse them, so
    defaults and the OAS_* environment variables apply exactly as they do for an explicit `serve`.
    """
    if not argv or (argv[0].startswith("-") and argv[0] not in _ROOT_ONLY):
        return ["serve", *argv]
    return argv


def main() -> None:
    global _PASSTHROUGH
    argv = argv_with_default_command(sys.argv[1:])
    if argv and argv[0] == "run" and "--" in argv:
        cut = argv.index("--")
        argv, _PASSTHROUGH = argv[:cut], tuple(argv[cut + 1 :])
    app(args=argv, prog_name="openai-api-simulator")
