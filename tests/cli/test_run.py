"""`openai-api-simulator run` as an adapter: flags in, a RunPlan out (the end-to-end runs are in test_run_e2e)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest


def test_flags_become_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run` is a thin adapter: its flags (and what follows `--`) become a RunPlan for `orchestrator.run`."""
    from openai_api_simulator import cli, orchestrator
    from openai_api_simulator.engines.llama import LlamaEngine
    from openai_api_simulator.pipeline import ModelChoice, RunPlan

    plans: list[RunPlan] = []

    def fake_run(plan: RunPlan, sock: socket.socket, events: object) -> int:
        plans.append(plan)
        return 0

    monkeypatch.setattr(orchestrator, "run", fake_run)
    argv = ["openai-api-simulator", "run", "smollm2-135m", "--name", "smol", "--port", "0", "--ctx-size", "1024"]
    argv += ["--upstream", "far=http://10.1.2.3:8080/v1", "--gpu", "off", "--cache-mb", "200", "--", "--temp", "0.1"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0
    [plan] = plans
    assert plan.models == (ModelChoice("smollm2-135m", "smol"),)
    assert plan.upstreams == {"far": ["http://10.1.2.3:8080"]}
    llama = plan.engines["llama.cpp"]
    assert isinstance(llama, LlamaEngine)
    assert llama.config.options.ctx_size == 1024 and llama.config.options.gpu == "off"
    assert llama.config.options.extra_args == ("--temp", "0.1")
    assert plan.settings.access_log is False  # the default log level for run is warning
    assert plan.settings.cache_mb == 200


@pytest.mark.parametrize("command", ["run", "nanochat"])
def test_access_flags_reach_the_public_server(command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`run` and `nanochat` take the same connection and browser-access flags as `serve`."""
    from openai_api_simulator import cli, orchestrator
    from openai_api_simulator.config import ConnectionLimits
    from openai_api_simulator.pipeline import RunPlan

    plans: list[RunPlan] = []

    def fake_run(plan: RunPlan, sock: socket.socket, events: object) -> int:
        plans.append(plan)
        return 0

    monkeypatch.setattr(orchestrator, "run", fake_run)
    key_file = tmp_path / "key"
    key_file.write_text("sk-file\n")
    argv = ["openai-api-simulator", command, "--port", "0", "--api-key-file", str(key_file)]
    argv += ["--allowed-hosts", "sim", "--cors-origins", "http://localhost:5173", "--max-connections", "40"]
    argv += ["--header-timeout", "3", "--keep-alive-timeout", "9"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0
    [plan] = plans
    settings = plan.settings
    assert settings.api_key == "sk-file"
    assert settings.allowed_hosts == ("sim",) and settings.cors_origins == ("http://localhost:5173",)
    assert settings.connections == ConnectionLimits(max_connections=40, header_timeout=3, keep_alive_timeout=9)
