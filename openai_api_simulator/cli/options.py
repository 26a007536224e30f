"""Command-line options, each declared once (`run` and `pull` share the provisioning ones).

Each flag names its environment variable (`OAS_*`, or the Hugging Face ecosystem's own); Click applies the
precedence flag > environment > default, the same rule `config.from_env` applies to what is read outside the
command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from openai_api_simulator.config import FAKE_MODEL, LOG_FORMATS, ConnectionLimits

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
        "--api-key",
        envvar="OAS_API_KEY",
        help="Require `Authorization: Bearer KEY` on every endpoint but /health (the env var or --api-key-file "
        "keep it out of `ps`).",
    ),
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--api-key-file",
        envvar="OAS_API_KEY_FILE",
        help="Read the API key from this file (surrounding whitespace ignored), e.g. a container secret.",
    ),
]


# Connections and browser access: shared by `serve`, `run` and `nanochat` (see docs/fake-model.md).
AllowedHostsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allowed-hosts",
        envvar="OAS_ALLOWED_HOSTS",
        help="Host names the server answers to besides localhost and IP addresses, e.g. sim or *.lan; * for "
        "any (repeatable; comma or space separated) [default: any when --host is 0.0.0.0 or ::].",
    ),
]
CorsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cors-origins",
        envvar="OAS_CORS_ORIGINS",
        help="Web origins allowed to call the API from a browser (CORS), e.g. http://localhost:5173; * for any "
        "(repeatable; comma or space separated) [default: none].",
    ),
]
MaxConnOpt = Annotated[
    int,
    typer.Option(
        "--max-connections",
        envvar="OAS_MAX_CONNECTIONS",
        min=1,
        help="Open connections at most; past it idle ones are closed, else requests get 503 with Retry-After.",
    ),
]
HeaderTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--header-timeout",
        envvar="OAS_HEADER_TIMEOUT",
        min=0.1,
        help="Seconds a client has to send its request headers (slow ones get 408).",
    ),
]
KeepAliveOpt = Annotated[
    int,
    typer.Option(
        "--keep-alive-timeout",
        envvar="OAS_KEEP_ALIVE_TIMEOUT",
        min=1,
        help="Seconds an idle keep-alive connection stays open.",
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
CacheMbOpt = Annotated[
    float,
    typer.Option(
        "--cache-mb",
        envvar="OAS_CACHE_MB",
        min=1,
        help="Memory all caches may hold together, in MB: the memo of responses, the stored Responses for "
        "previous_response_id (32% of it), embedding vectors, answers, the request journal, schemas.",
    ),
]
JournalOpt = Annotated[
    bool,
    typer.Option(
        "--journal/--no-journal",
        envvar="OAS_JOURNAL",
        help="Keep each API request in the request journal, read per test id at GET /_simulator/requests "
        "(bounded by --cache-mb).",
    ),
]
RulesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        envvar="OAS_RULES",
        help="Scripted answers for every request (a .yaml, .yml or .json file of rules; see docs/fake-model.md, "
        '"Scripted answers"). Tests add their own at run time under /_simulator/rules.',
    ),
]


def checked_rules(path: Path | None) -> str | None:
    """The `--rules` file, loaded once to check it: a bad one exits 2, naming the file and the place in it,
    before the server starts (the fake loads it again, which cannot then fail but for a file changed meanwhile)."""
    if path is None:
        return None
    from openai_api_simulator.cli import output
    from openai_api_simulator.testdouble.rules import RuleError, load_rules

    try:
        load_rules(path)
    except RuleError as exc:
        output.error(f"Invalid --rules file: {exc}")
        raise typer.Exit(2) from None
    return str(path)


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


# Record and replay (`serve`; testdouble.cassettes, docs/record-replay.md).
RecordOpt = Annotated[
    Path | None,
    typer.Option(
        "--record",
        envvar="OAS_RECORD",
        help="Record into DIR: requests DIR has no cassette for go to --record-upstream and are written there; "
        "the others are replayed.",
        metavar="DIR",
    ),
]
RecordUpstreamOpt = Annotated[
    str | None,
    typer.Option(
        "--record-upstream",
        envvar="OAS_RECORD_UPSTREAM",
        help="The OpenAI-compatible server recorded from, e.g. https://api.openai.com/v1.",
        metavar="URL",
    ),
]
RecordKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--record-upstream-key",
        envvar="OAS_RECORD_UPSTREAM_KEY",
        help="API key sent to --record-upstream (never written to a cassette; the env var keeps it out of `ps`).",
    ),
]
ReplayOpt = Annotated[
    Path | None,
    typer.Option(
        "--replay",
        envvar="OAS_REPLAY",
        help="Answer requests from the cassettes in DIR, byte for byte.",
        metavar="DIR",
    ),
]
ReplaySpeedOpt = Annotated[
    float,
    typer.Option(
        "--replay-speed",
        envvar="OAS_REPLAY_SPEED",
        min=0,
        help="Replayed streams' pace: 1 as recorded, 2 twice as fast, 0 as fast as possible.",
    ),
]
ReplayMissOpt = Annotated[
    str | None,
    typer.Option(
        "--replay-miss",
        envvar="OAS_REPLAY_MISS",
        help="A request with no cassette: fake (the fake model answers), error (404 naming its key) or record "
        "(from --record-upstream) [default: fake].",
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


@dataclass(frozen=True)
class Access:
    """What `serve`, `run` and `nanochat` share about who may connect, checked and parsed from their flags."""

    api_key: str | None
    allowed_hosts: tuple[str, ...]
    cors_origins: tuple[str, ...]
    connections: ConnectionLimits


def access_from(
    *,
    api_key: str | None,
    api_key_file: Path | None,
    allowed_hosts: list[str] | None,
    cors_origins: list[str] | None,
    max_connections: int,
    header_timeout: float,
    keep_alive_timeout: int,
) -> Access:
    """The access flags parsed; a usage error (exit 2) naming the flag and what is wrong."""
    from openai_api_simulator.api.hosts import parse_allowed_hosts, parse_origins
    from openai_api_simulator.cli import output

    try:
        return Access(
            api_key=read_api_key(api_key, api_key_file),
            allowed_hosts=parse_allowed_hosts(split_values(allowed_hosts)),
            cors_origins=parse_origins(split_values(cors_origins)),
            connections=ConnectionLimits(
                max_connections=max_connections,
                header_timeout=header_timeout,
                keep_alive_timeout=keep_alive_timeout,
            ),
        )
    except ValueError as exc:
        output.error(exc)
        raise typer.Exit(2) from None


def read_api_key(api_key: str | None, api_key_file: Path | None) -> str | None:
    """The key from --api-key (or OAS_API_KEY) or from --api-key-file; ValueError saying why it is unusable."""
    if api_key_file is None:
        return api_key or None
    if api_key:
        raise ValueError(
            "Give the API key with --api-key (or OAS_API_KEY) or with --api-key-file (or OAS_API_KEY_FILE), not both."
        )
    try:
        key = api_key_file.expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"Cannot read the API key file {api_key_file}: {reason}.") from None
    if not key:
        raise ValueError(f"The API key file {api_key_file} is empty.")
    if any(ch.isspace() for ch in key):
        raise ValueError(f"The API key in {api_key_file} contains whitespace; a key is one word, on one line.")
    return key


def fitted(limits: ConnectionLimits) -> ConnectionLimits:
    """`limits` with the open-file limit raised to fit them, or fewer connections and a warning printed."""
    from rich.markup import escape

    from openai_api_simulator.cli import output
    from openai_api_simulator.connections import fit_open_files

    limits, warning = fit_open_files(limits)
    if warning:
        output.err.print(f"[yellow]Warning:[/] {escape(warning)}")
    return limits
