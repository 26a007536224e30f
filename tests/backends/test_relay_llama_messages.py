"""The Messages API relayed to the rig's real llama-server (build 11434 answers /v1/messages itself), through the
official `anthropic` SDK: non-stream, the stream helper, count_tokens, the model id, errors, and a client that
leaves mid-stream freeing the server's slot."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam

from openai_api_simulator.backends import Relay
from openai_api_simulator.config import Settings
from openai_api_simulator.testing import serving
from tests.support.backends import Source, app_with
from tests.support.llama import launch_llama
from tests.support.rig import Rig

pytestmark = pytest.mark.rig

MODEL = "smollm2-test"
INTERNAL_KEY = "INTERNAL"  # what `Source` sends upstream
PUBLIC_KEY = "sk-public"
HELLO: list[MessageParam] = [{"role": "user", "content": "Say hello in one short sentence."}]


@pytest.fixture(scope="module")
def llama(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log: Path = tmp_path_factory.mktemp("llama") / "llama.log"
    process, url = launch_llama(rig, log, alias=MODEL, api_key=INTERNAL_KEY, ctx_size=1024, parallel=2)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def proxy(llama: str) -> Iterator[str]:
    with serving(app_with([Source([llama], Relay(), model=MODEL)], Settings(api_key=PUBLIC_KEY))) as url:
        yield url


@pytest.fixture
def claude(proxy: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=proxy, api_key=PUBLIC_KEY, max_retries=0) as c:
        yield c


def test_create_and_count_tokens(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=MODEL, max_tokens=12, messages=HELLO)
    assert message.type == "message" and message.model == MODEL  # llama-server's alias: the public id
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens") and message.usage.output_tokens <= 12
    counted = claude.messages.count_tokens(model=MODEL, messages=HELLO)
    assert counted.input_tokens > 0


def test_stream_helper(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=MODEL, max_tokens=12, messages=HELLO) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces and final.content[0].type == "text" and "".join(pieces) == final.content[0].text
    assert final.model == MODEL and final.stop_reason in ("end_turn", "max_tokens")


def test_fake_and_real_model_side_by_side(claude: anthropic.Anthropic) -> None:
    fake = claude.messages.create(model="gpt-sim-1", max_tokens=8, messages=HELLO)
    assert fake.model == "gpt-sim-1" and fake.id.startswith("msg_01")


def test_errors_in_anthropics_shape(claude: anthropic.Anthropic, proxy: str) -> None:
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="no-such-model", max_tokens=8, messages=HELLO)
    with (
        anthropic.Anthropic(base_url=proxy, api_key="wrong", max_retries=0) as bad,
        pytest.raises(anthropic.AuthenticationError),
    ):
        bad.messages.create(model=MODEL, max_tokens=8, messages=HELLO)
    # An upstream's own refusal (llama-server requires `messages`) reaches the client in Anthropic's shape too.
    r = httpx.post(f"{proxy}/v1/messages", json={"model": MODEL, "max_tokens": 8}, headers={"x-api-key": PUBLIC_KEY})
    assert r.status_code >= 400 and r.json()["type"] == "error" and set(r.json()["error"]) == {"type", "message"}


def _processing(llama: str) -> list[bool]:
    r = httpx.get(f"{llama}/slots", headers={"Authorization": f"Bearer {INTERNAL_KEY}"}, timeout=5)
    r.raise_for_status()
    return [bool(slot["is_processing"]) for slot in r.json()]


def test_client_leaving_mid_stream_frees_the_slot(proxy: str, llama: str) -> None:
    host, port = proxy.removeprefix("http://").split(":")
    body = (
        b'{"model":"%s","max_tokens":900,"stream":true,"messages":[{"role":"user","content":"Write a very long '
        b'story about a dragon who bakes bread."}]}' % MODEL.encode()
    )
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: {host}:{port}\r\nx-api-key: {PUBLIC_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body)
        received = b""
        while b"content_block_delta" not in received:  # generation is under way
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        assert any(_processing(llama))
    deadline = time.monotonic() + 10
    while any(_processing(llama)):
        assert time.monotonic() < deadline, "llama-server kept generating for a client that left"
        time.sleep(0.1)
