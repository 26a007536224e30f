"""The fake model's tokenizer.

A small regex tokenizer in the spirit of GPT's pre-tokenizer: a word with its leading space is one
token, a run of digits is split in threes, punctuation stands alone, and long words cost one token per
six letters.  It is not tiktoken (that needs a download), but counts land in the same range, and the same
splitter is used for usage, streaming deltas, logprobs and `max_tokens`, so every count is consistent.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r" ?[A-Za-z\u00c0-\uffff]+| ?\d{1,3}| ?[^\s\w]|\s+(?!\S)|\s+|_+")
# A letters-only piece longer than this is counted (and split) as several tokens.
_MAX_WORD = 8


def split_tokens(text: str) -> list[str]:
    """Split `text` into tokens that concatenate back to exactly `text`."""
    out: list[str] = []
    pos = 0
    for match in _PIECE.finditer(text):
        if match.start() != pos:  # characters the pattern skipped: keep them as their own token
            out.append(text[pos : match.start()])
        piece = match.group()
        if len(piece) > _MAX_WORD and piece.strip().isalpha():
            out.extend(piece[i : i + 6] for i in range(0, len(piece), 6))
        else:
            out.append(piece)
        pos = match.end()
    if pos != len(text):
        out.append(text[pos:])
    return out


def count_tokens(text: str) -> int:
    """`len(split_tokens(text))`, without building the list."""
    count = 0
    pos = 0
    for match in _PIECE.finditer(text):
        if match.start() != pos:
            count += 1
        piece = match.group()
        count += (len(piece) + 5) // 6 if len(piece) > _MAX_WORD and piece.strip().isalpha() else 1
        pos = match.end()
    return count + (pos != len(text))


# What a tool call costs beyond its name and arguments: the call's framing (id, type, braces), as OpenAI's
# cookbook counts it.
_TOOL_CALL_FRAMING = 3


def tool_call_tokens(name: str, arguments: str) -> int:
    """Tokens a function call (name plus JSON arguments) counts for, in a prompt or an answer."""
    return count_tokens(name) + count_tokens(arguments) + _TOOL_CALL_FRAMING
