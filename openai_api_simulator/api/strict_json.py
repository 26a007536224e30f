"""Strict JSON in and out: request bodies are RFC 8259 JSON in UTF-8, and every answer is JSON again.

Python's `json` accepts more than JSON, and each extra would reach a client as a 500 or as invalid JSON in a
200 answer further on, so `loads` refuses them with a 400 naming what is wrong:

=================================  ==============================================================================
invalid UTF-8                      ``json.loads(bytes)`` guesses UTF-16/32 and lets UTF-8-encoded surrogates in;
                                   the body is decoded here as strict UTF-8 instead (the byte offset is named)
``NaN``, ``Infinity``              not JSON; echoed (Responses ``metadata``) or reused (a schema ``const``) they
                                   would make the answer invalid JSON
numbers beyond a double            ``1e400`` parses to ``inf`` (the same problem), and an integer of 400 digits
                                   overflows wherever it meets a float (schema bounds)
duplicate keys                     Python keeps the last; a relayed body reaches an engine whose parser may keep
                                   the first, so the model routed and the model answering could differ
lone surrogates (``"\\ud800"``)    an escape no character pairs with is no Unicode text: it cannot be encoded
                                   back into UTF-8; a pair (``"\\ud83d\\ude00"``, one emoji) is fine
=================================  ==============================================================================

The cost is kept off the common path: the hooks run only on objects and number literals (about 0.1 µs
each), lone surrogates are found by regexes on the raw text, and the walk over the parsed values that names
where one is runs only when there is one.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any, Final

from openai_api_simulator.errors import InvalidRequest

# The largest finite double: a number beyond it has no faithful JSON rendering for the answers.
_DOUBLE_MAX: Final = sys.float_info.max
_DOUBLE_DIGITS: Final = len(str(int(_DOUBLE_MAX)))  # 309
# An escape of a surrogate code point, paired or not; absent, the parsed strings cannot hold a surrogate
# (strict UTF-8 decoding refuses encoded ones). A match inside an escaped backslash is a harmless false alarm.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
# A high surrogate escape no low one follows, or a low one no high one precedes: exactly the lone ones, in a
# text whose escaped backslashes (\\\\) are replaced first, so every backslash left starts an escape. Replaced by
# another character, not removed: removing would join the escapes on either side into a pair.
# Both branches start with the literal \u, which the regex engine scans for (a leading lookbehind would be tried
# at every character: five times slower).
_LONE_ESCAPE: Final = re.compile(
    r"\\u(?:[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u)[dD][c-fC-F])"
)
# After parsing, a paired escape is one astral character: any surrogate left is a lone one.
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_BOM: Final = "\ufeff"


def _refuse(reason: str, param: str | None = None) -> InvalidRequest:
    # The sentence OpenAI starts its invalid-JSON message with, then what exactly is wrong.
    return InvalidRequest(f"We could not parse the JSON body of your request: {reason}", param=param)


def _constant(token: str) -> Any:
    raise _refuse(f"it contains {token}, which is not JSON (send a finite number, or null).")


def _out_of_range(text: str) -> InvalidRequest:
    return _refuse(f"the number {_clip(text)} is out of range (numbers must fit a double: at most 1.8e308 in size).")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _out_of_range(text)
    return value


def _int(text: str) -> int:
    if len(text) < _DOUBLE_DIGITS:  # the common case: fewer digits than any integer beyond a double
        return int(text)
    # A longer literal is refused unconverted: no `int()` cost for a huge one (nor its 4300-digit limit).
    if len(text) <= _DOUBLE_DIGITS + 1 and abs(value := int(text)) <= _DOUBLE_MAX:
        return value
    raise _out_of_range(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _refuse(f"the key {_quote(key)} appears twice in one object; send each key once.")
            seen.add(key)
    return result


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object, parse_float=_float, parse_int=_int, parse_constant=_constant
)


def loads(raw: bytes) -> Any:
    """`raw` as a JSON value under the rules above; `InvalidRequest` naming the problem otherwise.

    JSON syntax errors raise `json.JSONDecodeError` (a `ValueError`), and nesting too deep for the parser
    `RecursionError`, for the caller to word.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(
            f"it is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}: {exc.reason}). "
            "Send the body encoded as UTF-8."
        ) from None
    if text.startswith(_BOM):  # RFC 8259 lets a parser ignore a byte order mark; Windows tools add one
        text = text[1:]
    value = _DECODER.decode(text)
    # Looked for in the raw text (C-speed regexes); the walk over the values, exact, confirms and names the place.
    if _SURROGATE_ESCAPE.search(text) is not None and _LONE_ESCAPE.search(text.replace("\\\\", "__")):
        where = lone_surrogate(value)
        if where is not None:
            path, is_key = where
            if is_key:
                place = f"a key in {_quote(path)}" if path else "a key of the body"
            else:
                place = f"the string at {_quote(path)}" if path else "the body"
            raise _refuse(
                f"{place} holds a lone UTF-16 surrogate escape, which is no Unicode character. Escape a "
                "character beyond U+FFFF as a pair (\\ud83d\\ude00), or send it as UTF-8.",
                param=path or None,
            )
    return value


def lone_surrogate(value: Any) -> tuple[str, bool] | None:
    """Where the first string (or key) holding a lone surrogate is: its path (``messages[0].content``) and
    whether it is a key; None when there is none.

    Iterative, not recursive (a body may nest as deep as the parser allows), and linear in the number of
    values: paths are built from parent links only for the one string reported.
    """
    if isinstance(value, str):
        return ("", False) if _SURROGATE.search(value) else None
    # frames[i] = (parent frame, key or index): the path of every container met, as links.
    frames: list[tuple[int, str | int]] = [(-1, "")]
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        node, frame = todo.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            if isinstance(key, str) and _SURROGATE.search(key):
                return _path(frames, frame), True
            if isinstance(child, str):
                if _SURROGATE.search(child):
                    return _path(frames, frame, key), False
            elif isinstance(child, (dict, list)):
                frames.append((frame, key))
                todo.append((child, len(frames) - 1))
    return None


def _path(frames: list[tuple[int, str | int]], frame: int, *last: str | int) -> str:
    keys: list[str | int] = list(last)
    while frame > 0:
        frame, key = frames[frame]
        keys.append(key)
    path = ""
    for key in reversed(keys):
        path += f"[{key}]" if isinstance(key, int) else f".{key}" if path else key
    return path


def _clip(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)"


def _quote(text: str) -> str:
    # A key that is itself the problem (a lone surrogate) is shown escaped: the error must stay valid JSON.
    return "'" + _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "'"


def dumps(value: Any) -> bytes:
    """`value` as compact JSON (as OpenAI sends it), refusing what JSON cannot say rather than writing it.

    ``allow_nan=False``: a non-finite float raises ``ValueError`` instead of writing ``NaN``; a lone surrogate
    raises ``UnicodeEncodeError`` in the UTF-8 encoding. Either is a bug behind the input rules, answered
    as a 500 by the app, never as a 200 that is not JSON.
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
