"""Fuzzing every POST route of the running server from OpenAI's own spec, and with hostile raw bodies.

Bodies come from schemathesis, which reads `tests/data/openai-openapi-2.3.0.yaml.gz`: valid ones (positive
mode, with `model` set to the fake's id most of the time so they get past routing) and ones that break the
request schema on purpose (negative mode); and from hypothesis strategies here that write the bytes no JSON
library emits (lone surrogates, NaN, duplicate keys, deep nesting, invalid UTF-8, wrong content types).

Every answer is held to the same rules: no 5xx, no hang (each request has a deadline), no traceback logged
by the server, every error in OpenAI's shape, every 200 valid against the spec's schema for its route (a
stream event by event). `OAS_FUZZ_EXAMPLES` raises the number of examples per route (CI runs the default).
"""

from __future__ import annotations

import datetime
import gzip
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Final

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from tests.support import openapi

EXAMPLES: Final = int(os.environ.get("OAS_FUZZ_EXAMPLES", "40"))
ROUTES: Final = ("/chat/completions", "/completions", "/embeddings", "/responses")
TIMEOUT_S: Final = 10.0  # far above any answer the fake gives; a request that takes this long has hung
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.generate],  # shrinking a server-side failure replays many requests; the report shows the body
    suppress_health_check=list(HealthCheck),
)


def _dates_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def spec_schema() -> Any:
    with gzip.open(openapi.SPEC_FILE, "rt", encoding="utf-8") as f:
        raw = _dates_as_text(yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    return schemathesis.openapi.from_dict(raw)


class Tracebacks(logging.Handler):
    """Every record the server logs with an exception attached, or at ERROR and above."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@pytest.fixture
def tracebacks() -> Iterator[Tracebacks]:
    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    assert not handler.records, "the server logged: " + "; ".join(
        f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else f"{r.name}: {r.getMessage()}"
        for r in handler.records[:5]
    )


def judge(response: httpx.Response, sent: bytes) -> int:
    """The rules every answer meets, whatever was sent."""
    what = f"{response.request.method} {response.request.url.path} {sent[:600]!r}"
    assert response.status_code < 500, f"{response.status_code} for {what}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        assert isinstance(error, dict) and set(error) >= {"message", "type", "param", "code"}, what
        assert isinstance(error["message"], str) and error["message"], what
        assert "Traceback" not in error["message"], what
    problems = openapi.check(response)
    assert problems == [], f"{what}: {problems[:5]}"
    return response.status_code


def tally_line(statuses: Counter[int]) -> str:
    shown = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    return (
        f"{statuses.total()} requests, statuses {{{shown}}}; no 5xx, every error in OpenAI's shape, "
        "every answer valid against the spec"
    )


def post(http: httpx.Client, path: str, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return http.post(path, content=content, headers={"Content-Type": content_type}, timeout=TIMEOUT_S)


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url.removesuffix("/v1")) as client:
        yield client


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("route", ROUTES)
def test_bodies_from_openais_spec_get_well_formed_answers(
    spec_schema: Any,
    http: httpx.Client,
    tracebacks: Tracebacks,
    route: str,
    mode: GenerationMode,
    tally: Callable[[str], None],
) -> None:
    statuses: Counter[int] = Counter()
    strategy = spec_schema[route]["POST"].as_strategy(generation_mode=mode)

    @FUZZ
    @given(case=strategy, fake_model=st.booleans() if mode is GenerationMode.NEGATIVE else st.just(True))
    def run(case: Any, fake_model: bool) -> None:
        body = case.body
        if fake_model and isinstance(body, dict):
            body = {**body, "model": "gpt-sim-1"}
        try:
            sent = json.dumps(body).encode()
        except (TypeError, ValueError):
            return  # not JSON data at all (schemathesis can generate bytes for some media types)
        statuses[judge(post(http, "/v1" + route, sent), sent)] += 1

    run()
    tally(tally_line(statuses))


# ------------------------------------------------------------------------------------------------------
# Bytes no JSON library writes

SEEDS: Final[dict[str, dict[str, Any]]] = {
    "/chat/completions": {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "hi"}]},
    "/completions": {"model": "gpt-sim-1", "prompt": "hi", "max_tokens": 5},
    "/embeddings": {"model": "gpt-sim-1", "input": "hi"},
    "/responses": {"model": "gpt-sim-1", "input": "hi", "metadata": {"k": "v"}},
}
_NASTY_VALUES: Final = (
    '"\\ud800"',  # a lone high surrogate
    '"x\\udfff"',  # a lone low surrogate
    '"\\ud83d\\ude00"',  # a valid pair (an emoji): must be accepted
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-0",
    "12345678901234567890123456789012345678901234567890",
    "[" * 5000 + "]" * 5000,
    "{}",
    "null",
    '"' + "a" * 100_000 + '"',
)


@st.composite
def hostile_body(draw: st.DrawFn, route: str) -> tuple[bytes, str]:
    """(bytes, content type): a seed body with one field made hostile, or the whole body broken."""
    seed = SEEDS[route]
    text = json.dumps(seed)
    kind = draw(st.sampled_from(["value", "duplicate", "utf8", "content-type", "truncated", "toplevel"]))
    if kind == "value":
        key = draw(st.sampled_from([*seed, "user", "stop", "temperature", "n"]))
        value = draw(st.sampled_from(_NASTY_VALUES))
        fields = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in seed.items() if k != key]
        return ("{" + ", ".join([*fields, f"{json.dumps(key)}: {value}"]) + "}").encode(), "application/json"
    if kind == "duplicate":
        key = draw(st.sampled_from(list(seed)))
        return (text[:-1] + f", {json.dumps(key)}: {json.dumps(seed[key])}}}").encode(), "application/json"
    if kind == "utf8":
        raw = text.encode()
        at = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"]))
        return raw[:at] + junk + raw[at:], "application/json"
    if kind == "content-type":
        ctype = draw(st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]))
        return text.encode(), ctype
    if kind == "truncated":
        return text.encode()[: draw(st.integers(0, len(text) - 1))], "application/json"
    return draw(st.sampled_from([b"[]", b"1", b'"x"', b"null", b"", b" "])), "application/json"


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_bytes_get_openai_shaped_errors(
    http: httpx.Client, tracebacks: Tracebacks, route: str, tally: Callable[[str], None]
) -> None:
    statuses: Counter[int] = Counter()

    @FUZZ
    @given(hostile_body(route))
    def run(sample: tuple[bytes, str]) -> None:
        sent, content_type = sample
        response = post(http, "/v1" + route, sent, content_type)
        statuses[judge(response, sent)] += 1

    run()
    tally(tally_line(statuses))
