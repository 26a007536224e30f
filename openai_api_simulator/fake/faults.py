"""Which requests fail under an error rate: a reproducible schedule, a pure function of seed and count.

The HTTP side (the `X-Simulator-*` headers, the error bodies and `Retry-After`) is `api.faults`; this module
only decides.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from openai_api_simulator.config import Faults
from openai_api_simulator.fake.rng import Rng


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
