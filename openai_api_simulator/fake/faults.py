"""Which requests fail under an error rate: a reproducible schedule, a pure function of seed and count.

The HTTP side (the `X-Simulator-*` headers, the error bodies and `Retry-After`) is `api.faults`; this module
only decides.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Final

from openai_api_simulator.config import Faults
from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.lru import LRU


@dataclass
class ErrorSchedule:
    """Decides which requests fail under an error rate.

    The n-th request handled fails when draw n of the seeded stream is below the rate, so a client that
    replays the same sequence of requests against a fresh server sees the same failures.
    """

    seed: int
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def should_fail(self, rate: float) -> bool:
        n = next(self._counter)
        if rate <= 0:
            return False
        return Rng(f"error-rate/{self.seed}/{n}").random() < rate

    def failure(self, plan: Faults) -> int | None:
        """The status this request fails with under `plan`, or None. Every call counts one request."""
        drawn = self.should_fail(plan.error_rate)  # first: a request failed by status alone counts too
        if plan.error_status is not None and plan.error_rate <= 0:
            return plan.error_status
        return (plan.error_status or 500) if drawn else None


# What one test id's schedule costs in `ErrorSchedules` beyond its id (the schedule, its counter, a slot):
# at 256 KiB, about a thousand test ids at once keep their counters; the least recently used then starts over.
SCHEDULE_BYTES: Final = 160
SCHEDULES_MAX_BYTES: Final = 256 * 1024


class ErrorSchedules:
    """One `ErrorSchedule` per test id (`testdouble.scope`), so parallel tests do not share a counter.

    Every test id starts at request 0 of the same seeded stream: a test sees the failures it would see alone
    on a fresh server, whatever else runs beside it. The "" scope (requests naming no test) is never evicted.
    """

    def __init__(self, seed: int, max_bytes: int = SCHEDULES_MAX_BYTES) -> None:
        self.seed = seed
        self.default = ErrorSchedule(seed)
        self._by_test: LRU[str, ErrorSchedule] = LRU(max_bytes)

    def for_test(self, test_id: str) -> ErrorSchedule:
        if not test_id:
            return self.default
        schedule = self._by_test.get(test_id)
        if schedule is None:
            schedule = ErrorSchedule(self.seed)
            self._by_test.put(test_id, schedule, len(test_id) + SCHEDULE_BYTES)
        return schedule

    def reset(self, test_id: str) -> None:
        """`test_id` starts again from request 0."""
        if not test_id:
            self.default = ErrorSchedule(self.seed)
        elif self._by_test.get(test_id) is not None:
            self._by_test.put(test_id, ErrorSchedule(self.seed), len(test_id) + SCHEDULE_BYTES)

    def __len__(self) -> int:
        """The test ids with a schedule of their own now."""
        return len(self._by_test)
