"""Fault injection over HTTP: the server's `Faults` overridden per request by `X-Simulator-*` headers.

Headers (all optional, case-insensitive):

=================================  ==========================================================
``X-Simulator-Latency-Ms``         time to first token, milliseconds
``X-Simulator-Tokens-Per-Second``  streaming pace (also stretches a non-stream answer)
``X-Simulator-Error``              answer with this HTTP status (400–599) in OpenAI's shape
``X-Simulator-Error-Rate``         fail this fraction of requests (0–1), reproducible from the seed
``X-Simulator-Retry-After``        seconds sent in ``Retry-After`` with 429/503 (rounded up to whole seconds;
                                   ``Retry-After-Ms`` carries them exactly)
``X-Simulator-Stream-Fail-After``  content chunks sent before the stream fails
``X-Simulator-Stream-Fail-Mode``   ``error`` (an SSE error event) or ``disconnect`` (connection cut)
=================================  ==========================================================

Which request fails under an error rate is decided by `fake.faults.ErrorSchedule`; this module reads the
headers and turns a decision into the error a client sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Final

from openai_api_simulator import limits
from openai_api_simulator.api.http import retry_after as whole_seconds
from openai_api_simulator.api.http import retry_after_ms
from openai_api_simulator.config import Faults
from openai_api_simulator.errors import APIError, InvalidRequest, for_status

HEADER_PREFIX: Final = "x-simulator-"
_RAW_PREFIX: Final = HEADER_PREFIX.encode()

_MESSAGES: Final[dict[int, str]] = {
    429: "Rate limit reached for requests. Please try again in {retry}s. (simulated by openai-api-simulator)",
    500: "The server had an error while processing your request. (simulated by openai-api-simulator)",
    502: "Bad gateway. (simulated by openai-api-simulator)",
    503: "The engine is currently overloaded, please try again later. (simulated by openai-api-simulator)",
    504: "The server timed out while generating the response. (simulated by openai-api-simulator)",
    529: "Overloaded. (simulated by openai-api-simulator)",  # Anthropic's status for an overloaded API
}


def _display(name: str) -> str:
    """`latency-ms` → `X-Simulator-Latency-Ms`, the spelling the docs use."""
    return "X-Simulator-" + "-".join(part.capitalize() for part in name.split("-"))


def _number(headers: Mapping[str, str], name: str, lo: float, hi: float, *, or_zero: bool = False) -> float | None:
    """The header's value, from `lo` to `hi` (or exactly 0 with `or_zero`); 400 naming the header otherwise."""
    raw = headers.get(HEADER_PREFIX + name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (lo <= value <= hi or (or_zero and value == 0)):  # also rejects NaN
        zero = "0 or " if or_zero else ""
        raise InvalidRequest(
            f"Header '{_display(name)}' must be {zero}a number from {lo:g} to {hi:g}, got {raw!r}.",
            param=_display(name),
        )
    return value


def has_fault_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether any `X-Simulator-*` header is present (on the raw ASGI headers: no decoding per request)."""
    return any(name.startswith(_RAW_PREFIX) for name, _ in raw_headers)


def fault_plan(base: Faults, headers: Mapping[str, str]) -> Faults:
    """The faults that apply to one request: `base` with each header that is present laid over it.

    Returns `base` itself when no header is present, which callers use to know the request may be memoized.
    """
    raw = getattr(headers, "raw", None)
    if raw is not None and not has_fault_headers(raw):
        return base
    if not any(key.startswith(HEADER_PREFIX) for key in headers):
        return base
    plan = base
    if (v := _number(headers, "latency-ms", 0, limits.MAX_LATENCY_MS)) is not None:
        plan = replace(plan, latency_ms=v)
    rate = _number(
        headers, "tokens-per-second", limits.MIN_TOKENS_PER_SECOND, limits.MAX_TOKENS_PER_SECOND, or_zero=True
    )
    if rate is not None:
        plan = replace(plan, tokens_per_second=rate)
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
    retry = whole_seconds(retry_after)  # the message says what the header says
    message = _MESSAGES.get(status, f"Simulated error {status}. (simulated by openai-api-simulator)")
    error = for_status(status, message.format(retry=retry, model=model))
    if status in (429, 503, 529):
        error.headers["Retry-After"] = retry
        error.headers["Retry-After-Ms"] = retry_after_ms(retry_after)
    return error
