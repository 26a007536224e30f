"""`fake.budget`: counts, the deadline, the slice of the event loop, and stopping, as the work sees them."""

from __future__ import annotations

import time

import pytest

from openai_api_simulator import limits
from openai_api_simulator.fake.budget import Budget, BudgetExceeded, OffLoop, Stopped, stop_all


def test_counts_add_up_and_say_what_was_spent_since_a_point() -> None:
    budget = Budget()
    assert budget.add("steps", 3) == 3
    before = budget.counts()
    assert budget.add("steps", 2) == 5
    budget.add("chars", 10)
    assert budget.spent("steps") == 5
    assert dict(budget.since(before)) == {"steps": 2, "chars": 10}


def test_the_deadline_fires_at_the_next_check_naming_the_field_being_worked_on() -> None:
    budget = Budget(deadline_s=0.01)
    budget.param = "tools[3].function.parameters"
    budget.check()  # in time
    time.sleep(0.02)
    assert budget.expired
    with pytest.raises(BudgetExceeded) as caught:
        budget.check()
    assert caught.value.param == "tools[3].function.parameters"
    assert "after 0.01 s" in caught.value.message
    assert caught.value.message.startswith(
        "The request needs more work than the simulator allows ('tools[3].function.parameters'): "
    )


def test_the_default_deadline_is_the_documented_one() -> None:
    assert Budget().deadline_s == limits.WORK_DEADLINE_S


def test_a_slice_raises_off_loop_once_used_up_and_restores_the_counts_it_is_given() -> None:
    budget = Budget()
    budget.add("steps", 1)
    restore = budget.begin_slice(0.0)
    budget.add("steps", 100)
    time.sleep(0.001)
    with pytest.raises(OffLoop):
        budget.check()
    budget.end_slice(restore)
    assert budget.spent("steps") == 1
    budget.check()  # no slice any more


def test_stop_ends_the_work_of_one_budget() -> None:
    budget, other = Budget(), Budget()
    budget.stop()
    with pytest.raises(Stopped):
        budget.check()
    other.check()


def test_stop_all_ends_the_work_in_flight_and_not_the_next_requests() -> None:
    in_flight = Budget()
    stop_all()
    with pytest.raises(Stopped):
        in_flight.check()
    Budget().check()
