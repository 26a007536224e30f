"""`fake.rng`: seeded draws, forks independent of the parent's state, request fingerprints, draw bounds."""

from __future__ import annotations

import pytest

from openai_api_simulator.fake.rng import Rng, canonical_json, fingerprint, request_fingerprint


def draws(rng: Rng, k: int = 8) -> list[float]:
    return [rng.random() for _ in range(k)]


def test_same_seed_same_draws_and_other_seeds_differ() -> None:
    assert draws(Rng("s")) == draws(Rng("s"))
    assert draws(Rng("s")) != draws(Rng("t"))


def test_draws_are_pinned_across_runs_and_versions() -> None:
    # The fake's answers must stay byte-identical: a change of seeding shows up here first.
    rng = Rng("gpt-sim-1")
    assert [rng.below(1000) for _ in range(5)] == [821, 980, 829, 532, 438]
    assert Rng("gpt-sim-1").fork("x").below(1000) == 218


def test_a_fork_depends_on_the_seed_and_labels_not_on_draws() -> None:
    fresh = draws(Rng("p").fork("a"))
    parent = Rng("p")
    draws(parent, 3)  # the parent's state moved on
    assert draws(parent.fork("a")) == fresh
    assert draws(parent.fork("b")) != fresh
    assert draws(Rng("q").fork("a")) != fresh
    assert draws(Rng("p").fork("a", 1)) == draws(Rng("p").fork("a").fork(1))


def test_draws_from_one_child_do_not_shift_another() -> None:
    parent = Rng("p")
    a, b = parent.fork("a"), parent.fork("b")
    first_b = draws(b, 4)
    parent2 = Rng("p")
    a2, b2 = parent2.fork("a"), parent2.fork("b")
    draws(a2, 100)  # extra draws in one part of the generator
    assert draws(b2, 4) == first_b
    assert draws(a2, 4) != draws(a, 4)  # a2 really moved on


def test_request_fingerprint_ignores_the_given_fields_only() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    ignore = frozenset({"stream", "n"})
    digest = request_fingerprint(body, ignore)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert request_fingerprint({**body, "stream": False, "n": 3}, ignore) == digest
    assert request_fingerprint({k: body[k] for k in reversed(body)}, ignore) == digest  # key order
    assert request_fingerprint({**body, "model": "other"}, ignore) != digest
    assert request_fingerprint(body, frozenset()) != digest


def test_canonical_json_is_compact_and_sorted() -> None:
    assert canonical_json({"b": [1, 2], "a": "é"}) == '{"a":"é","b":[1,2]}'
    assert fingerprint({"b": 1, "a": 2}) == fingerprint({"a": 2, "b": 1})
    assert fingerprint([1, 2]) != fingerprint([2, 1])


@pytest.mark.parametrize("n", [1, 2, 7])
def test_below_stays_in_range_and_reaches_every_value(n: int) -> None:
    rng = Rng(f"below-{n}")
    values = {rng.below(n) for _ in range(300)}
    assert values == set(range(n))


def test_below_refuses_an_empty_range() -> None:
    for n in (0, -3):
        with pytest.raises(ValueError, match="positive"):
            Rng("s").below(n)


def test_between_is_inclusive_and_accepts_swapped_bounds() -> None:
    rng = Rng("between")
    assert {rng.between(3, 6) for _ in range(300)} == {3, 4, 5, 6}
    assert {rng.between(6, 3) for _ in range(300)} == {3, 4, 5, 6}
    assert {rng.between(-2, -2) for _ in range(20)} == {-2}


def test_choice_picks_every_element_deterministically() -> None:
    items = ("red", "green", "blue")
    rng = Rng("choice")
    picks = [rng.choice(items) for _ in range(100)]
    assert set(picks) == set(items)
    again = Rng("choice")
    assert [again.choice(items) for _ in range(100)] == picks
    with pytest.raises(ValueError, match="positive"):
        Rng("s").choice([])


def test_chance_hex_and_alnum() -> None:
    rng = Rng("misc")
    assert not any(rng.chance(0.0) for _ in range(100))
    assert all(rng.chance(1.0) for _ in range(100))
    hexes = rng.hex(40)
    assert len(hexes) == 40 and set(hexes) <= set("0123456789abcdef") and len(set(hexes)) > 8
    token = rng.alnum(60)
    assert len(token) == 60 and token.isalnum() and token.isascii()
    assert any(c.isupper() for c in token) and any(c.islower() for c in token)
