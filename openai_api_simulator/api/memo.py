"""A memo of whole non-streaming responses, keyed by the exact request bytes.

The fake's answers are a pure function of the request, so a client that repeats a request (CI suites do,
constantly) can be answered without parsing, validating or generating again. Only `created` depends on
the moment; it is left as a placeholder in the stored bytes and filled in when sent. Requests carrying
`X-Simulator-*` headers bypass the memo, and injected errors and delays still apply to every hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from openai_api_simulator.config import DEFAULT_CACHE_MB, cache_bytes
from openai_api_simulator.lru import LRU

# Never a real timestamp, and no other field of a response can contain it as a JSON number.
CREATED_PLACEHOLDER: Final = -7_777_777_777
_PLACEHOLDER_BYTES: Final = str(CREATED_PLACEHOLDER).encode()
# Bodies larger than this are not kept: the memo is for the many small requests of a test suite.
MAX_KEY_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class MemoEntry:
    model: str
    tokens: int  # completion tokens, for the injected generation delay
    head: bytes
    tail: bytes
    prompt_tokens: int = 0  # reported with `tokens` to the metrics on every hit
    stamped: bool = True  # False: the answer has no `created`, and `head` is all of it

    def render(self, created: int) -> bytes:
        if not self.stamped:
            return self.head
        return self.head + str(created).encode() + self.tail


def entry_for(
    model: str, tokens: int, body: bytes, *, prompt_tokens: int = 0, timeless: bool = False
) -> MemoEntry | None:
    """Split a rendered response at the `created` placeholder; None if it is not there exactly once.

    A `timeless` endpoint's answer (`Endpoint.timeless`) is kept whole, provided no placeholder is in it.
    """
    if timeless and _PLACEHOLDER_BYTES not in body:
        return MemoEntry(model, tokens, body, b"", prompt_tokens, stamped=False)
    if body.count(_PLACEHOLDER_BYTES) != 1:
        return None
    head, _, tail = body.partition(_PLACEHOLDER_BYTES)
    return MemoEntry(model, tokens, head, tail, prompt_tokens)


def completion_tokens(result: dict[str, Any]) -> int:
    return _usage_count(result, "completion_tokens", "output_tokens")


def prompt_tokens(result: dict[str, Any]) -> int:
    return _usage_count(result, "prompt_tokens", "input_tokens")


def _usage_count(result: dict[str, Any], name: str, responses_name: str) -> int:
    usage = result.get("usage") or {}
    value = usage.get(name, usage.get(responses_name, 0))
    return int(value) if isinstance(value, int) else 0


class ResponseMemo:
    """Rendered answers by (endpoint, exact request bytes), at most `max_bytes` of keys and answers."""

    def __init__(self, max_bytes: int = cache_bytes(DEFAULT_CACHE_MB, "memo")) -> None:
        self._items: LRU[tuple[str, bytes], MemoEntry] = LRU(max_bytes)

    @property
    def max_bytes(self) -> int:
        return self._items.max_bytes

    @property
    def nbytes(self) -> int:
        return self._items.nbytes

    def get(self, endpoint: str, raw: bytes) -> MemoEntry | None:
        return self._items.get((endpoint, raw))

    def put(self, endpoint: str, raw: bytes, entry: MemoEntry) -> None:
        if len(raw) <= MAX_KEY_BYTES:
            # The request bytes, both halves of the answer; `model` is the request's own string, shared.
            self._items.put((endpoint, raw), entry, len(raw) + len(entry.head) + len(entry.tail))
