"""Command-line options, each declared once (`run` and `pull` share the provisioning ones).

Each flag names its environment variable (`OAS_*`, or the Hugging Face ecosystem's own); Click applies the
precedence flag > environment > default, the same rule `config.from_env` applies to what is read outside the
command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openai_api_simulator.config import FAKE_MODEL, LOG_FORMATS

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


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise typer.BadParameter(f"must be {' or '.join(LOG_FORMATS)}, not {value!r}.")
    return value


LogFormatOpt = Annotated[
    str,
    typer.Option(
        "--log-format",
        envvar="OAS_LOG_FORMAT",
        callback=_log_format,
        help="text, or json: one JSON object per line on stderr (with each request's x-request-id).",
    ),
]


# Provisioning: shared by `pull` and `run` (which provisions before serving).
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


# `run` and `nanochat`: a real model beside the fake.
NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name", envvar="OAS_MODEL_NAME", help="Model id clients use [default: the catalogue id or file name]."
    ),
]
UpstreamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--upstream",
        envvar="OAS_UPSTREAMS",
        help="NAME=URL: also route model NAME to an OpenAI-compatible server (repeatable; several URLs for one "
        "NAME are balanced).",
    ),
]
UpstreamKeyOpt = Annotated[
    str | None,
    typer.Option("--upstream-api-key", envvar="OAS_UPSTREAM_API_KEY", help="API key sent to --upstream servers."),
]
ReadyTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--ready-timeout",
        envvar="OAS_READY_TIMEOUT",
        min=1,
        help="Seconds the engine may take to load [default: grows with the model size].",
    ),
]
RequestTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--request-timeout",
        envvar="OAS_REQUEST_TIMEOUT",
        min=1,
        help="Seconds to wait for upstream data before answering 504.",
    ),
]
RunLogOpt = Annotated[
    str,
    typer.Option(
        "--log-level", envvar="OAS_LOG_LEVEL", help="info shows every request; warning (default) only problems."
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        envvar="OAS_CACHE_DIR",
        help="Where downloads, conversions, logs and pid files go [default: the user cache directory].",
    ),
]


def split_values(values: list[str] | None) -> tuple[str, ...]:
    """Values of a repeatable flag; each may also hold several, comma or space separated (as env vars do)."""
    out: list[str] = []
    for value in values or []:
        out.extend(part for part in value.replace(",", " ").split() if part)
    return tuple(out)
