"""`openai-api-simulator status` against real server processes: ready, degraded, guarded, unreachable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from typer.testing import CliRunner

from openai_api_simulator.cli import app
from openai_api_simulator.testing import free_port, serving
from tests.support.server import serving_process, wait_healthy

RUN_EXAMPLE = Path(__file__).resolve().parents[1] / "support" / "fakes" / "run_example.py"
runner = CliRunner()


def status(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["status", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def served() -> Iterator[int]:
    with serving_process("--alias", "gpt-4o") as (port, _):
        yield port


def test_every_model_ready_is_exit_0_with_a_plain_table(served: int) -> None:
    code, out, err = status("--url", f"http://127.0.0.1:{served}/v1")
    assert code == 0, err
    heading, columns, *rows = out.splitlines()
    assert heading == f"openai-api-simulator at http://127.0.0.1:{served}: ok"
    assert columns.split() == ["MODEL", "STATE", "RESTARTS"]
    assert [row.split() for row in rows] == [["gpt-sim-1", "ready", "-"], ["gpt-4o", "ready", "-"]]
    assert err == ""


def test_json_for_scripts(served: int) -> None:
    code, out, _ = status("--url", f"127.0.0.1:{served}", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["status"] == "ok" and report["exit_code"] == 0 and report["error"] is None
    assert report["models"][0] == {"id": "gpt-sim-1", "state": "ready", "engine": False, "restarts": None}


def test_an_instance_with_an_api_key() -> None:
    with serving_process(env={"OAS_API_KEY": "sk-secret"}) as (port, _):
        url = f"http://127.0.0.1:{port}"
        code, out, err = status("--url", url, env={"OAS_API_KEY": None})
        assert code == 0  # /health is open: the states are known
        assert out.splitlines()[2].split() == ["gpt-sim-1", "ready", "?"]
        assert "/metrics needs the instance's API key (--api-key or OAS_API_KEY)" in err
        code, out, err = status("--url", url, "--api-key", "wrong")
        assert code == 0 and "refused the API key" in err
        code, out, err = status("--url", url, "--api-key", "sk-secret")
        assert code == 0 and err == "" and out.splitlines()[2].split() == ["gpt-sim-1", "ready", "-"]


def test_nothing_listening_is_exit_2_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = status("--url", url)
    assert code == 2 and out == ""
    assert f"Cannot reach openai-api-simulator at {url}" in err and "--url" in err
    code, out, _ = status("--url", url, "--json")
    assert code == 2 and json.loads(out)["status"] == "unreachable"


def test_another_kind_of_server_is_exit_2() -> None:
    with serving(Starlette()) as url:
        code, _, err = status("--url", url)
    assert code == 2 and "GET /health with 404" in err and "is --url right?" in err


def test_an_engine_still_starting_is_degraded_exit_1(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(RUN_EXAMPLE), str(port), str(tmp_path / "logs"), "--slow-start", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        wait_healthy(proc, port)
        code, out, err = status("--url", f"http://127.0.0.1:{port}")
        assert code == 1, err
        assert out.splitlines()[0].endswith(": degraded")
        rows = {row.split()[0]: row.split()[1:] for row in out.splitlines()[2:]}
        assert rows == {"gpt-sim-1": ["ready", "-"], "slow": ["starting", "0"]}
        code, out, _ = status("--url", f"http://127.0.0.1:{port}", "--json")
        report = json.loads(out)
        assert code == 1 and report["status"] == "degraded"
        assert {"id": "slow", "state": "starting", "engine": True, "restarts": 0} in report["models"]
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    # `run` passes --log-format to its server too: every line it wrote to stderr is JSON.
    assert stderr.strip()
    assert all(json.loads(line)["message"] for line in stderr.splitlines())
