"""`openai-api-simulator serve`: the deterministic fake model alone (what a bare `openai-api-simulator` does)."""

from __future__ import annotations

import sys
from typing import cast

import typer

from openai_api_simulator import __version__, net
from openai_api_simulator.cli import output
from openai_api_simulator.cli.options import (
    AliasOpt,
    BodyOpt,
    CreatedOpt,
    ErrRateOpt,
    ErrSeedOpt,
    ErrStatusOpt,
    FailAfterOpt,
    FailModeOpt,
    HostOpt,
    KeyOpt,
    LatencyOpt,
    LogFormatOpt,
    LogOpt,
    PortOpt,
    RetryOpt,
    TpsOpt,
    split_values,
)
from openai_api_simulator.config import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PORT,
    FAKE_MODEL,
    Faults,
    LogFormat,
    Settings,
)
from openai_api_simulator.errors import StartupError


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
    log_format: LogFormatOpt = "text",
) -> None:
    """Serve the deterministic fake model on HOST:PORT (what a bare `openai-api-simulator` does).

    Per-request headers override the fault flags: X-Simulator-Latency-Ms, X-Simulator-Tokens-Per-Second,
    X-Simulator-Error (a status), X-Simulator-Error-Rate, X-Simulator-Retry-After,
    X-Simulator-Stream-Fail-After, X-Simulator-Stream-Fail-Mode.
    """
    from openai_api_simulator.app import create_app
    from openai_api_simulator.server import bind_socket, serve_forever

    if stream_fail_mode not in ("error", "disconnect"):
        output.error(f"--stream-fail-mode must be 'error' or 'disconnect', not {stream_fail_mode!r}.")
        raise typer.Exit(2)
    settings = Settings(
        host=host,
        port=port,
        aliases=split_values(alias),
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
        log_format=cast(LogFormat, log_format),  # checked by the option's callback
    )
    try:
        sock = bind_socket(host, port)
    except StartupError as exc:
        output.error(exc)
        raise typer.Exit(1) from None
    base = net.base_url(host, sock.getsockname()[1]) + "/v1"
    heading = f"[bold]openai-api-simulator {__version__}[/] serving on [cyan]{base}[/]"
    output.banner(heading, base, list(settings.fake_models), FAKE_MODEL, api_key=bool(api_key))
    sys.stdout.flush()
    serve_forever(create_app(settings), sock, log_level=log_level, access_log=True, log_format=settings.log_format)
