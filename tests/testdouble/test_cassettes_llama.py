"""Record through the rig's real llama-server (build 11434, SmolLM2-135M) with the openai SDK, then replay with
the llama-server gone: chat and Responses (this build answers /v1/responses itself), stream and not.

The module's `recorded` fixture does the recording once and stops the llama-server before any test runs, so
every test here replays offline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from openai_api_simulator.config import Cassettes, Settings
from openai_api_simulator.testing import running
from tests.support.llama import launch_llama
from tests.support.rig import Rig

pytestmark = pytest.mark.rig

MODEL = "smollm2-test"
UPSTREAM_KEY = "sk-llama-internal-3b9d"
CLIENT_KEY = "sk-client-public-c70e"
COOKIE = "session=client-cookie-e21f"
CHAT: dict[str, Any] = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Write a short poem about the sea."}],
    "max_tokens": 24,
    "temperature": 0,
}
RESPONSES: dict[str, Any] = {"model": MODEL, "input": "Say hello to the reader.", "max_output_tokens": 16}


@dataclass(frozen=True)
class Recorded:
    directory: Path
    llama_url: str
    raw: dict[str, bytes]  # what the SDK received while recording, by exchange


def _record(sdk: openai.OpenAI) -> dict[str, bytes]:
    raw: dict[str, bytes] = {}
    chat = sdk.chat.completions.with_raw_response.create(**CHAT)
    assert chat.parse().choices[0].message.content
    raw["chat"] = chat.http_response.content
    with sdk.chat.completions.with_streaming_response.create(**CHAT, stream=True) as r:
        raw["chat-stream"] = b"".join(r.iter_bytes())
    response = sdk.responses.with_raw_response.create(**RESPONSES)
    assert response.parse().output_text
    raw["responses"] = response.http_response.content
    with sdk.responses.with_streaming_response.create(**RESPONSES, stream=True) as r:
        raw["responses-stream"] = b"".join(r.iter_bytes())
    return raw


@pytest.fixture(scope="module")
def recorded(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    directory = tmp_path_factory.mktemp("cassettes")
    process, llama_url = launch_llama(
        rig, tmp_path_factory.mktemp("llama") / "llama.log", alias=MODEL, api_key=UPSTREAM_KEY, ctx_size=1024
    )
    try:
        cassettes = Cassettes(directory, miss="record", upstream=llama_url, upstream_key=UPSTREAM_KEY)
        with (
            running(Settings(api_key=CLIENT_KEY, cassettes=cassettes)) as url,
            openai.OpenAI(
                base_url=url, api_key=CLIENT_KEY, max_retries=0, timeout=120, default_headers={"Cookie": COOKIE}
            ) as sdk,
        ):
            raw = _record(sdk)
    finally:
        process.terminate()
        process.wait(15)
    return Recorded(directory, llama_url, raw)


@pytest.fixture(scope="module")
def replayed(recorded: Recorded) -> Iterator[openai.OpenAI]:
    """The SDK on a server replaying the cassettes as fast as possible; a miss is an error, never the fake."""
    settings = Settings(cassettes=Cassettes(recorded.directory, miss="error", speed=0))
    with running(settings) as url, openai.OpenAI(base_url=url, api_key="sk-anything", max_retries=0) as sdk:
        yield sdk


def _cassette(recorded: Recorded, prefix: str) -> dict[str, Any]:
    (path,) = recorded.directory.glob(f"{prefix}.[0-9a-f]*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_every_exchange_is_one_cassette_and_the_upstream_is_gone(recorded: Recorded) -> None:
    names = sorted(p.name.rsplit(".", 2)[0] for p in recorded.directory.glob("*.json"))
    stems = ("chat-completions", "chat-completions.stream", "responses", "responses.stream")
    assert names == [stem.replace(".", f".{MODEL}.", 1) if "." in stem else f"{stem}.{MODEL}" for stem in stems]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{recorded.llama_url}/health", timeout=2)
    stream = _cassette(recorded, f"chat-completions.{MODEL}.stream")
    assert stream["response"]["headers"]["content-type"].startswith("text/event-stream")
    assert len(stream["response"]["chunks"]) > 5
    assert stream["response"]["chunks"][-1]["text"] == "data: [DONE]\n\n"
    assert stream["request"]["body"] == {**CHAT, "stream": True}


def test_replayed_offline_byte_for_byte(recorded: Recorded, replayed: openai.OpenAI) -> None:
    chat = replayed.chat.completions.with_raw_response.create(**CHAT)
    assert chat.http_response.content == recorded.raw["chat"]
    with replayed.chat.completions.with_streaming_response.create(**CHAT, stream=True) as r:
        assert b"".join(r.iter_bytes()) == recorded.raw["chat-stream"]
    responses = replayed.responses.with_raw_response.create(**RESPONSES)
    assert responses.http_response.content == recorded.raw["responses"]
    with replayed.responses.with_streaming_response.create(**RESPONSES, stream=True) as r:
        assert b"".join(r.iter_bytes()) == recorded.raw["responses-stream"]


def test_the_sdk_reads_the_replayed_answers(recorded: Recorded, replayed: openai.OpenAI) -> None:
    recorded_chat = json.loads(recorded.raw["chat"])
    answer = replayed.chat.completions.create(**CHAT, user="someone-else")  # `user` is not part of the key
    assert answer.choices[0].message.content == recorded_chat["choices"][0]["message"]["content"]
    chunks = list(replayed.chat.completions.create(**CHAT, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    events = list(replayed.responses.create(**RESPONSES, stream=True))
    assert events[0].type == "response.created"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert (
        replayed.responses.create(**RESPONSES).output_text
        == json.loads(recorded.raw["responses"])["output"][0]["content"][0]["text"]
    )


def test_a_miss_names_its_key_and_nothing_reaches_the_fake(replayed: openai.OpenAI, recorded: Recorded) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        replayed.chat.completions.create(**{**CHAT, "max_tokens": 3})
    assert caught.value.code == "cassette_not_found"
    assert "No cassette for this request (key " in caught.value.message
    assert str(recorded.directory) in caught.value.message


def test_no_secret_is_written(recorded: Recorded) -> None:
    for path in recorded.directory.glob("*.json"):
        text = path.read_text().lower()
        for secret in (UPSTREAM_KEY, CLIENT_KEY, COOKIE, '"authorization"', '"cookie"', '"set-cookie"', "bearer "):
            assert secret.lower() not in text, (path.name, secret)


def test_stream_pace_follows_the_replay_speed(recorded: Recorded) -> None:
    length = _cassette(recorded, f"chat-completions.{MODEL}.stream")["response"]["chunks"][-1]["ms"] / 1000
    assert length > 0.05, "the recorded stream is too short to time"

    def replay_at(speed: float) -> float:
        settings = Settings(cassettes=Cassettes(recorded.directory, miss="error", speed=speed))
        with running(settings) as url:
            started = time.monotonic()
            with httpx.stream("POST", f"{url}/chat/completions", json={**CHAT, "stream": True}) as r:
                assert b"".join(r.iter_raw()) == recorded.raw["chat-stream"]
            return time.monotonic() - started

    as_recorded, fast = replay_at(1.0), replay_at(0.0)
    print(f"recorded {length:.3f} s, replayed at speed 1 in {as_recorded:.3f} s, at speed 0 in {fast:.3f} s")
    assert as_recorded >= 0.8 * length
    assert as_recorded < 3 * length + 1.0
    assert fast < 0.5 * as_recorded
