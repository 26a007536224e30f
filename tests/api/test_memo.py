"""`api.memo`: splitting a rendered response at the `created` placeholder, usage tokens, the bounded memo."""

from __future__ import annotations

import json

from openai_api_simulator.api.memo import (
    CREATED_PLACEHOLDER,
    MAX_KEY_BYTES,
    MemoEntry,
    ResponseMemo,
    completion_tokens,
    entry_for,
    prompt_tokens,
)


def rendered(**fields: object) -> bytes:
    return json.dumps({"id": "chatcmpl-1", "created": CREATED_PLACEHOLDER, "model": "gpt-sim-1", **fields}).encode()


def test_entry_for_splits_at_the_placeholder_and_render_fills_the_time() -> None:
    body = rendered(choices=[])
    entry = entry_for("gpt-sim-1", 5, body)
    assert entry is not None and (entry.model, entry.tokens) == ("gpt-sim-1", 5)
    assert str(CREATED_PLACEHOLDER).encode() not in entry.head + entry.tail
    sent = json.loads(entry.render(1_700_000_123))
    assert sent == {**json.loads(body), "created": 1_700_000_123}
    assert entry.render(1) != entry.render(2)


def test_entry_for_refuses_a_body_without_exactly_one_placeholder() -> None:
    assert entry_for("m", 0, b'{"created":1700000000}') is None
    # The answer text happens to contain the placeholder: splitting would be ambiguous.
    assert entry_for("m", 0, rendered(content=f"see {CREATED_PLACEHOLDER}")) is None


def test_completion_tokens_reads_chat_and_responses_usage() -> None:
    assert completion_tokens({"usage": {"prompt_tokens": 9, "completion_tokens": 4}}) == 4
    assert completion_tokens({"usage": {"input_tokens": 9, "output_tokens": 6}}) == 6
    assert completion_tokens({"usage": None}) == 0
    assert completion_tokens({"object": "embedding"}) == 0
    assert completion_tokens({"usage": {"completion_tokens": "4"}}) == 0


def test_prompt_tokens_reads_chat_and_responses_usage_and_rides_on_the_entry() -> None:
    assert prompt_tokens({"usage": {"prompt_tokens": 9, "completion_tokens": 4}}) == 9
    assert prompt_tokens({"usage": {"input_tokens": 7, "output_tokens": 6}}) == 7
    assert prompt_tokens({"usage": None}) == 0
    entry = entry_for("gpt-sim-1", 5, rendered(choices=[]), prompt_tokens=9)
    assert entry is not None and (entry.prompt_tokens, entry.tokens) == (9, 5)


def entry(tag: str) -> MemoEntry:
    return MemoEntry("gpt-sim-1", 1, tag.encode(), b"}")


def test_the_memo_holds_at_most_its_bytes_of_keys_and_answers_least_recent_out() -> None:
    answer = MemoEntry("gpt-sim-1", 1, b"h" * 3000, b"t" * 1000)  # 4 KB; with a 1 KB key, 5 KB an entry
    memo = ResponseMemo(max_bytes=12_000)  # room for two such entries, not three
    memo.put("/v1/chat/completions", b"a" * 1000, answer)
    memo.put("/v1/chat/completions", b"b" * 1000, answer)
    assert memo.get("/v1/chat/completions", b"a" * 1000) == answer  # a is now the most recent
    memo.put("/v1/chat/completions", b"c" * 1000, answer)
    assert memo.get("/v1/chat/completions", b"b" * 1000) is None
    assert memo.get("/v1/chat/completions", b"a" * 1000) == answer
    assert memo.get("/v1/chat/completions", b"c" * 1000) == answer
    assert 10_000 < memo.nbytes <= 12_000
    # An answer larger than the whole memo is not kept, and does not flush the others.
    memo.put("/v1/embeddings", b"{}", MemoEntry("gpt-sim-1", 0, b"x" * 20_000, b"}"))
    assert memo.get("/v1/embeddings", b"{}") is None
    assert memo.get("/v1/chat/completions", b"a" * 1000) == answer


def test_the_memo_is_keyed_by_endpoint_and_exact_bytes() -> None:
    memo = ResponseMemo()
    memo.put("/v1/chat/completions", b'{"a":1}', entry("chat"))
    assert memo.get("/v1/responses", b'{"a":1}') is None
    assert memo.get("/v1/chat/completions", b'{"a": 1}') is None
    assert memo.get("/v1/chat/completions", b'{"a":1}') == entry("chat")


def test_the_memo_refuses_keys_over_max_key_bytes() -> None:
    memo = ResponseMemo()
    at_limit, over = b"x" * MAX_KEY_BYTES, b"x" * (MAX_KEY_BYTES + 1)
    memo.put("/v1/embeddings", at_limit, entry("ok"))
    memo.put("/v1/embeddings", over, entry("big"))
    assert memo.get("/v1/embeddings", at_limit) == entry("ok")
    assert memo.get("/v1/embeddings", over) is None
