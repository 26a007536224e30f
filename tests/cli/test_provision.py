"""The ``pull`` and ``cache`` commands through Typer's runner, against the loopback mirror."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openai_api_simulator.cli import app as cli_app
from tests.support.mirror import Mirror, random_bytes
from tests.support.provision import fake_server_script, release_tar

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the stand-in llama-server is a shell script")

GGUF = b"GGUF" + random_bytes(200_000, seed=5)


@pytest.fixture
def published(mirror_env: Mirror, tmp_path: Path) -> Mirror:
    archive = release_tar(tmp_path / "llama-b900-bin-ubuntu-x64.tar.gz", "b900", fake_server_script())
    mirror_env.add_asset("b900", archive.name, archive)
    mirror_env.latest = "b900"
    mirror_env.add_hf("org/repo", "tiny.gguf", GGUF)
    return mirror_env


def test_pull_installs_both_then_runs_offline_and_instantly(published: Mirror, oas_env: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli_app, ["pull", "hf://org/repo/tiny.gguf"])
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0] == f"llama-server b900 (cpu): {oas_env}/llama.cpp/b900-bin-ubuntu-x64/llama-b900/llama-server"
    assert lines[1].startswith(f"model tiny.gguf: {oas_env}/models/hf/org/repo/main/tiny.gguf ({len(GGUF)} bytes")
    # Not a terminal: progress is plain log lines on stderr.
    assert "Downloading llama-b900-bin-ubuntu-x64.tar.gz" in first.stderr
    assert "Downloading tiny.gguf" in first.stderr

    published.reset_stats()
    second = runner.invoke(cli_app, ["pull", "hf://org/repo/tiny.gguf"])
    assert second.exit_code == 0
    assert second.stdout == first.stdout
    assert second.stderr == ""
    assert published.count() == 0


def test_pull_honours_the_mirror_flags(published: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OAS_LLAMA_RELEASE_URL", "HF_ENDPOINT"):
        monkeypatch.delenv(name)
    result = CliRunner().invoke(
        cli_app,
        [
            "pull",
            "hf://org/repo/tiny.gguf",
            "--llama-release-url",
            published.release_url,
            "--hf-endpoint",
            published.hf_endpoint,
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_pull_offline_with_empty_cache_fails_clearly(oas_env: Path) -> None:
    result = CliRunner().invoke(cli_app, ["pull", "--offline"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: Offline, and the cache")


def test_pull_unknown_model_lists_the_catalogue(oas_env: Path) -> None:
    result = CliRunner().invoke(cli_app, ["pull", "nope", "--no-llama"])
    assert result.exit_code == 1
    assert "Unknown model 'nope'" in result.stderr
    assert "smollm2-135m" in result.stderr


def test_cache_path_list_and_clear(published: Mirror, oas_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli_app, ["cache", "path"]).stdout == f"{oas_env}\n"
    empty = runner.invoke(cli_app, ["cache", "list"])
    assert "llama.cpp: (none)" in empty.stdout and "models: (none)" in empty.stdout

    assert runner.invoke(cli_app, ["pull", "hf://org/repo/tiny.gguf", "-q"]).exit_code == 0
    listing = runner.invoke(cli_app, ["cache", "list"]).stdout
    assert "b900  cpu     llama-b900-bin-ubuntu-x64.tar.gz" in listing
    assert f"{oas_env}/models/hf/org/repo/main/tiny.gguf" in listing

    kept = runner.invoke(cli_app, ["cache", "clear"], input="n\n")
    assert kept.exit_code == 1 and (oas_env / "models").is_dir()
    other = oas_env / "not-ours.txt"
    other.write_text("the user's file")
    cleared = runner.invoke(cli_app, ["cache", "clear", "--yes"])
    assert cleared.exit_code == 0
    assert sorted(p.name for p in oas_env.iterdir()) == ["not-ours.txt"]
