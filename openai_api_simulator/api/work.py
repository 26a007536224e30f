"""Doing a request's CPU work for the fake model without holding up the event loop.

Most of the fake's answers take a fraction of a millisecond, less than handing them to a thread and back
costs (about 35 µs, 15 % of a request the memo does not answer: see docs/benchmarks.md). So work starts on
the event loop with a slice of `INLINE_SLICE_S`; when a budget check finds the slice used up (`OffLoop`),
the work starts again from the beginning in a worker thread. It is a pure function of the request, so the
restart costs only the slice it wasted, and a request's later phases go to the worker directly. Bodies
larger than `INLINE_MAX_BODY` start in a worker: reading them is the long part, and no check interrupts the
tokenizing of one long message.

In a worker the budget's deadline holds. A request that waited for a free worker past its deadline is
answered 503 (the simulator is busy); a request whose task is cancelled (the client is gone, the server is
stopping) stops its worker at the next check. The pool is small: the work holds the GIL, so more threads
would not answer sooner, and the event loop gets the interpreter back every switch interval (5 ms) whatever
the workers do, which is what keeps /health and every other request answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from openai_api_simulator.errors import APIError, InvalidRequest, for_status
from openai_api_simulator.fake.budget import Budget, BudgetExceeded, OffLoop, Stopped

T = TypeVar("T")

INLINE_SLICE_S: Final = 0.01  # the longest the event loop runs one request's work before moving it
INLINE_MAX_BODY: Final = 64 * 1024  # bytes; larger bodies are read in a worker from the start
WORKERS: Final = 4  # concurrent heavy requests; more wait for a worker, within their deadline

_pool: list[ThreadPoolExecutor] = []


def _executor() -> ThreadPoolExecutor:
    if not _pool:
        _pool.append(ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="openai-api-simulator-work"))
    return _pool[0]


async def offload(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker thread: work that is bounded but too long for the loop, with no budget checks
    (parsing a large request body: up to ~80 ms a MB of small JSON objects)."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), fn, *args)


class _Busy(Exception):
    """The request's deadline passed while it waited for a worker."""


def _in_worker(budget: Budget, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    if budget.expired:
        raise _Busy
    return fn(*args)


async def run(budget: Budget, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, on the event loop while it is quick and in a worker thread once it is not.

    Budget errors become API errors: 400 for work over a cap, 503 for work abandoned or never started.
    """
    try:
        if not budget.off_loop:
            restore = budget.begin_slice(INLINE_SLICE_S)
            try:
                return fn(*args)
            except OffLoop:
                budget.end_slice(restore)  # the worker starts over: forget what the inline attempt counted
                budget.off_loop = True
            finally:
                budget.end_slice()
        future = asyncio.get_running_loop().run_in_executor(_executor(), _in_worker, budget, fn, args)
        try:
            return await future
        except asyncio.CancelledError:
            budget.stop()  # nobody will read the answer: free the worker at its next check
            raise
    except BudgetExceeded as exc:
        raise InvalidRequest(exc.message, param=exc.param, code="request_too_complex") from None
    except Stopped:
        raise _unavailable("The server stopped before the answer was ready. (openai-api-simulator)") from None
    except _Busy:
        raise _unavailable(
            f"The simulator is busy: the request waited {budget.deadline_s:g} s for one of its {WORKERS} workers. "
            "Please try again. (openai-api-simulator)"
        ) from None


def _unavailable(message: str) -> APIError:
    error = for_status(503, message)
    error.headers["Retry-After"] = "1"
    return error
