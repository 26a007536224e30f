"""Server settings, with the defaults a user gets from a bare `openai-api-simulator`.

The CLI maps every field to a flag and an `OAS_*` environment variable; tests build `Settings` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

DEFAULT_HOST: Final = "127.0.0.1"  # loopback: nothing outside this machine can reach the server by default
DEFAULT_PORT: Final = 3080
FAKE_MODEL: Final = "gpt-sim-1"
# OpenAI rejects bodies above a few MB for chat; 16 MiB leaves room for large tool schemas and base64 parts
# while stopping a runaway client before it fills memory.
DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024

StreamFailMode = Literal["error", "disconnect"]


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

    @property
    def fake_models(self) -> tuple[str, ...]:
        seen: list[str] = [FAKE_MODEL]
        for alias in self.aliases:
            if alias not in seen:
                seen.append(alias)
        return tuple(seen)
