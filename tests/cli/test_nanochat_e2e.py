"""`openai-api-simulator nanochat` end to end: a real process against the loopback Hugging Face mirror serving a
small checkpoint in sdobson/nanochat's layout, the official SDK, the supervisor's restart, and real signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from openai_api_simulator.engines.nanochat.tokenizer import NanochatTokenizer, TiktokenCodec, Turn
from openai_api_simulator.testing import free_port
from tests.support.mirror import Mirror
from tests.support.nanochat import Checkpoint, make_encoding, reference_greedy, write_checkpoint

READY_WITHIN = 120.0
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Hello, who are you?"}]


@dataclass
class Nanochat:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def engines(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [c for c in children if "openai_api_simulator.engines.nanochat.server" in " ".join(c.cmdline())]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"nanochat exited with {self.proc.returncode}:\n{self.log.read_text()}"
            try:
                ready = httpx.get(self.url + "/health", timeout=2).json()["models"].get("nanochat") == "ready"
                # The banner (with its curl example) follows the engine's readiness by a moment.
                if ready and "curl" in self.log.read_text():
                    return
            except (httpx.TransportError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready in {READY_WITHIN} s:\n{self.log.read_text()}")


def publish(mirror: Mirror, ckpt: Checkpoint) -> None:
    """The files as the Hub serves sdobson/nanochat: the weights in LFS, the meta JSON as a plain git file."""
    for path in (ckpt.model, ckpt.tokenizer, ckpt.token_bytes):
        mirror.add_hf("sdobson/nanochat", path.name, path)
    mirror.add_hf("sdobson/nanochat", ckpt.meta.name, ckpt.meta.read_bytes(), lfs=False)


def launch(tmp_path: Path, *args: str, command: tuple[str, ...] | None = None) -> Nanochat:
    """`nanochat` on CPU in fp32 with one thread, or `command` (such as `run nanochat`) as it is."""
    port = free_port()
    log = tmp_path / f"nanochat-{port}.log"
    argv = [sys.executable, "-m", "openai_api_simulator"]
    argv += list(command or ("nanochat", "--device", "cpu", "--dtype", "float32", "--threads", "1"))
    argv += ["--port", str(port), *args]
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
    return Nanochat(proc, port, log)


@pytest.fixture
def checkpoint(mirror_env: Mirror, tmp_path: Path) -> Checkpoint:
    ckpt = write_checkpoint(tmp_path / "published", n_kv_head=2, sequence_len=128)
    publish(mirror_env, ckpt)
    return ckpt


@pytest.fixture
def started(checkpoint: Checkpoint, tmp_path: Path) -> Iterator[Nanochat]:
    run = launch(tmp_path)
    try:
        run.wait_ready()
        yield run
    finally:
        leftovers = run.engines()
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(10)
        for child in leftovers:
            if child.is_running():
                child.kill()


def greedy_reference(ckpt: Checkpoint, max_tokens: int) -> str:
    tokenizer = NanochatTokenizer(TiktokenCodec(make_encoding()))
    prompt = tokenizer.render([Turn("user", "Hello, who are you?")])
    tokens = reference_greedy(ckpt.state, ckpt.config, prompt, max_tokens)
    ends = {tokenizer.special("<|assistant_end|>"), tokenizer.special("<|bos|>")}
    return tokenizer.decode(tokens[: next((i for i, t in enumerate(tokens) if t in ends), len(tokens))])


def test_the_sdk_gets_nanochats_greedy_answer_beside_the_fake_and_a_crash_is_survived(
    started: Nanochat, checkpoint: Checkpoint
) -> None:
    out = started.log.read_text()
    starting = r"Starting nanochat engine on 127\.0\.0\.1:\d+ \(CPU\) for nanochat; float32, 1 thread; "
    assert re.search(starting + "converting the checkpoint first \\(once\\); log: ", out)
    assert "curl" in out and f"http://127.0.0.1:{started.port}/v1" in out
    client = openai.OpenAI(base_url=started.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    assert {m.id: m.owned_by for m in client.models.list()} == {
        "nanochat": "sdobson",
        "gpt-sim-1": "openai-api-simulator",
    }

    answer = client.chat.completions.create(model="nanochat", messages=MESSAGES, temperature=0, max_tokens=12)
    expected = greedy_reference(checkpoint, 12)
    assert answer.model == "nanochat" and answer.choices[0].message.content == expected
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 12
    streamed = client.chat.completions.create(
        model="nanochat", messages=MESSAGES, temperature=0, max_tokens=12, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == expected
    assert client.chat.completions.create(model="gpt-sim-1", messages=MESSAGES).choices[0].message.content

    # kill -9 the engine: the supervisor starts another, and the model answers again.
    [engine] = started.engines()
    engine.kill()
    engine.wait(10)
    deadline = time.monotonic() + READY_WITHIN
    while True:
        current = started.engines()
        health = httpx.get(started.url + "/health", timeout=5).json()
        if current and current[0].pid != engine.pid and health["models"]["nanochat"] == "ready":
            break
        assert time.monotonic() < deadline, started.log.read_text()
        time.sleep(0.1)
    again = client.chat.completions.create(model="nanochat", messages=MESSAGES, temperature=0, max_tokens=12)
    assert again.choices[0].message.content == expected

    started.proc.send_signal(signal.SIGTERM)
    assert started.proc.wait(30) == 0
    assert not current[0].is_running() or current[0].status() == psutil.STATUS_ZOMBIE
    out = started.log.read_text()
    assert "nanochat engine for nanochat exited unexpectedly with code -9 (killed by SIGKILL)" in out
    assert "nanochat engine for nanochat stopped (exit code 0)" in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_engine_outlives_the_orchestrator(started: Nanochat, sig: signal.Signals) -> None:
    [engine] = started.engines()
    started.proc.send_signal(sig)
    started.proc.wait(30)
    try:
        engine.wait(10)
    except psutil.TimeoutExpired:
        pytest.fail(f"the nanochat engine (pid {engine.pid}) outlived the orchestrator after {sig.name}")


def test_a_second_start_as_run_nanochat_downloads_nothing_and_reuses_the_conversion(
    started: Nanochat, mirror_env: Mirror, tmp_path: Path
) -> None:
    started.proc.send_signal(signal.SIGTERM)
    assert started.proc.wait(30) == 0
    mirror_env.reset_stats()
    second = launch(tmp_path, "--offline", command=("run", "nanochat"))  # the catalogue entry: the same engine
    try:
        second.wait_ready()
        assert mirror_env.requests == []
        starting = next(line for line in second.log.read_text().splitlines() if "Starting nanochat engine" in line)
        assert "converting" not in starting
    finally:
        second.proc.send_signal(signal.SIGTERM)
        second.proc.wait(30)


def test_without_the_extra_it_says_what_to_install_before_any_download(
    mirror_env: Mirror, checkpoint: Checkpoint
) -> None:
    hide_torch = (
        "import sys; sys.modules['torch'] = None\n"  # what importlib.util.find_spec reports for a missing package
        "from openai_api_simulator.cli import main\n"
        f"sys.argv = ['openai-api-simulator', 'nanochat', '--port', '{free_port()}']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_torch], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert done.returncode == 1
    assert "pip install 'openai-api-simulator[nanochat]'" in done.stderr and "torch" in done.stderr
    assert "Traceback" not in done.stderr
    assert mirror_env.requests == []
