"""`api.common`: request-derived ids, usage objects, `created`, token pacing (on a fake clock) and `FailAfter`."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Iterable

import pytest

from openai_api_simulator import limits
from openai_api_simulator.api import common
from openai_api_simulator.api.common import FailAfter, RequestContext, StreamCut, chat_usage, make_id, paced
from openai_api_simulator.config import Faults, Settings


class FakeClock:
    """Stands in for the event loop's clock and `asyncio.sleep` inside `api.common`: sleeping advances time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(common, "asyncio", types.SimpleNamespace(get_running_loop=lambda: fake, sleep=fake.sleep))
    return fake


def collect(stream: AsyncIterator[str], clock: FakeClock) -> list[tuple[str, float]]:
    """Drain `stream`, noting the fake time at which each item arrived."""

    async def drain() -> list[tuple[str, float]]:
        return [(item, clock.now) async for item in stream]

    return asyncio.run(drain())


def sent_before_cut(fail: FailAfter, items: Iterable[str]) -> tuple[list[str], bool]:
    got: list[str] = []

    async def drain() -> None:
        async for item in fail.paced(items):
            got.append(item)

    try:
        asyncio.run(drain())
    except StreamCut:
        return got, True
    return got, False


def test_make_id_is_derived_from_the_seed() -> None:
    a = make_id("chatcmpl-", "seed-1")
    assert a == make_id("chatcmpl-", "seed-1")
    assert a != make_id("chatcmpl-", "seed-2")
    assert a.startswith("chatcmpl-") and len(a) == len("chatcmpl-") + 29
    assert a.removeprefix("chatcmpl-").isalnum() and a.isascii()
    long = make_id("fc_", "seed-1", 48)
    assert len(long) == 3 + 48
    assert make_id("resp_", "seed-1").removeprefix("resp_") == a.removeprefix("chatcmpl-")


def test_chat_usage_totals_and_zero_details() -> None:
    usage = chat_usage(12, 30)
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (12, 30, 42)
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert set(usage["completion_tokens_details"].values()) == {0}


def test_created_is_the_override_then_the_fixed_clock() -> None:
    fixed = RequestContext(Settings(fixed_created=1_700_000_000), Faults(), "gpt-sim-1")
    assert fixed.created() == 1_700_000_000
    assert RequestContext(Settings(fixed_created=5), Faults(), "m", created_override=-7).created() == -7
    assert RequestContext(Settings(), Faults(), "m").created() > 1_700_000_000  # the wall clock


def test_paced_without_a_rate_never_sleeps(clock: FakeClock) -> None:
    assert collect(paced(["a", "b", "c"], Faults()), clock) == [("a", 100.0), ("b", 100.0), ("c", 100.0)]
    assert clock.sleeps == []


def test_paced_spaces_items_at_the_token_rate(clock: FakeClock) -> None:
    got = collect(paced(["a", "b", "c", "d"], Faults(tokens_per_second=10)), clock)
    assert [item for item, _ in got] == ["a", "b", "c", "d"]
    assert [at for _, at in got] == pytest.approx([100.0, 100.1, 100.2, 100.3])


def test_paced_schedules_from_the_start_so_a_slow_consumer_causes_no_drift(clock: FakeClock) -> None:
    # The consumer spends 0.25 s on the first item; items 1 and 2 are then already due, item 3 is not.
    async def stream() -> AsyncIterator[str]:
        async for item in paced(["a", "b", "c", "d"], Faults(tokens_per_second=10)):
            yield item
            clock.now += 0.25 if item == "a" else 0.0

    got = collect(stream(), clock)
    assert [at for _, at in got] == pytest.approx([100.0, 100.25, 100.25, 100.3])
    assert clock.sleeps == [pytest.approx(0.05)]


def test_generation_delay_is_latency_plus_tokens_at_the_rate(clock: FakeClock) -> None:
    asyncio.run(common.generation_delay(Faults(latency_ms=200, tokens_per_second=10), 5))
    assert clock.sleeps == pytest.approx([0.2, 0.5])
    clock.sleeps.clear()
    asyncio.run(common.generation_delay(Faults(tokens_per_second=10), 0))
    assert clock.sleeps == []


def test_fail_after_cuts_instead_of_the_chunk_over_the_budget() -> None:
    fail = FailAfter(Faults(stream_fail_after=2))
    assert sent_before_cut(fail, ["a", "b", "c"]) == (["a", "b"], True)
    assert fail.sent == 2


def test_fail_after_shares_its_budget_across_paced_calls_and_needs_a_next_chunk() -> None:
    fail = FailAfter(Faults(stream_fail_after=2))
    assert sent_before_cut(fail, ["a"]) == (["a"], False)
    assert sent_before_cut(fail, ["b"]) == (["b"], False)  # exactly the budget: nothing is cut yet
    assert sent_before_cut(fail, ["c"]) == ([], True)
    fail.end()  # only a budget of 0 fails at the end


def test_without_a_budget_everything_goes_out() -> None:
    fail = FailAfter(Faults())
    assert sent_before_cut(fail, [str(k) for k in range(50)]) == ([str(k) for k in range(50)], False)
    fail.end()


def test_a_budget_of_zero_fails_even_an_answer_without_content() -> None:
    fail = FailAfter(Faults(stream_fail_after=0))
    assert sent_before_cut(fail, []) == ([], False)
    with pytest.raises(StreamCut):
        fail.end()
    assert sent_before_cut(FailAfter(Faults(stream_fail_after=0)), ["a"]) == ([], True)


def test_no_pace_lasts_longer_than_the_longest_latency(clock: FakeClock) -> None:
    # At 1e-9 tokens/s (the --tokens-per-second flag takes it) one token would wait 30 years.
    asyncio.run(common.generation_delay(Faults(tokens_per_second=1e-9), 300))
    assert clock.sleeps == pytest.approx([limits.MAX_PACING_S])
    start, cap = clock.now, limits.MAX_PACING_S
    got = collect(paced(["a", "b", "c"], Faults(tokens_per_second=1e-9)), clock)
    assert [at - start for _, at in got] == pytest.approx([0.0, cap, cap])
