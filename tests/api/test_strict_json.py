"""Strict JSON in and out: the rules on their own, then on every POST route, the relay and the fast paths.

Bodies are written as raw text here (not `json=`), because Python's own `json.dumps` would never produce most
of them: that is the point.
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from openai_api_simulator.api import strict_json
from openai_api_simulator.api.endpoints import ENDPOINTS
from openai_api_simulator.app import create_app
from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.testing import running
from tests.support.backends import FIXED, assert_openai_error, one_upstream, recorder

# Each endpoint's smallest valid body, with `%s` where a string value goes and the param that names it.
TEMPLATES: dict[str, tuple[str, str]] = {
    "/chat/completions": ('{"model":"gpt-sim-1","messages":[{"role":"user","content":%s}]}', "messages[0].content"),
    "/completions": ('{"model":"gpt-sim-1","prompt":%s,"max_tokens":5}', "prompt"),
    "/embeddings": ('{"model":"gpt-sim-1","input":%s}', "input"),
    "/responses": ('{"model":"gpt-sim-1","input":%s,"max_output_tokens":16}', "input"),
}
# The 8 POST routes: every endpoint under /v1 and at the root.
ROUTES = [prefix + path for path in TEMPLATES for prefix in ("/v1", "")]
JSON = {"content-type": "application/json"}


# The Messages routes answer in Anthropic's error shape: their strict JSON is checked in test_messages.py.
ANTHROPIC_PATHS = {"/messages", "/messages/count_tokens"}


def test_every_endpoint_is_covered() -> None:
    assert sorted(e.path for e in ENDPOINTS if e.path not in ANTHROPIC_PATHS) == sorted(TEMPLATES)


@pytest.fixture(scope="module")
def app() -> Iterator[TestClient]:
    with TestClient(create_app(FIXED)) as client:
        yield client


def _post(app: TestClient, route: str, text: str | bytes, headers: dict[str, str] = JSON) -> Any:
    raw = text.encode() if isinstance(text, str) else text
    return app.post(route, content=raw, headers=headers)


def _body(route: str, value: str) -> str:
    template, _ = TEMPLATES[route.removeprefix("/v1")]
    return template % value


def _refused(response: Any, *words: str, param: str | None = None) -> str:
    error = assert_openai_error(response, 400, None)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    for word in words:
        assert word in error["message"], error["message"]
    return str(error["message"])


# ---- on every route ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("escape", ["\\ud800", "\\uDBFF", "\\udc00", "\\ude00\\ud83d", "a\\ud83d"])
def test_a_lone_surrogate_is_a_400_naming_where(app: TestClient, route: str, escape: str) -> None:
    _, param = TEMPLATES[route.removeprefix("/v1")]
    r = _post(app, route, _body(route, f'"{escape}"'))
    _refused(r, "lone UTF-16 surrogate", f"'{param}'", param=param)


@pytest.mark.parametrize("route", ROUTES)
def test_a_surrogate_pair_is_one_character_and_accepted(app: TestClient, route: str) -> None:
    r = _post(app, route, _body(route, '"smile \\ud83d\\ude00 and \\uD83D\\uDE00"'))
    assert r.status_code == 200, r.text
    assert r.json()["object"] in ("chat.completion", "text_completion", "list", "response")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_400s_naming_the_token(app: TestClient, route: str, token: str) -> None:
    body = _body(route, '"hi"')[:-1] + f',"temperature":{token}}}'
    message = _refused(_post(app, route, body), f"contains {token},")
    assert "not JSON" in message


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("number", ["1e400", "-1E+309", "1" + "0" * 309, "-" + "9" * 5000])
def test_a_number_beyond_a_double_is_a_400(app: TestClient, route: str, number: str) -> None:
    body = _body(route, '"hi"')[:-1] + f',"seed":{number}}}'
    message = _refused(_post(app, route, body), "out of range")
    assert len(message) < 400  # a 5000-digit literal is named by its ends, not quoted whole


@pytest.mark.parametrize("route", ROUTES)
def test_a_duplicate_key_is_a_400_naming_it(app: TestClient, route: str) -> None:
    body = _body(route, '"hi"').replace('"model":"gpt-sim-1"', '"model":"gpt-sim-1","model":"gpt-sim-1"')
    _refused(_post(app, route, body), "'model' appears twice")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("bad", "offset_of"),
    [
        (b"\xff", b"\xff"),  # never valid in UTF-8
        (b"\xc3(", b"\xc3"),  # a lead byte without its continuation
        (b"\xed\xa0\x80", b"\xed"),  # a surrogate encoded as UTF-8 (CESU-8): Python's json.loads let it in
        (b"\xc0\xaf", b"\xc0"),  # an overlong '/'
    ],
)
def test_invalid_utf8_is_a_400_naming_the_offset(app: TestClient, route: str, bad: bytes, offset_of: bytes) -> None:
    raw = _body(route, '"BAD"').encode().replace(b"BAD", bad)
    offset = raw.index(offset_of)
    _refused(_post(app, route, raw), "not valid UTF-8", f"0x{offset_of[0]:02x} at offset {offset}")


@pytest.mark.parametrize("route", ROUTES)
def test_utf16_is_refused_rather_than_guessed(app: TestClient, route: str) -> None:
    # json.loads(bytes) would detect UTF-16 and answer; the API speaks UTF-8 only.
    _refused(_post(app, route, _body(route, '"hi"').encode("utf-16")), "not valid UTF-8")


# ---- the rules in detail ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "is_key"),
    [
        ('{"a":[1,{"b":"\\ud800"}]}', "a[1].b", False),
        ('{"metadata":{"\\udfff":"x"}}', "metadata", True),
        ('{"\\ud800":1}', "", True),
        ('"\\ud800"', "", False),
        ('[["ok"],["ok","\\udbff"]]', "[1][1]", False),
    ],
)
def test_the_path_of_a_lone_surrogate(text: str, path: str, is_key: bool) -> None:
    assert strict_json.lone_surrogate(json.loads(text)) == (path, is_key)


# Pieces of a JSON string's text: the escapes that make or break a surrogate pair, and those that confuse a scan
# (an escaped backslash before "u", a backslash run of either parity, text that looks like an escape).
PIECES = [
    "a",
    "\\\\",
    "\\ud83d",
    "\\ude00",
    "\\uDBFF",
    "\\uDC00",
    "\\u0041",
    "\\n",
    "ud800",
    "\\\\ud800",
    "uD83D",
    "\U0001f600",
]


@settings(max_examples=400, deadline=None)
@example(["\\ud83d\\\\\\ude00"])  # high, escaped backslash, low: two lone ones, not a pair
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=8).map("".join), min_size=1, max_size=3))
def test_the_raw_text_scan_agrees_with_the_parsed_strings(strings: list[str]) -> None:
    text = "[" + ",".join(f'"{piece}"' for piece in strings) + "]"
    lone = strict_json.lone_surrogate(json.loads(text)) is not None  # the truth, from Python's own parser
    if lone:
        with pytest.raises(InvalidRequest, match="lone UTF-16 surrogate"):
            strict_json.loads(text.encode())
    else:
        assert strict_json.loads(text.encode()) == json.loads(text)


def test_a_surrogate_key_is_named_escaped_so_the_error_is_valid_json(app: TestClient) -> None:
    r = _post(app, "/v1/responses", '{"model":"gpt-sim-1","input":"hi","metadata":{"\\ud800":"x"}}')
    message = _refused(r, "a key in 'metadata'", param="metadata")
    assert all(not 0xD800 <= ord(ch) < 0xE000 for ch in message)
    r = _post(app, "/v1/responses", '{"model":"gpt-sim-1","input":"hi","metadata":{"\\ud800":1,"\\ud800":2}}')
    message = _refused(r, "'\\ud800' appears twice")
    r.content.decode("utf-8")  # strict: the error body itself is UTF-8


def test_a_deep_body_is_walked_without_recursion() -> None:
    depth = 600  # the parser's own limit is near 1000; the walk has none
    text = "[" * depth + '"\\ud800"' + "]" * depth
    with pytest.raises(InvalidRequest) as info:
        strict_json.loads(text.encode())
    assert info.value.param == "[0]" * depth


def test_escaped_backslashes_are_text_not_surrogates(app: TestClient) -> None:
    # The prefilter sees "\ud800" in the raw text; the parsed string is a backslash and "ud800": accepted.
    r = _post(app, "/v1/responses", '{"model":"gpt-sim-1","input":"\\\\ud800","metadata":{"k":"\\\\udc00"}}')
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"k": "\\udc00"}


def test_responses_metadata_is_echoed_only_when_it_is_json(app: TestClient) -> None:
    r = _post(app, "/v1/responses", '{"model":"gpt-sim-1","input":"hi","metadata":{"a":NaN}}')
    _refused(r, "contains NaN")
    r = _post(app, "/v1/responses", '{"model":"gpt-sim-1","input":"hi","metadata":{"a":"\\ud83d\\ude00 1e308"}}')
    assert r.status_code == 200 and r.json()["metadata"] == {"a": "\U0001f600 1e308"}


def test_a_schema_const_of_infinity_cannot_reach_tool_arguments(app: TestClient) -> None:
    tool = (
        '{"type":"function","function":{"name":"f","parameters":'
        '{"type":"object","properties":{"x":{"const":%s}},"required":["x"]}}}'
    )
    body = '{"model":"gpt-sim-1","messages":[{"role":"user","content":"x"}],"tools":[%s],"tool_choice":"required"}'
    _refused(_post(app, "/v1/chat/completions", body % (tool % "Infinity")), "contains Infinity")
    r = _post(app, "/v1/chat/completions", body % (tool % "1.5e308"))
    assert r.status_code == 200, r.text
    arguments = r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert _strict_loads(arguments) == {"x": 1.5e308}


def test_a_pattern_only_a_lone_surrogate_matches_is_a_400_not_a_500(app: TestClient) -> None:
    # The regex escape \ud800 (a backslash in the JSON string) once made the generator emit a lone surrogate.
    schema = '{"type":"object","properties":{"x":{"type":"string","pattern":"^\\\\ud800$"}},"required":["x"]}'
    body = (
        '{"model":"gpt-sim-1","messages":[{"role":"user","content":"x"}],'
        '"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":%s}}}'
    )
    r = _post(app, "/v1/chat/completions", body % schema)
    assert_openai_error(r, 400, "invalid_schema")


def test_numbers_at_the_edge_of_a_double_are_accepted() -> None:
    largest = str(int(1.7976931348623157e308))
    assert strict_json.loads(f'{{"a":{largest},"b":-{largest},"c":1e-400,"d":-0}}'.encode()) == {
        "a": int(largest),
        "b": -int(largest),
        "c": 0.0,
        "d": 0,
    }


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    assert strict_json.loads(b'\xef\xbb\xbf{"a":1}') == {"a": 1}


def test_dumps_refuses_what_json_cannot_say() -> None:
    assert strict_json.dumps({"a": "\U0001f600", "b": 1.5}) == '{"a":"\U0001f600","b":1.5}'.encode()
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="not JSON compliant"):
            strict_json.dumps({"x": value})
    with pytest.raises(UnicodeEncodeError):
        strict_json.dumps({"x": "\ud800"})


# ---- no bypass: the relay, the routing cache and the memo ------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"smol","input":"\\ud800"}',
        b'{"model":"smol","input":"hi","temperature":NaN}',
        b'{"model":"gpt-sim-1","model":"smol","input":"hi"}',  # which model? the engine's parser may differ
        b'{"model":"smol","input":"\xff"}',
    ],
)
def test_a_hostile_body_never_reaches_an_upstream(raw: bytes) -> None:
    seen, handler = recorder()
    with one_upstream(handler) as client:
        r = client.post("/v1/responses", content=raw, headers=JSON)
    assert "could not parse the JSON body" in assert_openai_error(r, 400, None)["message"]
    assert seen == []


def test_bodies_seen_before_are_checked_like_new_ones(app: TestClient) -> None:
    # The app routes repeated bytes without parsing them (ROUTED_BODIES) and the fake answers them from its
    # memo: only bodies that passed once get there, so a hostile one is refused every time.
    hostile = _body("/v1/embeddings", '"\\ud800"')
    for _ in range(3):
        _refused(_post(app, "/v1/embeddings", hostile), "lone UTF-16 surrogate", param="input")
    fine = _body("/v1/embeddings", '"fine"')
    assert _post(app, "/v1/embeddings", fine).status_code == 200
    assert _post(app, "/v1/embeddings", fine).status_code == 200  # now from the routing cache and the memo
    r = _post(app, "/v1/embeddings", fine, headers={"content-type": "text/plain"})
    _refused(r, "Unsupported Content-Type 'text/plain'")


# ---- on the wire ---------------------------------------------------------------------------------------


def _raw_http(base_url: str, path: str, body: bytes) -> tuple[int, bytes]:
    host, port = base_url.removeprefix("http://").split("/")[0].split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_invalid_utf8_sent_raw_over_a_socket_is_a_400() -> None:
    body = b'{"model":"gpt-sim-1","messages":[{"role":"user","content":"caf\xe9 \xed\xa0\x80"}]}'
    with running() as url:
        for path in ("/v1/chat/completions", "/chat/completions"):
            status, content = _raw_http(url, path, body)
            assert status == 400
            error = _strict_loads(content.decode("utf-8"))["error"]
            assert f"byte 0xe9 at offset {body.index(bytes([0xE9]))}" in error["message"]
            assert set(error) == {"message", "type", "param", "code"}
        status, content = _raw_http(url, "/v1/chat/completions", body.replace(b"caf\xe9 \xed\xa0\x80", b"caf\xc3\xa9"))
        assert status == 200 and "chat.completion" in content.decode("utf-8")


def _strict_loads(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"{token} in an answer")

    return json.loads(text, parse_constant=refuse)
