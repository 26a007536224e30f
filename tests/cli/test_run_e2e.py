"""`openai-api-simulator run` end to end, as a user runs it: a real process, offline against the loopback
GitHub/Hugging Face mirror, the real llama-server and SmolLM2, the official SDK, and real signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai
import psutil
import pytest

from openai_api_simulator.testing import free_port
from tests.support.mirror import Mirror

pytestmark = pytest.mark.rig

READY_DEADLINE_S = 180.0  # first run downloads ~110 MB from loopback, then loads the model


@dataclass
class Run:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text()

    def llama_servers(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [c for c in children if "llama-server" in c.name()]

    def wait_ready(self, model: str) -> None:
        deadline = time.monotonic() + READY_DEADLINE_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"run exited with {self.proc.returncode}:\n{self.output()}"
            try:
                health = httpx.get(self.url + "/health", timeout=2).json()
                if health["models"].get(model) == "ready":
                    return
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"{model} not ready in {READY_DEADLINE_S} s:\n{self.output()}")


def _start(tmp_path: Path, *args: str) -> Run:
    port = free_port()
    log = tmp_path / f"run-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "openai_api_simulator", "run", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return Run(proc, port, log)


@pytest.fixture
def started(real_mirror: Mirror, tmp_path: Path) -> Iterator[Run]:
    run = _start(tmp_path, "--name", "smollm2")
    try:
        run.wait_ready("smollm2")
        yield run
    finally:
        leftovers = run.llama_servers()
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(10)
        for child in leftovers:
            if child.is_running():
                child.kill()


def _gone(process: psutil.Process, within: float) -> bool:
    try:
        process.wait(timeout=within)
    except psutil.TimeoutExpired:
        return False
    return True


def test_sdk_against_real_and_fake_model_then_crash_recovery_and_sigterm(started: Run) -> None:
    out = started.output()
    assert re.search(r"Starting llama.cpp server b11434 on 127.0.0.1:\d+ \(CPU\) for smollm2", out)
    assert f"http://127.0.0.1:{started.port}/v1" in out and "curl" in out
    client = openai.OpenAI(base_url=started.url + "/v1", api_key="unused", max_retries=0, timeout=60)

    models = {m.id: m.owned_by for m in client.models.list()}
    assert models == {"smollm2": "HuggingFaceTB", "gpt-sim-1": "openai-api-simulator"}

    msgs: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
    real = client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=8)
    assert real.model == "smollm2" and real.choices[0].message.content
    streamed = [
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=8, stream=True)
        if c.choices
    ]
    assert "".join(streamed)
    fake = client.chat.completions.create(model="gpt-sim-1", messages=msgs)
    assert fake.choices[0].message.content

    # kill -9 llama-server in the middle of a stream: the client gets an error, not a hang.
    [llama] = started.llama_servers()
    stream = client.chat.completions.create(
        model="smollm2", messages=msgs, max_tokens=400, stream=True, extra_body={"ignore_eos": True}
    )
    with pytest.raises((openai.APIError, httpx.HTTPError)):
        for k, _ in enumerate(stream):
            if k == 2:
                llama.kill()
    assert _gone(llama, 5)
    # The supervisor restarts it; the next request succeeds on the new process.
    started.wait_ready("smollm2")
    [again] = started.llama_servers()
    assert again.pid != llama.pid
    assert client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=4).choices

    started.proc.send_signal(signal.SIGTERM)
    assert started.proc.wait(15) == 0
    assert _gone(again, 5)


def test_every_endpoint_through_run(started: Run) -> None:
    """The SDKs drive each endpoint through `run`: the fake answers them all, llama-server what it serves."""
    client = openai.OpenAI(base_url=started.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    for model in ("gpt-sim-1", "smollm2"):
        completion = client.completions.create(model=model, prompt="The sky is", max_tokens=4)
        assert completion.choices[0].text
        response = client.responses.create(model=model, input="Say hello.", max_output_tokens=16)
        assert response.output_text and response.status in ("completed", "incomplete")
    vectors = client.embeddings.create(model="gpt-sim-1", input=["a cat", "a dog"], dimensions=8)
    assert [len(d.embedding) for d in vectors.data] == [8, 8]
    # llama-server was started without --embeddings: its own 501 comes back unchanged.
    with pytest.raises(openai.APIStatusError) as refused:
        client.embeddings.create(model="smollm2", input="a cat")
    assert refused.value.status_code == 501
    # Anthropic's Messages API: the fake answers it, llama-server answers its own /v1/messages (relayed).
    claude = anthropic.Anthropic(base_url=started.url, api_key="unused", max_retries=0, timeout=60)
    for model in ("gpt-sim-1", "smollm2"):
        message = claude.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": "Hi."}])
        assert message.model == model and message.content[0].type == "text"
        with claude.messages.stream(model=model, max_tokens=8, messages=[{"role": "user", "content": "Hi."}]) as s:
            assert "".join(s.text_stream) == s.get_final_message().content[0].text  # type: ignore[union-attr]
        assert claude.messages.count_tokens(model=model, messages=[{"role": "user", "content": "Hi."}]).input_tokens


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_llama_server_survives_the_orchestrator(started: Run, sig: signal.Signals) -> None:
    [llama] = started.llama_servers()
    started.proc.send_signal(sig)
    code = started.proc.wait(15)
    assert code == (0 if sig == signal.SIGINT else -signal.SIGKILL)
    assert _gone(llama, 5), f"llama-server pid {llama.pid} outlived the orchestrator after {sig.name}"


def test_busy_port_fails_before_any_download(real_mirror: Mirror, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "openai_api_simulator", "run", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert f"Port {port}" in proc.stderr and f"pid {os.getpid()}" in proc.stderr
    assert real_mirror.requests == []


def test_missing_model_file_is_a_clear_error(real_mirror: Mirror, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    proc = subprocess.run(
        [sys.executable, "-m", "openai_api_simulator", "run", "--port", str(free_port()), "--model", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert str(missing) in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_upstream_flag_cannot_take_the_fake_models_id(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "openai_api_simulator",
            "run",
            "--port",
            str(free_port()),
            "--upstream",
            "gpt-sim-1=http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    # The registry's refusal names both claimants.
    assert "'gpt-sim-1'" in proc.stderr and "the built-in fake model" in proc.stderr
    assert "the upstream http://127.0.0.1:9" in proc.stderr and "Traceback" not in proc.stderr
