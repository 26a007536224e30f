"""Request ids: a client's sane `x-request-id` is kept, anything else is replaced by a new `req_` id."""

from __future__ import annotations

import re

import pytest

from openai_api_simulator.observability import request_id


def test_new_ids_look_like_openais_and_do_not_repeat() -> None:
    made = [request_id.new() for _ in range(2000)]  # more than one batch of randomness
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", rid) and raw == rid.encode() for rid, raw in made)
    assert len({rid for rid, _ in made}) == len(made)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (b"trace-42", "trace-42"),
        (b"  padded  ", "padded"),
        (b"x" * 128, "x" * 128),
        (b"a b/c:d", "a b/c:d"),
    ],
)
def test_a_sane_client_id_is_kept(sent: bytes, kept: str) -> None:
    assert request_id.from_headers([(b"host", b"x"), (b"x-request-id", sent)]) == (kept, kept.encode())


@pytest.mark.parametrize("sent", [b"", b"   ", b"x" * 129, b"bad\x00byte", b"line\nbreak", "caf\u00e9".encode()])
def test_an_insane_client_id_is_replaced(sent: bytes) -> None:
    rid, _ = request_id.from_headers([(b"x-request-id", sent)])
    assert re.fullmatch(r"req_[0-9a-f]{32}", rid)


def test_no_client_id_gets_a_new_one() -> None:
    rid, _ = request_id.from_headers([(b"host", b"x"), (b"content-type", b"application/json")])
    assert re.fullmatch(r"req_[0-9a-f]{32}", rid)
