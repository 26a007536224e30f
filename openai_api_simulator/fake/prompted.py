"""The shape a `json_object` request's messages ask for: a JSON Schema written into them, or keys named in prose.

`response_format: {"type": "json_object"}` (Responses: `text.format`) only promises *some* JSON object; what
object is said in the prompt. Frameworks write a schema there:

- pydantic-ai's ``PromptedOutput`` puts in its instructions (a system message, or Responses' input)
  "Always respond with a JSON object that's compatible with this schema:" and ``json.dumps`` of the model's
  schema: ``{"type": "object", "properties": ..., "title": ...}``, with ``$defs`` for nested models and a
  ``{"result": {"anyOf": [...]}}`` wrapper for a union of outputs.
- LangChain's ``PydanticOutputParser``/``JsonOutputParser`` format instructions (which the user puts in the
  prompt for ``with_structured_output(method="json_mode")``, which sends none itself) show an *example*
  schema and an example instance inline, then the real schema, fenced, last: ``{"description": ...,
  "properties": ..., "required": [...]}``, without ``"type"``.

So `find_schema` takes every JSON object in the system, developer and user messages (fenced or not: a fence
only surrounds the braces), keeps those that look like a schema, and answers with the last one the generator
supports, the latest instruction. Without one, `prose_keys` reads key names from sentences such as "with keys
name and age" or "a JSON object with `title` and `year`". Neither found: None (the default object).

The work is bounded whatever the prompt: `SCAN_CHARS` of text are looked at, at most `MAX_PARSES` JSON
parses are tried, and at most `MAX_TRIALS` candidates are checked by the generator, on the request's budget.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Protocol

from openai_api_simulator.fake import schema as schema_gen
from openai_api_simulator.fake.budget import Budget, BudgetExceeded
from openai_api_simulator.fake.schema.names import name_tokens, named_float_range, named_int_range

# Characters of message text looked at per request, latest messages first: an instruction is short, and a
# long document pasted after (or before) it must not make every json_object request slow.
SCAN_CHARS: Final = 64 * 1024
# JSON parses tried per request (one at each "{" that does not start inside an object already parsed). A
# failed parse stops at the first character that is not JSON, but one that runs long can read the whole
# window: this many times `SCAN_CHARS` is the worst case (about 10 ms).
MAX_PARSES: Final = 64
# Schema-like objects checked by the generator (a trial generation each), latest first: the check costs
# more than the parse, and a prompt rarely holds more than an example schema and the real one.
MAX_TRIALS: Final = 4
# Key names read from prose at most: a longer list is more likely a sentence the regexes misread.
MAX_PROSE_KEYS: Final = 32

# Who writes instructions. Assistant turns hold the model's own answers, tool turns data.
_INSTRUCTING_ROLES: Final = frozenset({"system", "developer", "user"})
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_DOUBLE_DIGITS: Final = 309  # digits of the largest double: a longer integer would overflow a float bound


class _Text(Protocol):
    """A message as the fake reads it (`fake.chat.Message`); a protocol, so this module does not import chat."""

    @property
    def role(self) -> str: ...

    @property
    def text(self) -> str: ...


def find_schema(messages: Sequence[_Text], budget: Budget | None = None) -> dict[str, Any] | None:
    """The JSON Schema the messages ask a `json_object` answer to follow, or None for the default object."""
    budget = budget if budget is not None else Budget()
    windows = list(_windows(messages))
    found = _embedded_schema(windows, budget)
    if found is not None:
        return found
    for text in windows:
        keys = prose_keys(text)
        if keys:
            return keys_schema(keys)
    return None


def _windows(messages: Sequence[_Text]) -> Iterator[str]:
    """The instructing messages' texts, latest first, `SCAN_CHARS` in all.

    A message longer than what is left gives its head and its tail (tail first, being later): instructions
    sit at the start of a prompt ("Answer with this schema: ... Here is the document: ...") or are appended
    to it (LangChain's format instructions).
    """
    left = SCAN_CHARS
    for message in reversed(messages):
        if left <= 0:
            return
        if message.role not in _INSTRUCTING_ROLES or not message.text:
            continue
        text = message.text
        if len(text) <= left:
            left -= len(text)
            yield text
            continue
        head = left // 2
        yield text[len(text) - (left - head) :]
        yield text[:head]
        return


# ---- schemas written as JSON ---------------------------------------------------------------------------


def _embedded_schema(windows: list[str], budget: Budget) -> dict[str, Any] | None:
    candidates: list[dict[str, Any]] = []  # latest first
    parses = [MAX_PARSES]
    for text in windows:
        if "{" not in text:  # the common case, a prompt with no JSON in it, costs one scan in C
            continue
        found = [c for value in _objects(text, budget, parses) if (c := _as_schema(value)) is not None]
        candidates.extend(reversed(found))
        if len(candidates) >= MAX_TRIALS or parses[0] <= 0:
            break
    for candidate in candidates[:MAX_TRIALS]:
        if _supported(candidate, budget):
            return candidate
    return None


def _objects(text: str, budget: Budget, parses: list[int]) -> Iterator[dict[str, Any]]:
    """The JSON objects in `text` not nested in another, in order; `parses[0]` counts down the parses tried."""
    pos = text.find("{")
    while pos >= 0 and parses[0] > 0:
        parses[0] -= 1
        budget.check()
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError):  # not JSON from here (prose braces, a template), or absurdly deep
            pos = text.find("{", pos + 1)
            continue
        if isinstance(value, dict) and _encodable(value, text, pos, end):
            yield value
        pos = text.find("{", end)


def _as_schema(value: dict[str, Any]) -> dict[str, Any] | None:
    """`value` if it looks like a JSON Schema for an object; the schema it wraps (OpenAI's `response_format`
    layout, `{"name": ..., "schema": {...}}`, pasted into a prompt); else None, as for an example instance."""
    if _looks_like_schema(value):
        return value
    for wrapped in (value.get("schema"), _get(value.get("json_schema"), "schema")):
        if isinstance(wrapped, dict) and _looks_like_schema(wrapped):
            return wrapped
    return None


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _looks_like_schema(value: Mapping[str, Any]) -> bool:
    kind = value.get("type")
    if kind is not None and kind != "object" and not (isinstance(kind, list) and "object" in kind):
        return False  # a schema, but json_object promises an object: not one this answer can follow
    properties = value.get("properties")
    if isinstance(properties, dict):
        # An instance can have a "properties" key too (LangChain's "not well-formatted" example has
        # {"properties": {"foo": ["bar", "baz"]}}): in a schema each property is a schema.
        return all(isinstance(p, (dict, bool)) for p in properties.values()) and (bool(properties) or kind is not None)
    if isinstance(value.get("$schema"), str):
        return True
    if isinstance(value.get("$ref"), str) and isinstance(value.get("$defs", value.get("definitions")), dict):
        return True  # pydantic's layout for a recursive root model
    branches = value.get("anyOf", value.get("oneOf"))
    return (
        isinstance(branches, list)
        and bool(branches)
        and all(isinstance(b, dict) and ("type" in b or "$ref" in b or "properties" in b) for b in branches)
    )


def _supported(candidate: dict[str, Any], budget: Budget) -> bool:
    """Whether the generator can answer `candidate`; what a refused one counted is taken back, so trying it
    costs the request's limits nothing (a refusal here is a fallback, not the client's 400)."""
    before = budget.counts()
    try:
        schema_gen.validate_schema_supported(candidate, budget)
    except (schema_gen.SchemaError, BudgetExceeded):
        budget.rewind(before)
        return False
    return True


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")  # which one counts is ambiguous: not a schema to follow
    return result


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number beyond a double")
    return value


def _int(text: str) -> int:
    if len(text) > _DOUBLE_DIGITS:
        raise ValueError("integer beyond a double")
    return int(text)


def _constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


# The request body's rules (api.strict_json) for JSON found in its text: the schema's values can reach the
# answer (`const`, `enum`, bounds), which must be strict JSON too.
_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_float=_float, parse_int=_int, parse_constant=_constant
)


def _encodable(value: dict[str, Any], text: str, start: int, end: int) -> bool:
    """False when the object holds a lone surrogate escape (a `const` the answer could not encode as UTF-8)."""
    if _SURROGATE_ESCAPE.search(text, start, end) is None:
        return True
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ---- keys named in prose -------------------------------------------------------------------------------

_QUOTED: Final = r"(?:`[A-Za-z_][\w-]{0,63}`|\"[A-Za-z_][\w-]{0,63}\"|'[A-Za-z_][\w-]{0,63}')"
_NAME: Final = rf"(?:{_QUOTED}|[A-Za-z_]\w{{0,63}})"
_SEPARATOR: Final = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+)"
# Where a list of names ends: the sentence does, or a word that cannot be a key comes ("... and age only").
_LIST_END: Final = r"(?=\s*(?:$|[.;:!?)\]\n])|\s+(?:and\s+)?(?:only|nothing|in|with|where|for|that|each|as|no)\b)"
_PROSE_PATTERNS: Final = (
    # "with keys name and age", "fields: title, year", "the properties `a`, `b` and `c`"
    re.compile(
        rf"\b(?:keys?|fields?|properties|attributes)(?:\s+(?:named|called))?\s*:?\s*"
        rf"(?P<names>{_NAME}(?:{_SEPARATOR}{_NAME}){{0,{MAX_PROSE_KEYS - 1}}}){_LIST_END}",
        re.IGNORECASE,
    ),
    # "respond in JSON with `setup` and `punchline` keys" (LangChain's json_mode example), "with name and age fields"
    re.compile(
        rf"\b(?:with|containing|having|including)\s+(?:the\s+)?"
        rf"(?P<names>{_NAME}(?:{_SEPARATOR}{_NAME}){{0,{MAX_PROSE_KEYS - 1}}})"
        r"\s+(?:keys?|fields?|properties|attributes)\b",
        re.IGNORECASE,
    ),
    # "return a JSON object with `name` and `age`": only quoted names here, where a sentence goes on in prose.
    re.compile(
        rf"\b(?:json|object)\b[^.\n{{}}]{{0,40}}?\b(?:with|containing|having)\s+(?:the\s+)?"
        rf"(?P<names>{_QUOTED}(?:{_SEPARATOR}{_QUOTED}){{0,{MAX_PROSE_KEYS - 1}}}){_LIST_END}",
        re.IGNORECASE,
    ),
)
_SPLIT: Final = re.compile(_SEPARATOR)
# Words of a sentence that an unquoted list of names cannot hold ("the keys are sorted", "fields of the form").
_NOT_NAMES: Final = frozenset(
    {
        "a", "an", "the", "and", "or", "of", "for", "in", "on", "to", "is", "are", "be", "with", "that",
        "this", "these", "those", "which", "from", "as", "it", "its", "your", "my", "our", "their", "each",
        "every", "all", "any", "some", "no", "not", "following", "below", "above", "like", "such", "value",
        "values", "json", "object", "must", "should", "will", "can", "only", "nothing", "set", "given",
    }
)  # fmt: skip
# Trigger words, looked for before any regex runs: most prompts have none.
_TRIGGERS: Final = ("key", "field", "propert", "attribute", "json", "object")
# Names whose values are integers, beyond those `schema.names` gives a range for.
_INTEGER_WORDS: Final = frozenset(
    {"number", "population", "size", "length", "width", "height", "days", "hours", "minutes", "seconds", "rank",
     "level", "index", "pages", "votes", "views", "likes", "points"}
)  # fmt: skip


def prose_keys(text: str) -> list[str]:
    """The key names a sentence of `text` asks the object to have (the last such sentence), or []."""
    lower = text.lower()
    if not any(t in lower for t in _TRIGGERS):
        return []
    best: tuple[int, list[str]] = (-1, [])  # (where the sentence starts, its names)
    for pattern in _PROSE_PATTERNS:
        for match in pattern.finditer(text):
            names = _names(match.group("names"))
            if names and match.start() >= best[0]:
                best = (match.start(), names)
    return best[1]


def _names(listed: str) -> list[str]:
    raw = _SPLIT.split(listed.strip())
    quoted = [n[0] in "`\"'" for n in raw]
    names = [n.strip("`\"'") for n in raw]
    if not any(quoted) and (len(names) < 2 or any(n.lower() in _NOT_NAMES for n in names)):
        return []  # an unquoted list is a list only when it cannot be read as the rest of the sentence
    names = [n for n, q in zip(names, quoted, strict=True) if q or n.lower() not in _NOT_NAMES]
    return list(dict.fromkeys(names))


def keys_schema(keys: Sequence[str]) -> dict[str, Any]:
    """An object with exactly `keys`, each a plausible value for its name (`age` a number, `name` a name)."""
    return {
        "type": "object",
        "properties": {key: _value_schema(key) for key in keys},
        "required": list(keys),
        "additionalProperties": False,
    }


def _value_schema(key: str) -> dict[str, Any]:
    if named_int_range(key) is not None or _INTEGER_WORDS & set(name_tokens(key)):
        return {"type": "integer"}
    if named_float_range(key) is not None:
        return {"type": "number"}
    return {"type": "string", "minLength": 1}
