"""The nanochat engine kind: which specs it claims, provisioning either layout from the Hub, its launch."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from openai_api_simulator.cli import app as cli_app
from openai_api_simulator.engines import Supervisor
from openai_api_simulator.engines import nanochat as engine_module
from openai_api_simulator.engines.base import Identity
from openai_api_simulator.engines.kinds import kind_for
from openai_api_simulator.engines.nanochat import EngineUnavailable, NanochatConfig, NanochatEngine, checkpoint
from openai_api_simulator.engines.nanochat.checkpoint import RawCheckpoint
from openai_api_simulator.provision import ModelSpecError, ProvisionOptions
from tests.support.mirror import Mirror
from tests.support.nanochat import Checkpoint, write_checkpoint


def test_it_claims_nanochat_and_whole_repositories_only() -> None:
    assert kind_for("nanochat") == "nanochat"
    assert kind_for("hf://org/nanochat-d32") == kind_for("hf://org/repo@v1") == "nanochat"
    assert kind_for("hf://org/repo/model.gguf") == kind_for("smollm2-135m") == "llama.cpp"
    with pytest.raises(ModelSpecError, match=r"'smollm2-135m' is served by the llama\.cpp engine"):
        NanochatEngine().provision("smollm2-135m", ProvisionOptions())
    with pytest.raises(ModelSpecError, match="serves `nanochat` or hf://OWNER/REPO"):
        NanochatEngine().provision("./model.pt", ProvisionOptions())


def test_without_the_extra_it_refuses_before_asking_the_hub(
    monkeypatch: pytest.MonkeyPatch, mirror_env: Mirror
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(EngineUnavailable, match=r"needs torch.*pip install 'openai-api-simulator\[nanochat\]'"):
        NanochatEngine().provision("nanochat", ProvisionOptions())
    assert mirror_env.requests == []


@pytest.fixture
def raw_repo(mirror_env: Mirror, tmp_path: Path) -> Checkpoint:
    ckpt = write_checkpoint(tmp_path / "raw", step=420)
    older = write_checkpoint(tmp_path / "older", step=10, seed=9)
    for path in (ckpt.model, ckpt.tokenizer, older.model):
        mirror_env.add_hf("sdobson/nanochat", path.name, path)
    for path in (ckpt.meta, older.meta):
        mirror_env.add_hf("sdobson/nanochat", path.name, path.read_bytes(), lfs=False)
    return ckpt


def test_the_raw_layout_is_fetched_at_the_newest_step(raw_repo: Checkpoint, mirror_env: Mirror) -> None:
    engine = NanochatEngine()
    prepared = engine.provision("nanochat", ProvisionOptions())
    assert prepared.layout == "raw" and prepared.raw is not None
    assert [p.name for p in prepared.raw] == ["model_000420.pt", "meta_000420.json", "tokenizer.pkl"]
    assert prepared.raw[0].read_bytes() == raw_repo.model.read_bytes()
    assert prepared.size == raw_repo.model.stat().st_size
    assert engine.identity(prepared) == Identity("nanochat", "sdobson")
    assert prepared.model_dir.parts[-4:] == ("nanochat", "sdobson", "nanochat", prepared.commit)
    assert any("converted on the engine's first start" in line for line in engine.describe(prepared))
    mirror_env.reset_stats()
    again = engine.provision("nanochat", ProvisionOptions(offline=True))
    assert again == prepared and mirror_env.requests == []


def test_a_hugging_face_layout_is_used_as_it_is(mirror_env: Mirror, tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "raw")
    hf = checkpoint.convert(RawCheckpoint(ckpt.model, ckpt.meta, ckpt.tokenizer), tmp_path / "hf")
    mirror_env.add_hf("org/nanochat-hf", "config.json", (hf / "config.json").read_bytes(), lfs=False)
    for name in ("model.safetensors", "tokenizer.pkl"):
        mirror_env.add_hf("org/nanochat-hf", name, hf / name)
    engine = NanochatEngine(NanochatConfig(device="cpu", dtype="float32", threads=1))
    prepared = engine.provision("hf://org/nanochat-hf", ProvisionOptions())
    assert (prepared.layout, prepared.raw) == ("hf", None)
    assert {"config.json", "model.safetensors", "tokenizer.pkl"} <= {p.name for p in prepared.model_dir.iterdir()}
    assert engine.identity(prepared) == Identity("nanochat-hf", "org")

    launch = engine.launch(prepared, "nanochat-hf", tmp_path / "logs")
    assert (launch.server, launch.device, launch.notes) == ("nanochat engine", "CPU", ("float32, 1 thread",))
    argv = list(launch.spec.argv)
    assert "--raw-model" not in argv and argv[argv.index("--model-dir") + 1] == str(prepared.model_dir)
    assert launch.spec.api_key and launch.spec.env is not None
    assert launch.spec.env[engine_module.KEY_ENV] == launch.spec.api_key
    assert launch.spec.api_key not in " ".join(argv)  # never on the command line, where `ps` shows it

    async def serve_once() -> str:
        supervisor = Supervisor(launch.spec, pid_dir=tmp_path / "run")
        await supervisor.start()
        try:
            async with httpx.AsyncClient(base_url=str(supervisor.base_url), timeout=30) as client:
                body = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0, "max_tokens": 4}
                auth = {"Authorization": f"Bearer {launch.spec.api_key}"}
                r = await client.post("/v1/chat/completions", json=body, headers=auth)
                assert r.status_code == 200, r.text
                return str(r.json()["model"])
        finally:
            await supervisor.stop()

    assert asyncio.run(serve_once()) == "nanochat-hf"


def test_a_repository_of_neither_layout_is_refused_naming_both(mirror_env: Mirror) -> None:
    mirror_env.add_hf("org/empty", "README.md", b"# nothing here\n", lfs=False)
    with pytest.raises(ModelSpecError, match=r"neither nanochat's raw layout .* nor a Hugging Face one"):
        NanochatEngine().provision("hf://org/empty", ProvisionOptions())


def test_a_first_start_gets_time_to_convert(raw_repo: Checkpoint, tmp_path: Path) -> None:
    engine = NanochatEngine(NanochatConfig(device="cpu", dtype="float32"))
    prepared = engine.provision("nanochat", ProvisionOptions())
    first = engine.launch(prepared, "nanochat", tmp_path)
    assert first.spec.argv[first.spec.argv.index("--raw-model") + 1] == str(prepared.raw[0])  # type: ignore[index]
    assert prepared.raw is not None
    checkpoint.convert(RawCheckpoint(*prepared.raw), prepared.model_dir)
    later = engine.launch(prepared, "nanochat", tmp_path)
    assert later.spec.ready_timeout < first.spec.ready_timeout
    assert "converting the checkpoint first (once)" in first.notes
    assert not any("convert" in note for note in later.notes)
    pinned = NanochatEngine(NanochatConfig(device="cpu", ready_timeout=7, port=5555)).launch(prepared, "n", tmp_path)
    assert (pinned.spec.ready_timeout, pinned.spec.port) == (7, 5555)


def test_pull_fetches_the_checkpoint_and_the_cache_commands_show_and_clear_its_conversion(
    raw_repo: Checkpoint, cache_dir: Path
) -> None:
    runner = CliRunner()
    pulled = runner.invoke(cli_app, ["pull", "nanochat", "-q"])
    assert pulled.exit_code == 0, pulled.output
    assert "nanochat sdobson/nanochat@" in pulled.stdout and "converted on the engine's first start" in pulled.stdout
    prepared = NanochatEngine().provision("nanochat", ProvisionOptions(offline=True))
    assert prepared.raw is not None
    checkpoint.convert(RawCheckpoint(*prepared.raw), prepared.model_dir)  # what the engine's first start does
    listing = runner.invoke(cli_app, ["cache", "list"]).stdout
    assert "nanochat conversions" in listing and str(prepared.model_dir) in listing
    assert str(prepared.raw[0]) in listing  # the downloaded checkpoint is listed with the models
    cleared = runner.invoke(cli_app, ["cache", "clear", "--yes"])
    assert cleared.exit_code == 0, cleared.output
    assert not prepared.model_dir.exists() and not prepared.raw[0].exists()
