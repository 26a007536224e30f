"""Server settings with the defaults a user gets from a bare `openai-api-simulator`, and the precedence rule.

The CLI maps every `Settings` field to a flag and an `OAS_*` environment variable (Click applies flag >
environment > default); tests build `Settings` directly. What is read from the environment outside the command
line (the cache directory, mirrors, offline mode, tokens) goes through `setting` and `env_flag`, the same rule
in one place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal, TypeVar

T = TypeVar("T")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})


def env_value(name: str) -> str | None:
    """The variable's value, None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def setting(explicit: str | None, env: str, default: str) -> str:
    """Flag > environment > default: `explicit` when given, else `env`'s value, else `default`."""
    return explicit or env_value(env) or default


def env_flag(explicit: bool | None, names: Iterable[str]) -> bool:
    """A yes/no setting: `explicit` when given, else whether any of `names` is set to 1/true/yes/on."""
    if explicit is not None:
        return explicit
    return any((env_value(name) or "").lower() in _TRUE for name in names)


DEFAULT_HOST: Final = "127.0.0.1"  # loopback: nothing outside this machine can reach the server by default
DEFAULT_PORT: Final = 3080
FAKE_MODEL: Final = "gpt-sim-1"
# OpenAI rejects bodies above a few MB for chat; 16 MiB leaves room for large tool schemas and base64 parts
# while stopping a runaway client before it fills memory.
DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024

# What the simulator's caches may hold in all, in MiB (`--cache-mb`). With the ~55 MB a started server takes
# and the working memory of the largest request, this keeps RSS well under 300 MB whatever is sent.
DEFAULT_CACHE_MB: Final = 64
# Each cache's share of that total (docs/fake-model.md, "Memory", explains each). The Responses store gets the
# most because losing an entry there fails a client's follow-up; in the others a miss only costs time.
CACHE_SHARES: Final[Mapping[str, float]] = MappingProxyType(
    {
        "responses": 0.32,  # stored Responses conversations, for `previous_response_id`
        "memo": 0.25,  # whole rendered responses by request bytes
        "word_vectors": 0.15,  # the embeddings' per-word draws
        "answers": 0.08,  # generated answers by content seed
        "journal": 0.08,  # the request journal (`testdouble.journal`), all test ids together
        "validators": 0.05,  # compiled JSON Schema validators by schema text
        "routes": 0.04,  # the model each small request body names
        "matchers": 0.02,  # `pattern` regexes checked and compiled for matching (`schema.pattern`), by source
        "patterns": 0.01,  # parsed `pattern` regexes by source, for generating strings
    }
)


def cache_bytes(cache_mb: float, cache: str) -> int:
    """The byte budget of `cache` (a key of `CACHE_SHARES`) out of `cache_mb` MiB."""
    return int(cache_mb * 1024 * 1024 * CACHE_SHARES[cache])


# Connection limits: see `ConnectionLimits` for why each default is what it is.
DEFAULT_MAX_CONNECTIONS: Final = 1000
DEFAULT_HEADER_TIMEOUT: Final = 10.0
DEFAULT_KEEP_ALIVE_TIMEOUT: Final = 15
DEFAULT_MAX_HEADER_BYTES: Final = 64 * 1024

StreamFailMode = Literal["error", "disconnect"]
# text: uvicorn's lines; json: one JSON object per line with the request id (`observability.logs`).
LogFormat = Literal["text", "json"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("text", "json")


@dataclass(frozen=True)
class Faults:
    """Timing and error injection; each field can also be set per request by an `X-Simulator-*` header."""

    latency_ms: float = 0.0  # time to first token (non-stream: before the response)
    tokens_per_second: float = 0.0  # 0 means as fast as possible
    error_status: int | None = None  # answer every request with this HTTP error
    error_rate: float = 0.0  # fraction of requests answered with `error_status` (default 500)
    error_seed: int = 0  # the error-rate sequence is reproducible from this seed
    retry_after: float = 1.0  # seconds, sent as Retry-After on 429 and 503
    stream_fail_after: int | None = None  # content chunks sent before a stream fails
    stream_fail_mode: StreamFailMode = "error"  # an SSE error event, or the connection cut mid-stream


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client connection may hold: the server's defence against idle and slow clients."""

    # Past this many open connections an idle one is closed to make room, or the request is answered 503.
    # 1000 matches the OpenAI SDK's own pool size; the open-file limit is raised to fit it where allowed.
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    # Seconds from connecting (or from the first byte of a later request) to the end of the request headers.
    # Clients send their headers at once; 10 s is far beyond any real one, and bounds how long a slowloris
    # client holds a connection.
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    # Seconds an idle keep-alive connection stays open. Longer than the clients' own idle expiry (httpx and the
    # OpenAI SDK 5 s, Node's undici 4 s), so the client closes first and never reuses a connection just as
    # the server closes it.
    keep_alive_timeout: int = DEFAULT_KEEP_ALIVE_TIMEOUT
    # Request line plus headers; larger is answered 431. Browsers send localhost's cookies from every port,
    # which can add several KiB; 64 KiB is four times nginx's default.
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES


# What a request with no cassette gets under --replay (`testdouble.cassettes`): the fake's answer, a 404, or
# the upstream's answer, recorded (what --record means).
CassetteMiss = Literal["fake", "error", "record"]
CASSETTE_MISSES: Final[tuple[CassetteMiss, ...]] = ("fake", "error", "record")


@dataclass(frozen=True)
class Cassettes:
    """Record and replay (`--record DIR` / `--replay DIR`); docs/record-replay.md has the workflow."""

    directory: Path
    miss: CassetteMiss = "fake"  # "record": forward to `upstream`, write the exchange, answer it
    speed: float = 1.0  # replayed streams' pace: 1 as recorded, 2 twice as fast, 0 as fast as possible
    upstream: str | None = None  # base URL of the OpenAI-compatible server recorded from
    upstream_key: str | None = field(default=None, repr=False)  # sent upstream only, never written

    @property
    def records(self) -> bool:
        return self.miss == "record"


@dataclass(frozen=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    aliases: tuple[str, ...] = ()  # other model ids the fake answers as (e.g. gpt-4o)
    api_key: str | None = None  # when set, every endpoint but /health needs `Authorization: Bearer KEY`
    # Host names the server answers to beyond localhost and IP addresses ("*": any); see `api.hosts`.
    allowed_hosts: tuple[str, ...] = ()
    # Web origins allowed to call the API from a browser (CORS; "*": any); none by default.
    cors_origins: tuple[str, ...] = ()
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    faults: Faults = field(default_factory=Faults)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    fixed_created: int | None = None  # a constant `created` timestamp, for byte-identical responses
    log_level: str = "info"
    access_log: bool = True
    log_format: LogFormat = "text"
    cache_mb: float = DEFAULT_CACHE_MB  # what all caches together may hold, split by `CACHE_SHARES`
    cassettes: Cassettes | None = None  # record and replay; None: off, and nothing of it runs
    rules_file: str | None = None  # scripted answers for every test (`serve --rules`, `testdouble.rules`)
    # Keep each API request in the request journal (`GET /_simulator/requests`). On by default: it is bounded
    # by its share of `cache_mb`, and a test author reaching for it should find it; off saves ~10 µs CPU a
    # request (docs/fake-model.md), which matters to throughput runs only.
    journal: bool = True

    def cache_bytes(self, cache: str) -> int:
        return cache_bytes(self.cache_mb, cache)

    @property
    def fake_models(self) -> tuple[str, ...]:
        seen: list[str] = [FAKE_MODEL]
        for alias in self.aliases:
            if alias not in seen:
                seen.append(alias)
        return tuple(seen)
