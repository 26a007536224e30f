"""`api.work.run`: quick work stays on the event loop, long work moves to a worker, budget errors are API errors;
and, on a real socket, no request keeps /health waiting."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from openai_api_simulator import limits
from openai_api_simulator.api import work
from openai_api_simulator.config import Settings
from openai_api_simulator.errors import APIError
from openai_api_simulator.fake.budget import Budget, BudgetExceeded
from openai_api_simulator.testing import running


def busy(budget: Budget, seconds: float, threads: list[int]) -> int:
    """Work for `seconds`, checking the budget as the fake's loops do; returns the steps it counted."""
    threads.append(threading.get_ident())
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        budget.add("steps", 1)
        budget.check()
    return budget.spent("steps")


def test_quick_work_runs_on_the_event_loop_thread() -> None:
    async def main() -> tuple[int, list[int]]:
        budget = Budget()
        threads: list[int] = []
        await work.run(budget, busy, budget, 0.0, threads)
        return threading.get_ident(), threads

    loop_thread, threads = asyncio.run(main())
    assert threads == [loop_thread]


def test_long_work_starts_again_in_a_worker_and_counts_once() -> None:
    async def main() -> tuple[int, list[int], int, Budget]:
        budget = Budget()
        threads: list[int] = []
        steps = await work.run(budget, busy, budget, work.INLINE_SLICE_S * 5, threads)
        return threading.get_ident(), threads, steps, budget

    loop_thread, threads, steps, budget = asyncio.run(main())
    assert threads[0] == loop_thread and threads[1] != loop_thread and len(threads) == 2
    # What the abandoned inline attempt counted was forgotten: the total is the worker's alone.
    assert budget.spent("steps") == steps
    assert budget.off_loop  # the request's next phases go to the worker directly


def test_a_request_marked_off_loop_never_runs_on_the_loop() -> None:
    async def main() -> tuple[int, list[int]]:
        budget = Budget()
        budget.off_loop = True
        threads: list[int] = []
        await work.run(budget, busy, budget, 0.0, threads)
        return threading.get_ident(), threads

    loop_thread, threads = asyncio.run(main())
    assert threads and loop_thread not in threads


def test_work_over_a_cap_is_a_400_naming_the_parameter() -> None:
    def over() -> None:
        raise BudgetExceeded("#/items: too much", "tools[0].function.parameters")

    with pytest.raises(APIError) as caught:
        asyncio.run(work.run(Budget(), over))
    error = caught.value
    assert (error.status, error.param, error.code) == (400, "tools[0].function.parameters", "request_too_complex")
    assert error.message == (
        "The request needs more work than the simulator allows ('tools[0].function.parameters'): #/items: too much."
    )


def test_the_deadline_ends_work_that_would_not_end_by_itself() -> None:
    budget = Budget(deadline_s=0.2)
    with pytest.raises(APIError) as caught:
        asyncio.run(work.run(budget, busy, budget, 3600.0, []))
    assert caught.value.status == 400 and "after 0.2 s" in caught.value.message


def test_a_request_that_waited_past_its_deadline_for_a_worker_is_a_503() -> None:
    budget = Budget(deadline_s=0.0)
    budget.off_loop = True
    with pytest.raises(APIError) as caught:
        asyncio.run(work.run(budget, busy, budget, 0.0, []))
    assert caught.value.status == 503 and caught.value.headers["Retry-After"] == "1"
    assert "busy" in caught.value.message


def test_a_cancelled_request_frees_its_worker() -> None:
    finished = threading.Event()

    def forever(budget: Budget) -> None:
        try:
            busy(budget, 3600.0, [])
        finally:
            finished.set()

    async def main() -> None:
        budget = Budget(deadline_s=3600)
        budget.off_loop = True
        task = asyncio.create_task(work.run(budget, forever, budget))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    # Without the stop the worker would spin for an hour; generous, it ends at its next check.
    assert finished.wait(30)


def tool_request(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "gpt-sim-1",
        "messages": [{"role": "user", "content": "call it"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
        "tool_choice": "required",
    }


def recursive_defs(size: int) -> dict[str, Any]:
    defs = {
        f"d{i}": {
            "type": "object",
            "properties": {
                f"p{j}": {"anyOf": [{"$ref": f"#/$defs/d{(i + j + 1) % size}"}, {"type": "null"}]} for j in range(3)
            },
            "required": ["p0", "p1", "p2"],
        }
        for i in range(size)
    }
    return {"type": "object", "$defs": defs, "properties": {"root": {"$ref": "#/$defs/d0"}}, "required": ["root"]}


# Requests of a few kilobytes from the issue, each of which held the event loop for seconds to minutes.
HOSTILE: list[tuple[str, dict[str, Any]]] = [
    ("/v1/chat/completions", tool_request(recursive_defs(16))),
    (
        "/v1/chat/completions",
        tool_request(
            {"$defs": {f"a{i}": {"allOf": [{"$ref": f"#/$defs/a{i + 1}"}] * 2} for i in range(24)} | {"a24": {}}}
            | {"type": "object", "properties": {"x": {"$ref": "#/$defs/a0"}}, "required": ["x"]}
        ),
    ),
    (
        "/v1/chat/completions",
        tool_request({"type": "object", "properties": {"s": {"const": "a" * 60 + "!", "pattern": "^(a+)+$"}}}),
    ),
    ("/v1/chat/completions", tool_request({"type": "object", "properties": {"s": {"minLength": 10**7}}})),
    ("/v1/completions", {"model": "gpt-sim-1", "prompt": ["hi"] * 100, "n": 128, "logprobs": 5}),
    ("/v1/embeddings", {"model": "gpt-sim-1", "input": list(range(200_000))}),
    (
        "/v1/chat/completions",
        {
            "model": "gpt-sim-1",
            "messages": [{"role": "user", "content": "a long essay"}],
            "n": 128,
            "logprobs": True,
            "top_logprobs": 20,
        },
    ),
]


def test_hostile_requests_are_answered_and_health_never_waits_for_them() -> None:
    results: list[int] = []

    def fire(path: str, body: dict[str, Any]) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            results.append(http.post(path, json=body).status_code)

    with running(Settings()) as base:
        url = base.removesuffix("/v1")
        senders = [threading.Thread(target=fire, args=request) for request in HOSTILE]
        for sender in senders:
            sender.start()
        waits = health_waits(url, until=lambda: not any(s.is_alive() for s in senders), deadline=120)
        for sender in senders:
            sender.join()
    assert results and all(status in (200, 400) for status in results) and len(results) == len(HOSTILE)
    assert max(waits) < 1.0, waits  # generous: the point is that none waits for a hostile request


def health_waits(url: str, until: Callable[[], bool], deadline: float) -> list[float]:
    """GET /health over and over until `until()`; how long each took."""
    waits: list[float] = []
    end = time.monotonic() + deadline
    with httpx.Client(base_url=url, timeout=30) as http:
        while not until() and time.monotonic() < end:
            start = time.monotonic()
            assert http.get("/health").status_code == 200
            waits.append(time.monotonic() - start)
            time.sleep(0.01)
    return waits


def test_health_answers_while_a_long_answer_is_worked_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # Work the counts would refuse, let through: ten times the steps a request may take, seconds of CPU.
    monkeypatch.setattr(limits, "MAX_SCHEMA_STEPS", 10**6)
    monkeypatch.setattr(limits, "WORK_DEADLINE_S", 600)
    item = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a"]}
    schema = {
        "type": "object",
        "properties": {"xs": {"type": "array", "minItems": 10_000, "items": item}},
        "required": ["xs"],
    }
    done: list[int] = []

    def fire() -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            done.append(http.post("/v1/chat/completions", json=tool_request(schema)).status_code)

    with running(Settings()) as base:
        url = base.removesuffix("/v1")
        sender = threading.Thread(target=fire)
        sender.start()
        waits = health_waits(url, until=lambda: not sender.is_alive(), deadline=600)
        sender.join()
    assert done == [200]
    assert len(waits) >= 5  # health was asked while the answer was being worked out
    assert max(waits) < 1.0, waits  # on the event loop it would have waited for all of it
