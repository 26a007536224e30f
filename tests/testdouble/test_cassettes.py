"""Record and replay without the rig: the key, the file format, the miss policies, secrets, pacing and the
command line. The upstream recorded from is a second simulator (the fake `gpt-sim-1`) or a small app that
answers with headers a cassette must not keep; test_cassettes_llama.py records from the real llama-server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from typer.testing import CliRunner

from openai_api_simulator.cli import app as cli
from openai_api_simulator.config import Cassettes, Settings
from openai_api_simulator.testdouble.cassettes import Library, digest, from_flags, request_key
from openai_api_simulator.testdouble.cassettes.format import Cassette, Chunk, encode, events
from openai_api_simulator.testdouble.cassettes.key import file_name
from openai_api_simulator.testing import running, serving

CHAT: dict[str, Any] = {
    "model": "gpt-sim-1",
    "messages": [{"role": "user", "content": "Name three colours."}],
    "max_tokens": 12,
}
UPSTREAM_KEY = "sk-upstream-never-written-7f3a"
CLIENT_KEY = "sk-client-never-written-91c2"
runner = CliRunner()


@pytest.fixture
def upstream() -> Iterator[str]:
    """A second simulator, recorded from: `run` or OpenAI in real use."""
    with running(Settings(fixed_created=1_700_000_000, api_key=UPSTREAM_KEY)) as url:
        yield url


def recorder(directory: Path, upstream: str, **settings: object) -> Settings:
    cassettes = Cassettes(directory, miss="record", upstream=upstream.removesuffix("/v1"), upstream_key=UPSTREAM_KEY)
    return Settings(cassettes=cassettes, **settings)  # type: ignore[arg-type]


def replayer(directory: Path, miss: str = "error", speed: float = 0.0) -> Settings:
    return Settings(cassettes=Cassettes(directory, miss=miss, speed=speed))  # type: ignore[arg-type]


# -- the key


def test_volatile_fields_and_headers_are_not_in_the_key() -> None:
    base = request_key("chat/completions", CHAT)
    noisy = {
        **CHAT,
        "user": "u-123",
        "metadata": {"run": "42"},
        "store": True,
        "safety_identifier": "s",
        "prompt_cache_key": "k",
        "stream_options": {"include_obfuscation": False},
        "stream": False,
    }
    assert request_key("chat/completions", noisy) == base
    assert digest(request_key("chat/completions", {**CHAT, "max_tokens": 12.0})) == digest(base)
    # What changes the answer's bytes changes the key.
    assert request_key("chat/completions", {**CHAT, "stream": True}) != base
    streamed = request_key("chat/completions", {**CHAT, "stream": True})
    with_usage = request_key("chat/completions", {**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert with_usage != streamed
    assert request_key("completions", CHAT) != base
    assert request_key("chat/completions", {**CHAT, "temperature": 0.5}) != base


def test_file_names_are_made_here_never_taken_from_the_request() -> None:
    key = request_key("chat/completions", {**CHAT, "model": "../../etc/passwd\x00 x", "stream": True})
    name = file_name(key, digest(key))
    assert "/" not in name and ".." not in name and "\x00" not in name
    assert name.startswith("chat-completions.etc-passwd-x.stream.") and name.endswith(".json")
    odd = request_key("responses", {"model": 7, "input": "hi"})
    assert file_name(odd, digest(odd)) == f"responses.{digest(odd)[:16]}.json"


# -- the file format


def test_cassette_files_round_trip_sorted_and_pretty(tmp_path: Path) -> None:
    key = request_key("chat/completions", {**CHAT, "stream": True})
    chunks = events([(5.0, b'data: {"a":'), (9.0, b"1}\n\ndata: \xc3"), (12.0, b"\xa9\n\ndata: [DONE]\n\n")])
    assert [c.data for c in chunks] == [b'data: {"a":1}\n\n', "data: é\n\n".encode(), b"data: [DONE]\n\n"]
    assert [c.ms for c in chunks] == [9.0, 12.0, 12.0]
    cassette = Cassette(key, digest(key), CHAT, 200, {"content-type": "text/event-stream"}, 12.0, chunks=chunks)
    library = Library.open(tmp_path, writable=True)
    path = library.save(cassette)
    text = path.read_text()
    assert text == encode(cassette).decode() and text.startswith('{\n  "digest": ')
    assert Library.open(tmp_path, writable=False).find(cassette.digest) == cassette
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind

    # A body that is not UTF-8 survives as base64.
    raw = Cassette(key, digest(key), CHAT, 200, {}, 1.0, chunks=(Chunk(1.0, b"\xff\xfe"),))
    assert Cassette.from_json(raw.to_json(), path) == raw


def test_a_json_body_edited_by_hand_is_served_when_body_text_is_deleted(tmp_path: Path) -> None:
    key = request_key("chat/completions", CHAT)
    original = Cassette(key, digest(key), CHAT, 200, {"content-type": "application/json"}, 1.0, body=b'{"x": 1}')
    data = original.to_json()
    assert data["response"]["body"] == {"x": 1} and data["response"]["body_text"] == '{"x": 1}'
    del data["response"]["body_text"]
    data["response"]["body"] = {"x": 2, "é": True}
    assert Cassette.from_json(data, tmp_path / "c.json").body == '{"x":2,"é":true}'.encode()


def test_a_broken_cassette_file_is_named_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(Exception, match=r"bad\.json is not a usable cassette.*delete it"):
        Library.open(tmp_path, writable=False)
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(Exception, match=r"bad\.json .*format"):
        Library.open(tmp_path, writable=False)


# -- through the server


def test_record_then_replay_offline_byte_identical_with_the_sdk(tmp_path: Path, upstream: str) -> None:
    with (
        running(recorder(tmp_path, upstream, api_key=CLIENT_KEY)) as url,
        openai.OpenAI(base_url=url, api_key=CLIENT_KEY, max_retries=0) as sdk,
    ):
        recorded = sdk.chat.completions.with_raw_response.create(**CHAT).http_response.content
        with sdk.chat.completions.with_streaming_response.create(**CHAT, stream=True) as r:
            recorded_stream = b"".join(r.iter_bytes())
        with sdk.responses.with_streaming_response.create(model="gpt-sim-1", input="Hi", stream=True) as r:
            recorded_responses = b"".join(r.iter_bytes())
    assert len(list(tmp_path.glob("*.json"))) == 3
    # The upstream is gone: only the cassettes can answer now.
    with running(replayer(tmp_path)) as url, openai.OpenAI(base_url=url, api_key="sk-any", max_retries=0) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(**CHAT)
        assert raw.http_response.content == recorded
        assert raw.http_response.headers["x-simulator-cassette"].startswith("chat-completions.gpt-sim-1.")
        with sdk.chat.completions.with_streaming_response.create(**CHAT, stream=True) as r:
            assert b"".join(r.iter_bytes()) == recorded_stream
        with sdk.responses.with_streaming_response.create(model="gpt-sim-1", input="Hi", stream=True) as r:
            assert b"".join(r.iter_bytes()) == recorded_responses
        text = "".join(c.choices[0].delta.content or "" for c in sdk.chat.completions.create(**CHAT, stream=True))
        assert text == json.loads(recorded)["choices"][0]["message"]["content"]


def test_secrets_are_never_written(tmp_path: Path) -> None:
    async def answer(request: Request) -> Response:
        assert request.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"  # the upstream's key, not the client's
        assert "cookie" not in request.headers
        headers = {
            "set-cookie": "session=upstream-cookie-5d1e",
            "x-request-id": "req_upstream",
            "openai-organization": "org-x",
        }
        if (await request.json()).get("stream"):
            return StreamingResponse(
                iter([b"data: {}\n\n", b"data: [DONE]\n\n"]), headers=headers, media_type="text/event-stream"
            )
        return Response(b'{"ok":true}', headers=headers, media_type="application/json")

    upstream = Starlette(routes=[Route("/v1/chat/completions", answer, methods=["POST"])])
    with serving(upstream) as up, running(recorder(tmp_path, up, api_key=CLIENT_KEY)) as url:
        headers = {
            "Authorization": f"Bearer {CLIENT_KEY}",
            "Cookie": "session=client-cookie-44ab",
            "OpenAI-Organization": "org-y",
        }
        for stream in (False, True):
            r = httpx.post(f"{url}/chat/completions", json={**CHAT, "stream": stream}, headers=headers)
            assert r.status_code == 200, r.text
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 2
    for path in files:
        text = path.read_text().lower()
        for secret in (UPSTREAM_KEY, CLIENT_KEY, "cookie", "authorization", "bearer", "org-x", "org-y", "req_upstream"):
            assert secret.lower() not in text, (path.name, secret)
        assert json.loads(text)["response"]["headers"].keys() == {"content-type"}


def test_a_request_differing_only_by_user_replays_the_same_cassette(tmp_path: Path, upstream: str) -> None:
    with running(recorder(tmp_path, upstream)) as url:
        first = httpx.post(f"{url}/chat/completions", json={**CHAT, "user": "alice"}).content
    with running(replayer(tmp_path)) as url:
        for variant in ({**CHAT, "user": "bob"}, {**CHAT, "metadata": {"a": "b"}, "stream": False}, CHAT):
            again = httpx.post(f"{url.removesuffix('/v1')}/chat/completions", json=variant)  # the root path too
            assert again.status_code == 200 and again.content == first


def test_miss_policies(tmp_path: Path, upstream: str) -> None:
    with running(recorder(tmp_path, upstream)) as url:
        recorded = httpx.post(f"{url}/chat/completions", json=CHAT)
    other = {**CHAT, "max_tokens": 5}
    key = digest(request_key("chat/completions", other))

    with running(replayer(tmp_path, miss="error")) as url:
        miss = httpx.post(f"{url}/chat/completions", json=other)
        assert miss.status_code == 404
        assert miss.json() == {
            "error": {
                "message": miss.json()["error"]["message"],
                "type": "invalid_request_error",
                "code": "cassette_not_found",
                "param": None,
            }
        }
        assert miss.json()["error"]["message"].startswith(f"No cassette for this request (key {key}) in {tmp_path}")
        assert httpx.post(f"{url}/chat/completions", json=CHAT).content == recorded.content

    with running(replayer(tmp_path, miss="fake")) as url:
        fake = httpx.post(f"{url}/chat/completions", json=other)
        assert fake.status_code == 200 and "x-simulator-cassette" not in fake.headers
        assert fake.json()["model"] == "gpt-sim-1"
        invalid = httpx.post(f"{url}/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
        assert invalid.status_code == 400  # the app's own answer, as without cassettes
        assert len(list(tmp_path.glob("*.json"))) == 1

    settings = Settings(
        cassettes=Cassettes(tmp_path, miss="record", upstream=upstream.removesuffix("/v1"), upstream_key=UPSTREAM_KEY)
    )
    with running(settings) as url:
        first = httpx.post(f"{url}/chat/completions", json=other)
        assert first.status_code == 200 and "x-simulator-cassette" not in first.headers
        assert len(list(tmp_path.glob("*.json"))) == 2
        again = httpx.post(f"{url}/chat/completions", json=other)
        assert again.headers["x-simulator-cassette"] == file_name(request_key("chat/completions", other), key)
        assert again.content == first.content


def test_an_unreachable_upstream_is_a_502_naming_it_and_nothing_is_written(tmp_path: Path) -> None:
    from openai_api_simulator.testing import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    with running(Settings(cassettes=Cassettes(tmp_path, miss="record", upstream=dead))) as url:
        r = httpx.post(f"{url}/chat/completions", json=CHAT)
    assert r.status_code == 502 and dead in r.json()["error"]["message"]
    assert not list(tmp_path.iterdir())


def _paced_cassette(directory: Path) -> float:
    """A hand-made stream cassette: 5 events 150 ms apart; its length in seconds."""
    body = {**CHAT, "stream": True}
    key = request_key("chat/completions", body)
    chunks = tuple(Chunk(150.0 * (n + 1), f'data: {{"n":{n}}}\n\n'.encode()) for n in range(5))
    Library.open(directory, writable=True).save(
        Cassette(key, digest(key), body, 200, {"content-type": "text/event-stream"}, 750.0, chunks=chunks)
    )
    return 0.75


def _timed_stream(url: str) -> tuple[float, list[float]]:
    started = time.monotonic()
    arrivals: list[float] = []
    with httpx.stream("POST", f"{url}/chat/completions", json={**CHAT, "stream": True}) as r:
        for _ in r.iter_lines():
            arrivals.append(time.monotonic() - started)
    return time.monotonic() - started, arrivals


def test_streams_replay_at_the_recorded_pace_scaled_by_the_speed(tmp_path: Path) -> None:
    length = _paced_cassette(tmp_path)
    elapsed = {}
    for speed in (0.0, 1.0, 3.0):
        with running(replayer(tmp_path, speed=speed)) as url:
            elapsed[speed], arrivals = _timed_stream(url)
        if speed == 1.0:
            first_event = arrivals[0]
            assert 0.1 < first_event < 0.5  # the first event waits its recorded 150 ms too
    assert elapsed[1.0] >= 0.9 * length
    assert elapsed[3.0] < 0.75 * elapsed[1.0] and elapsed[3.0] >= 0.9 * length / 3
    assert elapsed[0.0] < 0.35 * elapsed[1.0]


# -- the command line


def test_flags_that_do_not_go_together_are_usage_errors(tmp_path: Path) -> None:
    cases = [
        (["--record", str(tmp_path)], "--record-upstream"),
        (["--replay", str(tmp_path), "--replay-miss", "record"], "--record-upstream"),
        (["--replay", str(tmp_path), "--replay-miss", "maybe"], "--replay-miss"),
        (["--record", str(tmp_path), "--replay", str(tmp_path), "--record-upstream", "http://x"], "not both"),
        (["--record-upstream", "http://127.0.0.1:1"], "--record DIR or --replay DIR"),
        (["--replay", str(tmp_path), "--record-upstream", "http://127.0.0.1:1"], "only used when recording"),
        (["--record", str(tmp_path), "--record-upstream", "ftp://x"], "--record-upstream"),
    ]
    for args, said in cases:
        r = runner.invoke(cli, ["serve", "--port", "0", *args])
        assert r.exit_code == 2, (args, r.output)
        assert said in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert from_flags(record=None, replay=None, upstream=None, upstream_key=None, speed=1, miss=None) is None


def test_a_bad_directory_is_an_error_at_start_up_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    r = runner.invoke(cli, ["serve", "--port", "0", "--replay", str(missing)])
    assert r.exit_code == 2 and str(missing) in r.stderr and "does not exist" in r.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    r = runner.invoke(cli, ["serve", "--port", "0", "--replay", str(a_file)])
    assert r.exit_code == 2 and str(a_file) in r.stderr and "not a directory" in r.stderr
    # Not writable: a directory that cannot be made (its parent is a file; chmod would not stop root).
    unwritable = a_file / "cassettes"
    r = runner.invoke(
        cli, ["serve", "--port", "0", "--record", str(unwritable), "--record-upstream", "http://127.0.0.1:1"]
    )
    assert r.exit_code == 2 and str(unwritable) in r.stderr and "Cannot record" in r.stderr
    (tmp_path / "broken.json").write_text("[]")
    r = runner.invoke(cli, ["serve", "--port", "0", "--replay", str(tmp_path)])
    assert r.exit_code == 2 and "broken.json" in r.stderr


def test_the_flags_reach_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openai_api_simulator import app as app_module
    from openai_api_simulator import server

    seen: list[Settings] = []
    monkeypatch.setattr(app_module, "create_app", lambda settings: seen.append(settings))
    monkeypatch.setattr(server, "serve_forever", lambda app, sock, **kwargs: sock.close())
    args = ["serve", "--port", "0", "--record", str(tmp_path), "--record-upstream", "http://127.0.0.1:9/v1/"]
    r = runner.invoke(cli, args, env={"OAS_RECORD_UPSTREAM_KEY": UPSTREAM_KEY})
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["serve", "--port", "0", "--replay", str(tmp_path), "--replay-speed", "0"])
    assert r.exit_code == 0, r.output
    recording, replaying = (s.cassettes for s in seen)
    assert recording == Cassettes(tmp_path, miss="record", upstream="http://127.0.0.1:9", upstream_key=UPSTREAM_KEY)
    assert UPSTREAM_KEY not in repr(recording)
    assert replaying == Cassettes(tmp_path, miss="fake", speed=0.0)
    assert runner.invoke(cli, ["serve", "--port", "0"]).exit_code == 0
    assert seen[-1].cassettes is None


def test_without_the_flags_nothing_of_it_is_installed(tmp_path: Path) -> None:
    from openai_api_simulator.app import create_app
    from openai_api_simulator.testdouble.cassettes import CassetteMiddleware

    def installed(settings: Settings) -> bool:
        return any(m.cls == CassetteMiddleware for m in create_app(settings).user_middleware)  # type: ignore[comparison-overlap]

    assert not installed(Settings())
    assert installed(replayer(tmp_path))
