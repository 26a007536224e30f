"""The `openai-api-simulator` command (Typer). Kept thin: it parses flags into Settings and hands over."""

from __future__ import annotations

import json
import sys
from typing import Annotated

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
from openai_api_simulator.provision.commands import register

QUICK_START = f"""A local OpenAI-compatible API. Quick start:

  openai-api-simulator                    serve the deterministic fake model `{FAKE_MODEL}` on
                                          http://127.0.0.1:{DEFAULT_PORT}/v1 (no download, no key)

  curl http://127.0.0.1:{DEFAULT_PORT}/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{{"model": "{FAKE_MODEL}", "messages": [{{"role": "user", "content": "Hello"}}]}}'

  OPENAI_BASE_URL=http://127.0.0.1:{DEFAULT_PORT}/v1 OPENAI_API_KEY=sk-test python your_app.py

The same request always gets the same answer. Test your client's retries with
`--error-rate 0.2` or a header such as `X-Simulator-Error: 429` (see `serve --help`)."""

app = typer.Typer(help=QUICK_START, no_args_is_help=False, add_completion=False, rich_markup_mode=None)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


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
    app(args=argv_with_default_command(sys.argv[1:]), prog_name="openai-api-simulator")
