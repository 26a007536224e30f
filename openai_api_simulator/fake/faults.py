"""Per-request fault and timing plans: the server's `Faults` overridden by `X-Simulator-*` headers.

Headers (all optional, case-insensitive):

=================================  ==========================================================
``X-Simulator-Latency-Ms``         time to first token, milliseconds
``X-Simulator-Tokens-Per-Second``  streaming pace (also stretches a non-stream answer)
``X-Simulator-Error``              answer with this HTTP status (400–599) in OpenAI's shape
``X-Simulator-Error-Rate``         fail this fraction of requests (0–1), reproducible from the seed
``X-Simulator-Retry-After``        seconds sent in ``Retry-After`` with 429/503
``X-Simulator-Stream-Fail-After``  content chunks sent before the stream fails
``X-Simulator-Stream-Fail-Mode``   ``error`` (an SSE error event) or ``disconnect`` (connection cut)
=================================  ==========================================================
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from openai_api_simulator.config import Faults
from openai_api_simulator.errors import APIError, InvalidRequest, for_status
from openai_api_simulator.fake.rng import Rng

HEADER_PREFIX = "x-simulator-"
_RAW_PREFIX = HEADER_PREFIX.encode()

_MESSAGES: dict[int, str] = {
    429: "Rate limit reached for requests. Please try again in {retry}s. (simulated by openai-api-simulator)",
    500: "The server had an error while processing your request. (simulated by openai-api-simulator)",
    502: "Bad gateway. (simulated by openai-api-simulator)",
    503: "The engine is currently overloaded, please try again later. (simulated by openai-api-simulator)",
    504: "The server timed out while generating the response. (simulated by openai-api-simulator)",
}


def _display(name: str) -> str:
    """`latency-ms` → `X-Simulator-Latency-Ms`, the spelling the docs use."""
    return "X-Simulator-" + "-".join(part.capitalize() for part in name.split("-"))


def _number(headers: Mapping[str, str], name: str, lo: float, hi: float) -> float | None:
    raw = headers.get(HEADER_PREFIX + name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:  # also rejects NaN
        raise InvalidRequest(
            f"Header '{_display(name)}' must be a number from {lo:g} to {hi:g}, got {raw!r}.",
            param=_display(name),
        )
    return value


def has_fault_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether any `X-Simulator-*` header is present (on the raw ASGI headers: no decoding per request)."""
    return any(name.startswith(_RAW_PREFIX) for name, _ in raw_headers)


def plan_for(base: Faults, headers: Mapping[str, str]) -> Faults:
    """The faults that apply to one request: `base` with each header that is present laid over it."""
    raw = getattr(headers, "raw", None)
    if raw is not None and not has_fault_headers(raw):
        return base
    if not any(key.startswith(HEADER_PREFIX) for key in headers):
        return base
    plan = base
    if (v := _number(headers, "latency-ms", 0, 600_000)) is not None:
        plan = replace(plan, latency_ms=v)
    if (v := _number(headers, "tokens-per-second", 0, 1_000_000)) is not None:
        plan = replace(plan, tokens_per_second=v)
    if (v := _number(headers, "error", 400, 599)) is not None:
        plan = replace(plan, error_status=int(v))
    if (v := _number(headers, "error-rate", 0, 1)) is not None:
        plan = replace(plan, error_rate=v)
    if (v := _number(headers, "retry-after", 0, 86_400)) is not None:
        plan = replace(plan, retry_after=v)
    if (v := _number(headers, "stream-fail-after", 0, 1_000_000)) is not None:
        plan = replace(plan, stream_fail_after=int(v))
    mode = headers.get(HEADER_PREFIX + "stream-fail-mode")
    if mode is not None:
        if mode not in ("error", "disconnect"):
            raise InvalidRequest(
                f"Header 'X-Simulator-Stream-Fail-Mode' must be 'error' or 'disconnect', got {mode!r}.",
                param="X-Simulator-Stream-Fail-Mode",
            )
        plan = replace(plan, stream_fail_mode=mode)  # type: ignore[arg-type]
    return plan


def injected_error(status: int, model: str, retry_after: float) -> APIError:
    """The error a client sees for an injected `status`, with Retry-After where OpenAI sends one."""
    retry = f"{retry_after:g}"
    message = _MESSAGES.get(status, f"Simulated error {status}. (simulated by openai-api-simulator)")
    error = for_status(status, message.format(retry=retry, model=model))
    if status in (429, 503):
        error.headers["Retry-After"] = retry
    return error


@dataclass
class ErrorSchedule:
    """Decides which requests fail under an error rate.

    The n-th request handled fails when draw n of the seeded stream is below the rate, so a client that
    replays the same sequence of requests against a fresh server sees the same failures.
    """

    seed: int
    _counter: itertools.count[int]

    @classmethod
    def create(cls, seed: int) -> ErrorSchedule:
        return cls(seed, itertools.count())

    def should_fail(self, rate: float) -> bool:
        n = next(self._counter)
        if rate <= 0:
            return False
        return Rng(f"error-rate/{self.seed}/{n}").random() < rate


def check_injected_error(plan: Faults, schedule: ErrorSchedule, model: str) -> None:
    """Raise the injected error for this request, if any."""
    if plan.error_status is not None and plan.error_rate <= 0:
        raise injected_error(plan.error_status, model, plan.retry_after)
    if schedule.should_fail(plan.error_rate):
        raise injected_error(plan.error_status or 500, model, plan.retry_after)
