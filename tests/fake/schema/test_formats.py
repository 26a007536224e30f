"""`fake.schema.formats`: every format value made fits its lengths and passes the format's own check."""

from __future__ import annotations

import pytest

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema.formats import FORMAT_CHECKER, MAKERS
from tests.fake.schema.support import SEEDS

CHECKED = {
    "date-time", "date", "time", "email", "idn-email", "uuid", "ipv4", "ipv6", "hostname", "idn-hostname", "uri",
    "iri",
}  # fmt: skip


def test_the_checks_are_the_projects_own_whatever_else_is_installed() -> None:
    assert set(FORMAT_CHECKER.checkers) == CHECKED


@pytest.mark.parametrize("fmt", sorted(MAKERS))
def test_made_values_pass_the_check(fmt: str) -> None:
    for seed in SEEDS:
        value = MAKERS[fmt](Rng(seed), 0, None)
        assert value is not None
        assert FORMAT_CHECKER.conforms(value, fmt), value


@pytest.mark.parametrize("fmt", sorted(MAKERS))
@pytest.mark.parametrize(("lo", "hi"), [(0, 5), (8, 12), (20, 30), (40, None)])
def test_made_values_fit_the_lengths_or_are_none(fmt: str, lo: int, hi: int | None) -> None:
    for seed in SEEDS[:10]:
        value = MAKERS[fmt](Rng(seed), lo, hi)
        if value is not None:
            assert len(value) >= lo and (hi is None or len(value) <= hi)
            assert FORMAT_CHECKER.conforms(value, fmt), value


@pytest.mark.parametrize(
    ("fmt", "bad"),
    [
        ("date", "2023-13-01"),
        ("date", "2023-1-01"),
        ("time", "24:00:00Z"),
        ("time", "12:00:00"),
        ("date-time", "2024-01-01T25:00:00Z"),
        ("email", "nobody"),
        ("uuid", "not-a-uuid"),
        ("ipv4", "1.2.3"),
        ("ipv6", "::g"),
        ("hostname", "a..b"),
        ("hostname", "x" * 64),
        ("uri", "no scheme"),
    ],
)
def test_bad_values_fail_the_check(fmt: str, bad: str) -> None:
    assert not FORMAT_CHECKER.conforms(bad, fmt)
