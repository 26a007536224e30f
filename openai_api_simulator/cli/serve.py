"""`openai-api-simulator serve`: the deterministic fake model alone (what a bare `openai-api-simulator` does)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import cast

import typer
from rich.markup import escape

from openai_api_simulator import __version__, net
from openai_api_simulator.cli import output
from openai_api_simulator.cli.options import (
    AliasOpt,
    AllowedHostsOpt,
    BodyOpt,
    CacheMbOpt,
    CorsOpt,
    CreatedOpt,
    ErrRateOpt,
    ErrSeedOpt,
    ErrStatusOpt,
    FailAfterOpt,
    FailModeOpt,
    HeaderTimeoutOpt,
    HostOpt,
    JournalOpt,
    KeepAliveOpt,
    KeyFileOpt,
    KeyOpt,
    LatencyOpt,
    LogFormatOpt,
    LogOpt,
    MaxConnOpt,
    PortOpt,
    RecordKeyOpt,
    RecordOpt,
    RecordUpstreamOpt,
    ReplayMissOpt,
    ReplayOpt,
    ReplaySpeedOpt,
    RetryOpt,
    RulesOpt,
    TpsOpt,
    access_from,
    checked_rules,
    fitted,
    split_values,
)
from openai_api_simulator.config import (
    DEFAULT_CACHE_MB,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_PORT,
    FAKE_MODEL,
    Cassettes,
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
    api_key_file: KeyFileOpt = None,
    allowed_hosts: AllowedHostsOpt = None,
    cors_origins: CorsOpt = None,
    max_connections: MaxConnOpt = DEFAULT_MAX_CONNECTIONS,
    header_timeout: HeaderTimeoutOpt = DEFAULT_HEADER_TIMEOUT,
    keep_alive_timeout: KeepAliveOpt = DEFAULT_KEEP_ALIVE_TIMEOUT,
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
    cache_mb: CacheMbOpt = DEFAULT_CACHE_MB,
    rules: RulesOpt = None,
    journal: JournalOpt = True,
    log_level: LogOpt = "info",
    log_format: LogFormatOpt = "text",
    record: RecordOpt = None,
    record_upstream: RecordUpstreamOpt = None,
    record_upstream_key: RecordKeyOpt = None,
    replay: ReplayOpt = None,
    replay_speed: ReplaySpeedOpt = 1.0,
    replay_miss: ReplayMissOpt = None,
) -> None:
    """Serve the deterministic fake model on HOST:PORT (what a bare `openai-api-simulator` does).

    Per-request headers override the fault flags: X-Simulator-Latency-Ms, X-Simulator-Tokens-Per-Second,
    X-Simulator-Error (a status), X-Simulator-Error-Rate, X-Simulator-Retry-After,
    X-Simulator-Stream-Fail-After, X-Simulator-Stream-Fail-Mode. --rules FILE scripts answers.
    """
    from openai_api_simulator.app import create_app
    from openai_api_simulator.server import bind_socket, serve_forever

    if stream_fail_mode not in ("error", "disconnect"):
        output.error(f"--stream-fail-mode must be 'error' or 'disconnect', not {stream_fail_mode!r}.")
        raise typer.Exit(2)
    cassettes = _cassettes(record, replay, record_upstream, record_upstream_key, replay_speed, replay_miss)
    access = access_from(
        api_key=api_key,
        api_key_file=api_key_file,
        allowed_hosts=allowed_hosts,
        cors_origins=cors_origins,
        max_connections=max_connections,
        header_timeout=header_timeout,
        keep_alive_timeout=keep_alive_timeout,
    )
    settings = Settings(
        host=host,
        port=port,
        aliases=split_values(alias),
        api_key=access.api_key,
        allowed_hosts=access.allowed_hosts,
        cors_origins=access.cors_origins,
        connections=access.connections,
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
        cache_mb=cache_mb,
        journal=journal,
        log_level=log_level,
        log_format=cast(LogFormat, log_format),  # checked by the option's callback
        cassettes=cassettes,
        rules_file=checked_rules(rules),
    )
    try:
        sock = bind_socket(host, port)
    except StartupError as exc:
        output.error(exc)
        raise typer.Exit(1) from None
    settings = replace(settings, connections=fitted(settings.connections))  # after the bind: a busy port first
    base = net.base_url(host, sock.getsockname()[1]) + "/v1"
    heading = f"[bold]openai-api-simulator {__version__}[/] serving on [cyan]{base}[/]"
    output.banner(heading, base, list(settings.fake_models), FAKE_MODEL, api_key=bool(settings.api_key))
    if cassettes is not None:
        what = f"recording from {cassettes.upstream} into" if cassettes.records else "replaying from"
        output.out.print(escape(f"  cassettes: {what} {cassettes.directory} (a miss: {cassettes.miss})"))
    sys.stdout.flush()
    serve_forever(
        create_app(settings),
        sock,
        log_level=log_level,
        access_log=True,
        log_format=settings.log_format,
        limits=settings.connections,
    )


def _cassettes(
    record: Path | None, replay: Path | None, upstream: str | None, key: str | None, speed: float, miss: str | None
) -> Cassettes | None:
    """The record/replay flags checked, their directory and cassettes read; exit 2 naming what is wrong."""
    from openai_api_simulator.testdouble import cassettes

    try:
        chosen = cassettes.from_flags(
            record=record, replay=replay, upstream=upstream, upstream_key=key, speed=speed, miss=miss
        )
        if chosen is not None:
            cassettes.check(chosen)
    except (ValueError, StartupError) as exc:
        output.error(exc)
        raise typer.Exit(2) from None
    return chosen
