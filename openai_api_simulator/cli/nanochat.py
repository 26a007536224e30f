"""`openai-api-simulator nanochat`: Karpathy's nanochat (561M, `sdobson/nanochat`) beside the fake, on one port.

The same pipeline as `run` (see `cli.run`), with the nanochat engine configured from this command's flags.
"""

from __future__ import annotations

from typing import Annotated

import typer

from openai_api_simulator.cli import output
from openai_api_simulator.cli.options import (
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
    LogFormatOpt,
    MaxConnOpt,
    NameOpt,
    OfflineOpt,
    PortOpt,
    ReadyTimeoutOpt,
    RequestTimeoutOpt,
    RulesOpt,
    RunLogOpt,
    UpstreamKeyOpt,
    UpstreamOpt,
    access_from,
    checked_rules,
)
from openai_api_simulator.cli.provision import provision_options
from openai_api_simulator.cli.run import execute, server_settings, upstreams_from, use_cache_dir
from openai_api_simulator.config import (
    DEFAULT_CACHE_MB,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_PORT,
)


def nanochat(
    model: Annotated[
        str | None,
        typer.Argument(
            help="nanochat (the catalogue's sdobson/nanochat) or hf://OWNER/REPO[@REVISION] [default: nanochat].",
            metavar="MODEL",
            show_default=False,
        ),
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
    device: Annotated[
        str,
        typer.Option(
            "--device", envvar="OAS_NANOCHAT_DEVICE", help="auto (CUDA, else MPS, else CPU), cuda, mps or cpu."
        ),
    ] = "auto",
    dtype: Annotated[
        str,
        typer.Option(
            "--dtype",
            envvar="OAS_NANOCHAT_DTYPE",
            help="auto (bfloat16 where the hardware computes it natively, float16 on MPS, else float32), "
            "float32, bfloat16 or float16.",
        ),
    ] = "auto",
    threads: Annotated[
        int | None,
        typer.Option("--threads", "-t", envvar="OAS_THREADS", min=1, help="CPU threads [default: physical cores]."),
    ] = None,
    engine_port: Annotated[
        int | None,
        typer.Option(
            "--engine-port",
            envvar="OAS_ENGINE_PORT",
            min=1,
            max=65535,
            help="The engine's private port [default: free].",
        ),
    ] = None,
    ready_timeout: ReadyTimeoutOpt = None,
    request_timeout: RequestTimeoutOpt = 600.0,
    hf_endpoint: HfEndpointOpt = None,
    offline: OfflineOpt = False,
    allow_unverified: AllowUnverifiedOpt = False,
    cache_dir: CacheDirOpt = None,
    cache_mb: CacheMbOpt = DEFAULT_CACHE_MB,
    rules: RulesOpt = None,
    log_level: RunLogOpt = "warning",
    log_format: LogFormatOpt = "text",
) -> None:
    """Serve Karpathy's nanochat (561M) beside the fake `gpt-sim-1`, on one port (needs the [nanochat] extra).

    Downloads the checkpoint on first use and converts it once; the engine (PyTorch with transformers) runs in
    a supervised process on a private port, like llama-server for `run`.
    """
    from typing import cast

    from openai_api_simulator.backends import RelaySettings
    from openai_api_simulator.engines.nanochat import NanochatConfig, NanochatEngine
    from openai_api_simulator.engines.nanochat.device import DEVICES, DTYPES, DeviceChoice, DtypeChoice
    from openai_api_simulator.pipeline import ModelChoice, RunPlan

    if device not in DEVICES:
        output.error(f"--device must be one of {', '.join(DEVICES)}, not {device!r}.")
        raise typer.Exit(2)
    if dtype not in DTYPES:
        output.error(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}.")
        raise typer.Exit(2)
    access = access_from(
        api_key=api_key,
        api_key_file=api_key_file,
        allowed_hosts=allowed_hosts,
        cors_origins=cors_origins,
        max_connections=max_connections,
        header_timeout=header_timeout,
        keep_alive_timeout=keep_alive_timeout,
    )
    use_cache_dir(cache_dir)
    engine = NanochatEngine(
        NanochatConfig(
            device=cast(DeviceChoice, device),  # checked above
            dtype=cast(DtypeChoice, dtype),
            threads=threads,
            port=engine_port,
            ready_timeout=ready_timeout,
        )
    )
    plan = RunPlan(
        settings=server_settings(
            host=host,
            port=port,
            alias=alias,
            access=access,
            log_level=log_level,
            log_format=log_format,
            cache_mb=cache_mb,
            rules_file=checked_rules(rules),
        ),
        models=(ModelChoice(model or "nanochat", name),),
        provision=provision_options(offline=offline, allow_unverified=allow_unverified, hf_endpoint=hf_endpoint),
        engines={engine.kind: engine},
        upstreams=upstreams_from(upstream),
        upstream_api_key=upstream_key,
        relay=RelaySettings(read_timeout=request_timeout),
    )
    execute(plan)
