"""Server settings with the defaults a user gets from a bare `openai-api-simulator`, and the precedence rule.

The CLI maps every `Settings` field to a flag and an `OAS_*` environment variable (Click applies flag >
environment > default); tests build `Settings` directly. What is read from the environment outside the command
line (the cache directory, mirrors, offline mode, tokens) goes through `setting` and `env_flag`, the same rule
in one place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
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
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    aliases: tuple[str, ...] = ()  # other model ids the fake answers as (e.g. gpt-4o)
    api_key: str | None = None  # when set, every endpoint but /health needs `Authorization: Bearer KEY`
    faults: Faults = field(default_factory=Faults)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    fixed_created: int | None = None  # a constant `created` timestamp, for byte-identical responses
    log_level: str = "info"
    access_log: bool = True
    log_format: LogFormat = "text"

    @property
    def fake_models(self) -> tuple[str, ...]:
        seen: list[str] = [FAKE_MODEL]
        for alias in self.aliases:
            if alias not in seen:
                seen.append(alias)
        return tuple(seen)
