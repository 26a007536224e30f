"""`api.conversations`: the Responses store is bounded by bytes, counts them honestly, and says why an id is gone."""

from __future__ import annotations

import tracemalloc

from openai_api_simulator.api.conversations import ConversationStore, history_bytes
from openai_api_simulator.fake.chat import Message


def conversation(tag: str, size: int) -> tuple[Message, ...]:
    return (Message("user", tag + "q" * size), Message("assistant", tag + "a" * 100))


def test_the_store_keeps_at_most_its_bytes_least_recently_used_out() -> None:
    store = ConversationStore(max_bytes=50_000)
    for i in range(10):
        store.put(f"resp_{i}", conversation(str(i), 10_000))
    assert store.nbytes <= 50_000
    kept = [i for i in range(10) if store.get(f"resp_{i}") is not None]
    assert kept == [6, 7, 8, 9]  # four 10 KB conversations fit; the oldest went first
    # A conversation larger than the whole store is not kept, and the others stay.
    store.put("resp_huge", conversation("h", 60_000))
    assert store.get("resp_huge") is None and store.get("resp_9") is not None


def test_history_bytes_is_not_an_underestimate() -> None:
    texts = [f"turn {i} " + "ü" * (i * 37 % 500) for i in range(300)]  # mixed sizes, some non-ASCII
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        messages = tuple(Message("user" if i % 2 else "assistant", text + "!") for i, text in enumerate(texts))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held <= history_bytes(messages) <= 2 * held


def test_an_unknown_id_is_an_openai_shaped_400_that_says_what_to_do() -> None:
    error = ConversationStore(max_bytes=25 * 1024 * 1024).not_found("resp_gone")
    assert error.status == 400
    assert (error.param, error.code, error.type) == (
        "previous_response_id",
        "previous_response_not_found",
        "invalid_request_error",
    )
    assert error.message.startswith("Previous response with id 'resp_gone' not found.")
    assert "up to 25.0 MB" in error.message and "evicted" in error.message
    assert "--cache-mb" in error.message and "OAS_CACHE_MB" in error.message
