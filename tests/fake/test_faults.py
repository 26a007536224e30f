"""`fake.faults.ErrorSchedule(s)`: which request fails under an error rate, reproducibly, per test id."""

from __future__ import annotations

from openai_api_simulator.config import Faults
from openai_api_simulator.fake.faults import ErrorSchedule, ErrorSchedules


def run(schedule: ErrorSchedule, rate: float, k: int) -> list[bool]:
    return [schedule.should_fail(rate) for _ in range(k)]


def test_the_schedule_is_reproducible_from_its_seed() -> None:
    first = run(ErrorSchedule(seed=7), 0.3, 200)
    assert run(ErrorSchedule(seed=7), 0.3, 200) == first
    assert run(ErrorSchedule(seed=8), 0.3, 200) != first
    assert 30 <= sum(first) <= 90  # roughly the rate, fixed for this seed


def test_rate_zero_never_fails_and_rate_one_always_fails() -> None:
    schedule = ErrorSchedule(seed=1)
    assert not any(run(schedule, 0.0, 200))
    assert not any(run(schedule, -0.5, 20))
    assert all(run(schedule, 1.0, 200))


def test_each_decision_is_one_request_whatever_its_rate() -> None:
    # Request n's fate depends on n and the seed, not on the rates asked before it.
    reference = run(ErrorSchedule(seed=3), 0.5, 60)
    schedule = ErrorSchedule(seed=3)
    run(schedule, 0.0, 10)
    assert run(schedule, 0.5, 50) == reference[10:]


def test_error_status_alone_always_fails_with_that_status() -> None:
    schedule = ErrorSchedule(seed=0)
    assert {schedule.failure(Faults(error_status=429)) for _ in range(50)} == {429}


def test_no_faults_never_fail() -> None:
    schedule = ErrorSchedule(seed=0)
    assert {schedule.failure(Faults()) for _ in range(50)} == {None}


def test_a_rate_fails_with_the_given_status_or_500() -> None:
    expected = run(ErrorSchedule(seed=5), 0.4, 100)
    assert True in expected and False in expected
    with_status = ErrorSchedule(seed=5)
    got = [with_status.failure(Faults(error_rate=0.4, error_status=503)) for _ in range(100)]
    assert got == [503 if fail else None for fail in expected]
    default = ErrorSchedule(seed=5)
    got = [default.failure(Faults(error_rate=0.4)) for _ in range(100)]
    assert got == [500 if fail else None for fail in expected]


def test_every_failure_call_with_a_rate_or_none_counts_one_request() -> None:
    reference = run(ErrorSchedule(seed=9), 0.5, 40)
    schedule = ErrorSchedule(seed=9)
    for _ in range(5):
        schedule.failure(Faults())
    for _ in range(5):
        schedule.failure(Faults(error_rate=0.9, error_status=429))
    assert [schedule.failure(Faults(error_rate=0.5)) for _ in range(30)] == [500 if f else None for f in reference[10:]]


def test_a_failure_with_error_status_alone_also_counts_one_request() -> None:
    reference = run(ErrorSchedule(seed=9), 0.5, 40)
    schedule = ErrorSchedule(seed=9)
    for _ in range(5):
        schedule.failure(Faults(error_status=503))
    assert run(schedule, 0.5, 35) == reference[5:]


def test_each_test_id_has_a_schedule_of_its_own_that_reset_restarts() -> None:
    schedules = ErrorSchedules(seed=5)
    alone = run(ErrorSchedule(seed=5), 0.5, 20)
    interleaved: list[bool] = []
    for _ in range(20):
        schedules.for_test("").should_fail(0.5)
        schedules.for_test("b").should_fail(0.5)
        interleaved.append(schedules.for_test("a").should_fail(0.5))
    assert interleaved == alone
    schedules.reset("a")
    assert run(schedules.for_test("a"), 0.5, 20) == alone
    schedules.reset("")
    assert run(schedules.for_test(""), 0.5, 20) == alone


def test_schedules_are_bounded_by_bytes() -> None:
    schedules = ErrorSchedules(seed=0, max_bytes=10_000)
    for i in range(1_000):
        schedules.for_test(f"test-{i}")
    assert len(schedules) < 100  # test ids kept apart from the default scope
