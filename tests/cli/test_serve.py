"""The command line: help, version, env vars, a real `serve` process, and a busy port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from openai_api_simulator import __version__
from openai_api_simulator.cli import app
from openai_api_simulator.testing import free_port

runner = CliRunner()


def test_help_is_a_quick_start() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    assert "Quick start" in r.stdout and "curl" in r.stdout and "gpt-sim-1" in r.stdout
    serve_help = runner.invoke(app, ["serve", "--help"])
    for flag in (
        "--port",
        "--alias",
        "--error-rate",
        "--latency-ms",
        "--tokens-per-second",
        "OAS_PORT",
        "X-Simulator-Error",
    ):
        assert flag in serve_help.stdout


def test_version() -> None:
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"openai-api-simulator {__version__}"


def test_cache_mb_reaches_the_settings_by_flag_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from openai_api_simulator import app as app_module
    from openai_api_simulator import server
    from openai_api_simulator.config import DEFAULT_CACHE_MB, Settings

    seen: list[Settings] = []
    monkeypatch.setattr(app_module, "create_app", lambda settings: seen.append(settings))
    monkeypatch.setattr(server, "serve_forever", lambda app, sock, **kwargs: sock.close())
    assert runner.invoke(app, ["serve", "--port", "0"]).exit_code == 0
    assert runner.invoke(app, ["serve", "--port", "0", "--cache-mb", "256"]).exit_code == 0
    assert runner.invoke(app, ["serve", "--port", "0"], env={"OAS_CACHE_MB": "32"}).exit_code == 0
    assert [s.cache_mb for s in seen] == [DEFAULT_CACHE_MB, 256, 32]
    refused = runner.invoke(app, ["serve", "--port", "0", "--cache-mb", "0"])
    assert refused.exit_code == 2 and "--cache-mb" in refused.stderr


def test_bad_stream_fail_mode_is_a_usage_error() -> None:
    r = runner.invoke(app, ["serve", "--stream-fail-mode", "explode", "--port", "0"])
    assert r.exit_code == 2
    assert "--stream-fail-mode" in r.stderr


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "openai_api_simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def served() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port = free_port()
    proc = _start(env={"OAS_PORT": str(port), "OAS_ALIASES": "gpt-4o, my-model"})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield port, proc
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_bare_command_serves_with_env_settings(served: tuple[int, subprocess.Popen[str]]) -> None:
    port, _ = served
    ids = [m["id"] for m in httpx.get(f"http://127.0.0.1:{port}/v1/models").json()["data"]]
    assert ids == ["gpt-sim-1", "gpt-4o", "my-model"]


def test_sigterm_stops_cleanly(served: tuple[int, subprocess.Popen[str]]) -> None:
    port, proc = served
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}/v1" in out


def test_busy_port_exits_at_once_naming_port_and_holder() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = _start("serve", "--port", str(port))
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    assert f"Port {port}" in err and "already in use" in err
    assert f"pid {os.getpid()}" in err  # this test process holds it
    assert "Traceback" not in err


def test_options_without_a_command_are_serves() -> None:
    from openai_api_simulator.cli import argv_with_default_command as rewrite

    assert rewrite([]) == ["serve"]
    assert rewrite(["--port", "9"]) == ["serve", "--port", "9"]
    assert rewrite(["--help"]) == ["--help"]
    assert rewrite(["--version"]) == ["--version"]
    assert rewrite(["pull", "x"]) == ["pull", "x"]
