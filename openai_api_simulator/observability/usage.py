"""Token counts read from an answer's bytes: the `usage` object of a JSON answer or of a stream's events.

For answers whose backend does not count them itself (`metrics.CountsTokens`): relayed ones, and event streams,
where usage is sent only when the client asked for it (`stream_options.include_usage`, and the Responses API's
`response.completed` event). Chat and Completions name the counts `prompt_tokens` and `completion_tokens`, the
Responses API `input_tokens` and `output_tokens`, in any order, beside nested `*_details` objects.

Only a real key matches: inside a JSON string a quote is escaped (``\\"``), so ``"usage"`` followed by a colon
and an object is a key. The search runs backwards from a chunk's end, where usage sits, so most chunks cost one
`rfind`; an object with no counts (a tool schema's property named "usage") is passed over. A usage object split
between two chunks (a relay forwards reads as they come) is completed from the next one. The counts kept are
the last ones seen: a server that sends running totals in every event is counted once, with its final numbers.
"""

from __future__ import annotations

import re
from typing import Final

_KEY: Final = b'"usage"'
# The key and its colon; what follows is the object (or null).
_KEY_COLON: Final = re.compile(rb'"usage"\s*:\s*')
# The end of a chunk that may be the start of the key itself.
_KEY_START: Final = re.compile(rb'"(?:u(?:s(?:a(?:g(?:e)?)?)?)?)?\Z')
_COUNT: Final = re.compile(rb'"(prompt_tokens|input_tokens|completion_tokens|output_tokens)"\s*:\s*(\d+)')
_PROMPT_KEYS: Final = frozenset({b"prompt_tokens", b"input_tokens"})
# A usage object is a few hundred bytes; more than this carried over is not one.
MAX_CARRIED: Final = 4096
# Objects named "usage" without counts passed over per chunk before giving up on it.
MAX_CANDIDATES: Final = 4


def counts(usage: bytes) -> tuple[int, int] | None:
    """(prompt, completion) from a usage object's bytes; None when it holds neither."""
    prompt = completion = None
    for key, value in _COUNT.findall(usage):
        if key in _PROMPT_KEYS:
            prompt = int(value)
        else:
            completion = int(value)
    if prompt is None and completion is None:
        return None
    return prompt or 0, completion or 0


def _object_end(data: bytes, start: int) -> int | None:
    """The index after the brace closing the object that opens at `start`; None when `data` ends first.

    Braces are counted with `find` (a usage object holds numbers and nested objects, no strings with braces):
    a regular expression for nested braces backtracks exponentially on an object cut short.
    """
    depth = 0
    at = start
    while True:
        close = data.find(b"}", at)
        if close < 0:
            return None
        opening = data.find(b"{", at, close)
        if opening >= 0:
            depth += 1
            at = opening + 1
            continue
        depth -= 1
        at = close + 1
        if depth == 0:
            return at


class UsageScanner:
    """Fed an answer's body chunks in order; `usage` is the last (prompt, completion) counts found."""

    __slots__ = ("_carried", "usage")

    def __init__(self) -> None:
        self._carried = b""
        self.usage: tuple[int, int] | None = None

    def feed(self, chunk: bytes) -> None:
        if self._carried:
            chunk, self._carried = self._carried + chunk, b""
        size = end = len(chunk)
        for _ in range(MAX_CANDIDATES):
            pos = chunk.rfind(_KEY, 0, end)
            if pos < 0:
                break
            value = _KEY_COLON.match(chunk, pos)
            opening = value.end() if value is not None else pos + len(_KEY)
            if opening < size and chunk[opening] == 0x7B:  # "{"
                close = _object_end(chunk, opening)
                if close is not None:
                    found = counts(chunk[opening:close])
                    if found is not None:
                        self.usage = found
                        break
                elif end == size and size - pos <= MAX_CARRIED:
                    # The last key in the chunk, its object cut short by the chunk's end: the next chunk
                    # completes it (an earlier, complete one still counts meanwhile).
                    self._carried = chunk[pos:]
            elif opening >= size and end == size:
                self._carried = chunk[pos:]  # the key, and maybe its colon, end the chunk
            end = pos
        if not self._carried:
            start = _KEY_START.search(chunk, max(0, size - len(_KEY)))
            if start is not None:
                self._carried = chunk[start.start() :]
