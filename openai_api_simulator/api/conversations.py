"""The conversation behind each stored Responses answer, so `previous_response_id` can continue it."""

from __future__ import annotations

from openai_api_simulator.fake.chat import Message
from openai_api_simulator.lru import LRU


class ConversationStore:
    """Stored conversations by response id: in memory and bounded (least recently used first out).

    A simulator restart forgets them, as a test expects of a fresh server. What is kept is the input and
    output as messages; `instructions` are not carried over, as OpenAI does not carry them over either.
    """

    def __init__(self, size: int = 1024) -> None:
        self._items: LRU[str, tuple[Message, ...]] = LRU(size)

    def get(self, response_id: str) -> tuple[Message, ...] | None:
        return self._items.get(response_id)

    def put(self, response_id: str, messages: tuple[Message, ...]) -> None:
        self._items.put(response_id, messages)
