"""The conversation behind each stored Responses answer, so `previous_response_id` can continue it."""

from __future__ import annotations

import sys
from typing import Final

from openai_api_simulator.config import CACHE_SHARES, DEFAULT_CACHE_MB, cache_bytes
from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.fake.chat import Message
from openai_api_simulator.lru import LRU

# A `Message` beyond its text (the role string is shared): about 100 bytes measured with tracemalloc.
_MESSAGE_OVERHEAD: Final = 120


def history_bytes(messages: tuple[Message, ...]) -> int:
    """What a stored conversation keeps alive, counted in full.

    A follow-up shares its history's messages with the response it continues, so a chain is counted more than
    once; the overestimate is on the safe side, and in a long chain it is the oldest ids that go first.
    """
    return sys.getsizeof(messages) + sum(sys.getsizeof(m.text) + _MESSAGE_OVERHEAD for m in messages)


class ConversationStore:
    """Stored conversations by response id: in memory, at most `max_bytes`, least recently used first out.

    A simulator restart forgets them, as a test expects of a fresh server. What is kept is the input and
    output as messages; `instructions` are not carried over, as OpenAI does not carry them over either.
    """

    def __init__(self, max_bytes: int = cache_bytes(DEFAULT_CACHE_MB, "responses")) -> None:
        self._items: LRU[str, tuple[Message, ...]] = LRU(max_bytes)

    @property
    def max_bytes(self) -> int:
        return self._items.max_bytes

    @property
    def nbytes(self) -> int:
        return self._items.nbytes

    def get(self, response_id: str) -> tuple[Message, ...] | None:
        return self._items.get(response_id)

    def put(self, response_id: str, messages: tuple[Message, ...]) -> None:
        self._items.put(response_id, messages, sys.getsizeof(response_id) + history_bytes(messages))

    def not_found(self, response_id: str) -> InvalidRequest:
        """The 400 for a `previous_response_id` this store does not hold, saying why that can happen."""
        megabytes = self.max_bytes / (1024 * 1024)
        share = round(CACHE_SHARES["responses"] * 100)
        return InvalidRequest(
            f"Previous response with id '{response_id}' not found. The simulator keeps stored responses in "
            f"memory, up to {megabytes:.1f} MB ({share}% of --cache-mb), and forgets the least recently used "
            "first, so it may have been evicted (or been too large to keep); responses created with "
            "`store: false` or before the server last started are not kept at all. To keep more, raise "
            "--cache-mb (env OAS_CACHE_MB).",
            param="previous_response_id",
            code="previous_response_not_found",
        )
