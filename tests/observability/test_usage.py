"""Token counts read from an answer's bytes, whatever the server's key order, chunking and event stream."""

from __future__ import annotations

import json

import pytest

from openai_api_simulator.observability.usage import UsageScanner


def scan(*chunks: bytes) -> tuple[int, int] | None:
    scanner = UsageScanner()
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.usage


CHAT = (
    b'{"id":"chatcmpl-1","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":7,'
    b'"completion_tokens":90,"total_tokens":97,"prompt_tokens_details":{"cached_tokens":3},'
    b'"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp"}'
)


def test_chat_completions_usage() -> None:
    assert scan(CHAT) == (7, 90)


def test_responses_usage_names_and_nesting() -> None:
    body = json.dumps(
        {
            "object": "response",
            "usage": {
                "input_tokens": 11,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 49,
                "output_tokens_details": {"reasoning_tokens": 2},
                "total_tokens": 60,
            },
            "metadata": {},
        }
    ).encode()  # json.dumps's spaces after colons, as Python servers write them
    assert scan(body) == (11, 49)


def test_llama_servers_order_completion_first() -> None:
    body = b'{"choices":[],"usage":{"completion_tokens":5,"prompt_tokens":12,"total_tokens":17},"timings":{}}'
    assert scan(body) == (12, 5)


def test_embeddings_have_prompt_tokens_only() -> None:
    assert scan(b'{"data":[],"usage":{"prompt_tokens":4,"total_tokens":4}}') == (4, 0)


def test_no_usage_or_null_usage_counts_nothing() -> None:
    assert scan(b'{"choices":[]}') is None
    assert scan(b'data: {"usage":null,"choices":[{"delta":{"content":"x"}}]}\n\n') is None


def test_usage_inside_a_string_is_not_a_key() -> None:
    content = json.dumps({"choices": [{"message": {"content": '"usage":{"prompt_tokens":999}'}}]}).encode()
    assert b'\\"usage\\"' in content
    assert scan(content) is None


def test_an_object_named_usage_without_counts_is_passed_over() -> None:
    # A tool schema echoed by the Responses API may have a property called "usage", after the real usage.
    body = (
        b'{"usage":{"input_tokens":3,"output_tokens":4},"tools":[{"parameters":{"properties":'
        b'{"usage":{"type":"string"}}}}]}'
    )
    assert scan(body) == (3, 4)


def test_the_last_event_with_usage_wins() -> None:
    # A server that sends running totals in every event is counted once, with the final numbers.
    events = [f'data: {{"usage":{{"prompt_tokens":5,"completion_tokens":{n}}}}}\n\n'.encode() for n in (1, 2, 3)]
    assert scan(*events, b"data: [DONE]\n\n") == (5, 3)


KEY = CHAT.index(b'"usage"')
CUTS = [1, 20, KEY + 3, KEY + 8, CHAT.index(b"completion_tokens") + 5, len(CHAT) - 2]


@pytest.mark.parametrize("cut", CUTS)
def test_usage_split_between_two_chunks(cut: int) -> None:
    assert scan(CHAT[:cut], CHAT[cut:]) == (7, 90)


def test_usage_split_over_many_small_chunks() -> None:
    assert scan(*(CHAT[i : i + 7] for i in range(0, len(CHAT), 7))) == (7, 90)


def test_the_carried_bytes_are_bounded() -> None:
    scanner = UsageScanner()
    scanner.feed(b'{"usage":{"prompt_tokens":1,' + b'"x_tokens":1,' * 1000)  # never closes
    scanner.feed(b"}" * 10)
    assert scanner.usage is None
