"""The key of a request: which cassette answers it, and the name of that cassette's file.

The key is the endpoint (its name, e.g. "chat/completions": a request to ``/v1/chat/completions`` and one to
``/chat/completions`` are the same request) and the request body normalised:

* fields that do not change what the model generates, and that clients fill with per-run values, are dropped:
  `user`, `metadata`, `store`, `safety_identifier`, `prompt_cache_key` (`VOLATILE_FIELDS`);
* `stream_options` is dropped too, except ``include_usage: true``, which is kept: it adds a usage chunk to the
  stream, so a cassette without it would replay a stream the client does not expect;
* `stream` is kept when true (a stream's bytes are not a JSON answer's), and ``stream: false`` is the same as
  no `stream`;
* a number with an integral value is an integer (``1.0`` is ``1``): JavaScript cannot tell them apart.

Headers are never part of the key. The key is hashed as canonical JSON (sorted keys, no spaces, UTF-8) with
SHA-256; the file name is a readable slug (endpoint, model, "stream") and the first 16 hex digits of the hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Final

# Per-run values that do not change what the model answers (docs/record-replay.md, "The request key").
VOLATILE_FIELDS: Final = frozenset({"user", "metadata", "store", "safety_identifier", "prompt_cache_key"})
# The digits of the hash in a file name: 64 bits, far beyond any collision among one suite's requests (the
# whole hash is in the file, and a file is only ever matched on it).
NAME_DIGITS: Final = 16
# What a model id may bring to a file name: letters, digits, dot, dash; capped so names stay readable.
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9.-]+")
_MODEL_SLUG_MAX: Final = 40
# Every file name this module makes has this form (checked again before a file is written).
FILE_NAME: Final = re.compile(r"[a-z][a-z0-9-]*(\.[A-Za-z0-9][A-Za-z0-9.-]*)?(\.stream)?\.[0-9a-f]{16}\.json")


def _canonical_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_numbers(v) for v in value]
    return value


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the key holds it (see the module docstring for the rules)."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name in VOLATILE_FIELDS:
            continue
        if name == "stream":
            if value is True:
                out[name] = True
            elif value not in (False, None):
                out[name] = value  # not a boolean: kept as sent, so that the upstream's 400 is what replays
            continue
        if name == "stream_options":
            if isinstance(value, dict) and value.get("include_usage") is True:
                out[name] = {"include_usage": True}
            continue
        out[name] = value
    normalised = _canonical_numbers(out)
    assert isinstance(normalised, dict)
    return normalised


def request_key(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """The key of a request to `endpoint` (an endpoint name such as "chat/completions") with `body`."""
    return {"endpoint": endpoint, "body": normalise(body)}


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8 (not \\u escapes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def digest(key: dict[str, Any]) -> str:
    """The key's SHA-256, in hex."""
    return hashlib.sha256(canonical(key)).hexdigest()


def file_name(key: dict[str, Any], key_digest: str) -> str:
    """``chat-completions.gpt-4o-mini.stream.0123456789abcdef.json``: made only from the endpoint name (one
    of the app's own), the model id reduced to safe characters, and the hash; never a path."""
    endpoint = str(key["endpoint"]).replace("/", "-")
    body = key["body"]
    parts = [endpoint]
    model = body.get("model")
    if isinstance(model, str):
        slug = _UNSAFE.sub("-", model).strip(".-")[:_MODEL_SLUG_MAX].strip(".-")
        if slug:
            parts.append(slug)
    if body.get("stream") is True:
        parts.append("stream")
    name = ".".join([*parts, key_digest[:NAME_DIGITS], "json"])
    if not FILE_NAME.fullmatch(name):  # a bug here, not a user's mistake: never write a name not vetted
        raise ValueError(f"unsafe cassette file name {name!r}")
    return name
