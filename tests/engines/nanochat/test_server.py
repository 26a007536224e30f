"""The nanochat engine server as the supervisor runs it: a real process on a port, converting on first start.

Health says 503 while loading and 200 once ready; the internal key guards everything else; requests nanochat
cannot honour are 400s naming the parameter; answers have OpenAI's chat.completion and chunk shapes; greedy
output equals the reference implementation's; a second start reuses the conversion.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from openai_api_simulator.engines.nanochat.tokenizer import NanochatTokenizer, TiktokenCodec, Turn
from openai_api_simulator.testing import free_port
from tests.support.nanochat import Checkpoint, make_encoding, reference_greedy, write_checkpoint

KEY = "engine-internal-key"
READY_WITHIN = 90.0


@dataclass
class Engine:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    loading_seen: bool

    def post(self, body: dict[str, object], key: str | None = KEY, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.post(f"{self.url}/v1/chat/completions", json=body, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


def start(ckpt: Checkpoint, model_dir: Path, log: Path, *extra: str) -> Engine:
    port = free_port()
    argv = [
        sys.executable, "-m", "openai_api_simulator.engines.nanochat.server", "--port", str(port),
        "--model-dir", str(model_dir), "--raw-model", str(ckpt.model), "--raw-meta", str(ckpt.meta),
        "--raw-tokenizer", str(ckpt.tokenizer), "--served-name", "nanochat", "--device", "cpu",
        "--dtype", "float32", "--threads", "1", *extra,
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OAS_ENGINE_API_KEY": KEY}
        )
    url = f"http://127.0.0.1:{port}"
    loading_seen = False
    deadline = time.monotonic() + READY_WITHIN
    while True:
        assert process.poll() is None, f"the engine exited with {process.returncode}:\n{log.read_text()}"
        try:
            health = httpx.get(f"{url}/health", timeout=2)
            if health.status_code == 200:
                return Engine(url, process, log, loading_seen)
            assert health.status_code == 503 and health.json()["error"]["message"] == "Loading model"
            loading_seen = True
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"not ready in {READY_WITHIN} s:\n{log.read_text()}"
        time.sleep(0.05)


def stop(engine: Engine) -> None:
    engine.process.terminate()
    try:
        engine.process.wait(15)
    except subprocess.TimeoutExpired:
        engine.process.kill()
        engine.process.wait(15)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    return write_checkpoint(tmp_path_factory.mktemp("raw"), n_kv_head=2, sequence_len=128)


@pytest.fixture(scope="module")
def engine(ckpt: Checkpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("engine")
    running = start(ckpt, folder / "converted", folder / "engine.log")
    try:
        yield running
    finally:
        stop(running)


QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is two plus two?"}]


def expected_text(ckpt: Checkpoint, max_tokens: int) -> str:
    tokenizer = NanochatTokenizer(TiktokenCodec(make_encoding()))
    prompt = tokenizer.render([Turn("system", "Be brief."), Turn("user", "What is two plus two?")])
    tokens = reference_greedy(ckpt.state, ckpt.config, prompt, max_tokens)
    ends = {tokenizer.special("<|assistant_end|>"), tokenizer.special("<|bos|>")}
    cut = next((i for i, t in enumerate(tokens) if t in ends), len(tokens))
    return tokenizer.decode(tokens[:cut])


def test_it_loads_while_saying_so_then_answers_greedy_as_the_reference_does(engine: Engine, ckpt: Checkpoint) -> None:
    assert engine.loading_seen  # 503 while converting and loading, never a refused connection after binding
    r = engine.post({"model": "nanochat", "messages": QUESTION, "temperature": 0, "max_tokens": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "nanochat"
    [choice] = body["choices"]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"] == expected_text(ckpt, 10)
    assert choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert (
        usage["completion_tokens"] <= 10
        and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    )


def test_the_stream_is_openai_chunks_that_join_to_the_same_answer(engine: Engine, ckpt: Checkpoint) -> None:
    body = {"model": "nanochat", "messages": QUESTION, "temperature": 0, "max_tokens": 10, "stream": True}
    r = engine.post({**body, "stream_options": {"include_usage": True}})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in r.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == expected_text(ckpt, 10)
    assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] <= 10


def test_the_internal_key_guards_all_but_health(engine: Engine) -> None:
    assert engine.post({"model": "nanochat", "messages": QUESTION}, key=None).status_code == 401
    assert engine.post({"model": "nanochat", "messages": QUESTION}, key="wrong").status_code == 401
    assert httpx.get(f"{engine.url}/health").status_code == 200


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages[0].content[0].type",
        ),
        ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "c"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, "messages[1].role"),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_what_nanochat_cannot_honour_is_a_400_naming_it(engine: Engine, extra: dict[str, object], param: str) -> None:
    r = engine.post({"model": "nanochat", "messages": QUESTION, **extra})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


@pytest.mark.parametrize(
    ("content", "content_type", "words"),
    [
        (b'{"model":"nanochat","messages":[{"role":"user","content":"\\ud800"}]}', None, "lone UTF-16 surrogate"),
        (b'{"model":"nanochat","messages":[{"role":"user","content":"\xff"}]}', None, "not valid UTF-8"),
        (b'{"model":"nanochat","messages":[],"temperature":NaN}', None, "contains NaN"),
        (b'{"model":"nanochat","model":"x","messages":[]}', None, "'model' appears twice"),
        (b'{"model":"nanochat","messages":[]}', "application/x-www-form-urlencoded", "Unsupported Content-Type"),
    ],
)
def test_the_engine_reads_bodies_by_the_apps_rules(
    engine: Engine, content: bytes, content_type: str | None, words: str
) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": content_type or "application/json"}
    r = httpx.post(f"{engine.url}/v1/chat/completions", content=content, headers=headers, timeout=60)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and words in error["message"]


def test_a_second_start_reuses_the_conversion(ckpt: Checkpoint, tmp_path: Path) -> None:
    model_dir = tmp_path / "converted"
    first = start(ckpt, model_dir, tmp_path / "first.log")
    stop(first)
    stamp = (model_dir / "model.safetensors").stat().st_mtime_ns
    second = start(ckpt, model_dir, tmp_path / "second.log")
    try:
        assert (model_dir / "model.safetensors").stat().st_mtime_ns == stamp
        assert "converting" in first.log.read_text() and "converting" not in second.log.read_text()
    finally:
        stop(second)


def test_a_checkpoint_that_cannot_load_ends_the_engine_with_the_reason(ckpt: Checkpoint, tmp_path: Path) -> None:
    broken = tmp_path / "meta.json"
    broken.write_text("{}")
    argv = [
        sys.executable, "-m", "openai_api_simulator.engines.nanochat.server", "--port", str(free_port()),
        "--model-dir", str(tmp_path / "converted"), "--raw-model", str(ckpt.model), "--raw-meta", str(broken),
        "--raw-tokenizer", str(ckpt.tokenizer),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "could not load" in done.stderr and str(broken) in done.stderr


@pytest.fixture(scope="module")
def long_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine with a long context and one place in its queue: room for long answers and a full queue."""
    folder = tmp_path_factory.mktemp("long")
    ckpt = write_checkpoint(folder / "raw", sequence_len=2048, seed=3)
    running = start(ckpt, folder / "converted", folder / "engine.log", "--max-waiting", "1")
    try:
        yield running
    finally:
        stop(running)


LONG = {"model": "nanochat", "messages": QUESTION, "temperature": 0, "max_tokens": 2000, "stream": True}


def test_a_client_that_disconnects_stops_its_generation(long_engine: Engine) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.stream("POST", f"{long_engine.url}/v1/chat/completions", json=LONG, headers=headers, timeout=60) as r:
        next(r.iter_lines())  # the first chunk, then hang up
    deadline = time.monotonic() + 30
    while "cancelled after" not in long_engine.log.read_text():
        assert time.monotonic() < deadline, long_engine.log.read_text()
        time.sleep(0.05)
    cancelled = re.search(r"cancelled after (\d+) tokens", long_engine.log.read_text())
    assert cancelled is not None and int(cancelled.group(1)) < 1900  # it stopped, well before max_tokens


def test_past_the_queue_a_request_is_told_the_engine_is_busy(long_engine: Engine) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        httpx.Client(timeout=60, headers=headers) as client,
        client.stream("POST", f"{long_engine.url}/v1/chat/completions", json=LONG) as answering,
        client.stream("POST", f"{long_engine.url}/v1/chat/completions", json=LONG) as waiting,
    ):
        next(answering.iter_lines())
        busy = client.post(f"{long_engine.url}/v1/chat/completions", json=LONG)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        assert "busy" in busy.json()["error"]["message"]
        assert waiting.status_code == 200
