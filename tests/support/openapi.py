"""OpenAI's OpenAPI description (tests/data, version 2.3.0) as the oracle for what the server sends.

`check(response)` validates an httpx response of any route against the schema OpenAI's spec gives for it: a
JSON body against the operation's `200` schema (or, for an error status, the spec's `ErrorResponse`), a
stream event by event against the `text/event-stream` schema (`[DONE]` allowed where OpenAI sends it).

Two readings of the spec are made explicit here rather than left to chance:

* `nullable: true` (an OpenAPI 3.0 keyword the 3.1 document still carries in 111 places) is read as
  "null is also allowed", which is what the spec's authors mean by it and how OpenAI's SDKs treat it; a bare
  3.1 validator would ignore the keyword and refuse the nulls OpenAI itself sends.
* The spec's YAML has dates in examples; they become ISO strings so the document is plain JSON data.
"""

from __future__ import annotations

import base64
import datetime
import functools
import gzip
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_FILE: Final = Path(__file__).resolve().parent.parent / "data" / "openai-openapi-2.3.0.yaml.gz"
_URI: Final = "urn:openai-openapi-2.3.0"
# Our routes are served under /v1 and at the root; the spec's paths are relative to https://api.openai.com/v1.
_PREFIX: Final = "/v1"
# Where the spec has no event-stream schema for a streaming route, the one OpenAI's docs give for its chunks.
_STREAM_FALLBACK: Final = {"/completions": "CreateCompletionResponse"}


def _plain(value: Any) -> Any:
    """The document with dates as ISO strings and `nullable: true` as an explicit `null` alternative."""
    if isinstance(value, dict):
        out = {k: _plain(v) for k, v in value.items()}
        if out.pop("nullable", False) is True:
            return {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


@functools.cache
def spec() -> dict[str, Any]:
    with gzip.open(SPEC_FILE, "rt", encoding="utf-8") as f:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's loader: 1 s instead of 20
        document: dict[str, Any] = _plain(yaml.load(f, Loader=loader))
    return document


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return registry


@functools.cache
def validator(component: str) -> Draft202012Validator:
    """A validator for `#/components/schemas/<component>`."""
    if component not in spec()["components"]["schemas"]:
        raise KeyError(f"the spec has no schema {component!r}")
    return Draft202012Validator({"$ref": f"{_URI}#/components/schemas/{component}"}, registry=_registry())


def errors(component: str, instance: Any) -> list[str]:
    """What is wrong with `instance` as a `component`, one line per error (empty when it is valid).

    An instance that fits none of an `anyOf` is reported by its closest alternative's error (jsonschema's
    `best_match`), so a stream event with one wrong field says which field, not "not valid under any".
    """
    if isinstance(instance, dict) and isinstance(instance.get("type"), str):
        component = _variants(component).get(instance["type"], component)
    found = sorted(validator(component).iter_errors(instance), key=lambda e: list(e.absolute_path))
    lines = []
    for error in found:
        deepest = best_match(error.context) if error.context else error
        where = "/".join(map(str, (deepest or error).absolute_path)) or "(top)"
        lines.append(f"{where}: {(deepest or error).message[:300]}")
    return lines


@functools.cache
def _variants(component: str) -> dict[str, str]:
    """For a union of objects told apart by `type` (stream events, output items): each type's component."""
    schema = spec()["components"]["schemas"][component]
    found: dict[str, str] = {}
    for alternative in schema.get("anyOf") or schema.get("oneOf") or []:
        ref = alternative.get("$ref", "") if isinstance(alternative, dict) else ""
        name = ref.rsplit("/", 1)[-1]
        kind = spec()["components"]["schemas"].get(name, {}).get("properties", {}).get("type", {})
        for value in kind.get("enum", []) + ([kind["const"]] if "const" in kind else []):
            found.setdefault(value, name)
    return found


def _decoded_embeddings(body: Any) -> Any:
    """An embeddings answer with base64 vectors decoded: the spec types `embedding` as numbers only, while
    OpenAI sends little-endian float32 in base64 when `encoding_format` is base64 (as the SDKs decode it)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return body
    data = []
    for item in body["data"]:
        if isinstance(item, dict) and isinstance(item.get("embedding"), str):
            raw = base64.b64decode(item["embedding"], validate=True)
            item = {**item, "embedding": list(struct.unpack(f"<{len(raw) // 4}f", raw))}
        data.append(item)
    return {**body, "data": data}


def _template(path: str) -> str:
    """The spec's path template for a concrete path: `/v1/responses/resp_1` → `/responses/{response_id}`."""
    relative = path[len(_PREFIX) :] if path.startswith(_PREFIX + "/") else path
    parts = relative.strip("/").split("/")
    templates: list[str] = list(spec()["paths"])
    for template in templates:
        pieces = template.strip("/").split("/")
        if len(pieces) == len(parts) and all(
            p == q or (p.startswith("{") and p.endswith("}")) for p, q in zip(pieces, parts, strict=True)
        ):
            return template
    raise KeyError(f"OpenAI's spec has no path for {path}")


def component_for(method: str, path: str, status: int, content_type: str) -> str:
    """The schema component the spec names for this answer."""
    if status >= 400:
        return "ErrorResponse"
    template = _template(path)
    responses = spec()["paths"][template][method.lower()]["responses"]
    content = (responses.get(str(status)) or responses["200"]).get("content", {})
    media = "text/event-stream" if content_type.startswith("text/event-stream") else "application/json"
    if media not in content and media == "text/event-stream" and template in _STREAM_FALLBACK:
        return _STREAM_FALLBACK[template]
    ref: str = content[media]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def _unfinished(chunk: Any) -> Any:
    """A legacy completions chunk with `finish_reason: null` read as the unfinished choice it is.

    The spec has no stream schema for /completions, and its completion object's `finish_reason` is a string:
    OpenAI's own streams send null there until a choice's last chunk, so null is checked as "not yet".
    """
    if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
        return chunk
    choices = [
        {**c, "finish_reason": "stop"} if isinstance(c, dict) and c.get("finish_reason", "") is None else c
        for c in chunk["choices"]
    ]
    return {**chunk, "choices": choices}


def sse_events(text: str) -> Iterator[tuple[str | None, str]]:
    """(event name, data) for each event of an SSE body."""
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            yield name, "\n".join(data)


def check(response: httpx.Response) -> list[str]:
    """Every way `response` departs from OpenAI's spec for its route (empty when it conforms)."""
    request = response.request
    content_type = response.headers.get("content-type", "")
    component = component_for(request.method, request.url.path, response.status_code, content_type)
    if not content_type.startswith("text/event-stream"):
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            return [f"not JSON ({exc}): {response.text[:200]!r}"]
        if component == "CreateEmbeddingResponse":
            body = _decoded_embeddings(body)
        return errors(component, body)
    problems = []
    for i, (name, data) in enumerate(sse_events(response.text)):
        if data == "[DONE]":
            continue
        try:
            event = json.loads(data)
        except ValueError as exc:
            problems.append(f"event {i}: not JSON ({exc}): {data[:200]!r}")
            continue
        # An error mid-stream is OpenAI's error object, whatever the stream's own schema.
        schema = "ErrorResponse" if "error" in event and "type" not in event else component
        if schema in _STREAM_FALLBACK.values():
            event = _unfinished(event)
        problems += [f"event {i} ({name or 'data'}): {e}" for e in errors(schema, event)]
    return problems
