"""A work budget for one request: counts checked where the work happens, a deadline, and a way to stop.

Every loop of the fake whose length the request decides (schema walks and generation, choices, log
probabilities, embedded words) calls `Budget.check` as it goes and `Budget.add` for what it produced, so
over-budget work is refused where it happens instead of running until it is done. The counts are the
deterministic part (the same request is always refused, with a message naming the parameter and the
cap in `limits`); the deadline is the last line of defence for work the counts do not foresee.

Exceptions, none of them a `SchemaError`, so no fallback of the generator retries around them::

    BudgetExceeded   the request needs more work than the simulator allows (the API answers 400)
    Stopped          the work was abandoned: the server is stopping, or the client went away
    OffLoop          internal to `api.work`: quick-work time on the event loop is up, move to a worker
"""

from __future__ import annotations

import time
from typing import Final

from openai_api_simulator import limits

# Bumped by `stop_all`: a budget made before the bump stops at its next check.
_epoch: list[int] = [0]
_NO_SLICE: Final = float("inf")


class BudgetExceeded(Exception):
    """The request needs more work than the simulator allows.

    `reason` says which limit and where ("#/properties/a: generated strings would total more than ..."),
    `param` names the request field that asked for the work, when the code that ran out knows it.
    """

    def __init__(self, reason: str, param: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.param = param

    @property
    def message(self) -> str:
        where = f" ('{self.param}')" if self.param else ""
        return f"The request needs more work than the simulator allows{where}: {self.reason}."


class Stopped(Exception):
    """The request's work was abandoned before it finished."""


class OffLoop(Exception):
    """The work ran past its time on the event loop; `api.work` starts it again in a worker thread."""


class Budget:
    """What one request may still spend.

    Used by one thread at a time (the request's); `stop` may come from another, and only sets a flag.
    """

    __slots__ = ("_epoch", "_slice_end", "_spent", "_stopped", "deadline", "deadline_s", "memo", "off_loop", "param")

    def __init__(self, deadline_s: float | None = None) -> None:
        self.deadline_s = limits.WORK_DEADLINE_S if deadline_s is None else deadline_s
        self.deadline = time.monotonic() + self.deadline_s
        self.param: str | None = None  # the request field being worked on, named by the deadline error
        self.off_loop = False  # set by `api.work` once the work needs a worker thread
        # What the request's work has worked out and may use again (a schema's analysis): its second look at
        # the same thing costs nothing more. Keys are the owner's; entries hold the objects they are about.
        self.memo: dict[object, object] = {}
        self._spent: dict[str, int] = {}
        self._slice_end = _NO_SLICE
        self._stopped = False
        self._epoch = _epoch[0]

    def check(self) -> None:
        """Raise if the work must end now: stopped, past the deadline, or past its slice of the event loop."""
        if self._stopped or self._epoch != _epoch[0]:
            raise Stopped
        now = time.monotonic()
        if now > self._slice_end:
            raise OffLoop
        if now > self.deadline:
            raise self.too_slow()

    def too_slow(self) -> BudgetExceeded:
        return BudgetExceeded(
            f"its answer was still being worked on after {self.deadline_s:g} s, the limit for one request "
            "(send a smaller schema, fewer or shorter inputs, or a lower n)",
            self.param,
        )

    def add(self, what: str, amount: int) -> int:
        """Count `amount` more of `what` (steps, characters...) and return the request's total so far."""
        total = self._spent.get(what, 0) + amount
        self._spent[what] = total
        return total

    def spent(self, what: str) -> int:
        return self._spent.get(what, 0)

    def counts(self) -> dict[str, int]:
        return dict(self._spent)

    def since(self, before: dict[str, int]) -> tuple[tuple[str, int], ...]:
        """What was counted after `before` (a `counts()`), to be charged again by whoever repeats the work."""
        return tuple((what, n - before.get(what, 0)) for what, n in self._spent.items() if n != before.get(what, 0))

    def rewind(self, before: dict[str, int]) -> None:
        """Take back what was counted after `before` (a `counts()`): work tried for a choice that was dropped
        (`fake.prompted` trying a schema the generator refuses), which must not count against what is kept."""
        self._spent = dict(before)

    def stop(self) -> None:
        """Make the next `check` raise `Stopped` (the client is gone: nobody will read the answer)."""
        self._stopped = True

    @property
    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    # ---- for `api.work` --------------------------------------------------------------------------

    def begin_slice(self, seconds: float) -> dict[str, int]:
        """Allow `seconds` more before `check` raises `OffLoop`; returns the counts to restore on a restart."""
        self._slice_end = time.monotonic() + seconds
        return dict(self._spent)

    def end_slice(self, restore: dict[str, int] | None = None) -> None:
        """End the slice; with `restore`, the work starts over: its counts back, nothing it worked out kept."""
        self._slice_end = _NO_SLICE
        if restore is not None:
            self._spent = restore
            self.memo = {}


def stop_all() -> None:
    """Stop the work of every request in flight (the server is shutting down); later budgets are unaffected."""
    _epoch[0] += 1
