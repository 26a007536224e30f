"""The command line: help, version, env vars, a real `serve` process, and a busy port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from openai_api_simulator import __version__
from openai_api_simulator.cli import app
from openai_api_simulator.config import ConnectionLimits, Settings
from openai_api_simulator.testing import free_port
from tests.support.served import serve_process

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
    from openai_api_simulator.config import DEFAULT_CACHE_MB

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


# -- connections and browser access


def test_help_lists_the_access_and_connection_flags() -> None:
    for command in ("serve", "run", "nanochat"):
        text = runner.invoke(app, [command, "--help"]).stdout
        for flag in ("--allowed-hosts", "--cors-origins", "--max-connections", "--header-timeout"):
            assert flag in text, (command, flag)
        for flag in ("--keep-alive-timeout", "--api-key-file", "OAS_ALLOWED_HOSTS", "OAS_CORS_ORIGINS"):
            assert flag in text, (command, flag)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What `serve` would serve: the settings given to `create_app` and the limits given to the server."""
    from openai_api_simulator import app as app_module
    from openai_api_simulator import server

    seen: list[object] = []
    real_create_app = app_module.create_app

    def create_app(settings: Settings) -> object:
        seen.append(settings)
        return real_create_app(settings)

    def serve_forever(app: object, sock: socket.socket, **kwargs: object) -> None:
        seen.append(kwargs["limits"])
        sock.close()

    monkeypatch.setattr(app_module, "create_app", create_app)
    monkeypatch.setattr(server, "serve_forever", serve_forever)
    return seen


def test_access_flags_reach_the_server(captured: list[object], tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    args = ["serve", "--port", "0", "--api-key-file", str(key_file), "--allowed-hosts", "sim, box.lan"]
    args += ["--cors-origins", "http://localhost:5173/", "--max-connections", "50", "--header-timeout", "2.5"]
    args += ["--keep-alive-timeout", "7"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    settings, limits = captured
    assert isinstance(settings, Settings)
    assert settings.api_key == "sk-from-file"
    assert settings.allowed_hosts == ("sim", "box.lan") and settings.cors_origins == ("http://localhost:5173",)
    assert limits == ConnectionLimits(max_connections=50, header_timeout=2.5, keep_alive_timeout=7)


def test_access_settings_come_from_the_environment_too(captured: list[object], tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("  sk-env-file  ")
    env = {
        "OAS_API_KEY_FILE": str(key_file),
        "OAS_ALLOWED_HOSTS": "sim box",
        "OAS_CORS_ORIGINS": "*",
        "OAS_MAX_CONNECTIONS": "9",
        "OAS_HEADER_TIMEOUT": "4",
        "OAS_KEEP_ALIVE_TIMEOUT": "3",
    }
    assert runner.invoke(app, ["serve", "--port", "0"], env=env).exit_code == 0
    settings, limits = captured
    assert isinstance(settings, Settings)
    assert (settings.api_key, settings.allowed_hosts, settings.cors_origins) == ("sk-env-file", ("sim", "box"), ("*",))
    assert limits == ConnectionLimits(max_connections=9, header_timeout=4, keep_alive_timeout=3)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--api-key", "k", "--api-key-file", "{file}"], "not both"),
        (["--api-key-file", "{missing}"], "Cannot read the API key file"),
        (["--api-key-file", "{empty}"], "is empty"),
        (["--cors-origins", "localhost:5173"], "--cors-origins takes web origins"),
        (["--allowed-hosts", "http://sim"], "--allowed-hosts takes host names"),
    ],
)
def test_unusable_access_flags_are_usage_errors(args: list[str], said: str, tmp_path: Path) -> None:
    (tmp_path / "key").write_text("k2")
    (tmp_path / "empty").write_text("\n")
    paths = {"file": tmp_path / "key", "missing": tmp_path / "nope", "empty": tmp_path / "empty"}
    args = [arg.format(**paths) for arg in args]
    for command in ("serve", "run", "nanochat"):
        r = runner.invoke(app, [command, "--port", "0", *args])
        assert r.exit_code == 2, (command, r.output)
        assert said in r.stderr and "Traceback" not in r.stderr


def test_a_key_from_a_file_guards_the_server_and_stays_out_of_ps(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-secret-from-file\n")
    with serve_process("--api-key-file", str(key_file)) as served:
        url = f"http://127.0.0.1:{served.port}/v1/models"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer sk-secret-from-file"}).status_code == 200
        assert "sk-secret-from-file" not in " ".join(psutil.Process(served.proc.pid).cmdline())


def test_a_wildcard_bind_takes_service_names_and_allowed_hosts_narrow_it() -> None:
    """As in docker-compose, where clients call the server by its service name."""
    with serve_process("--host", "0.0.0.0") as served:
        assert httpx.get(f"http://127.0.0.1:{served.port}/health", headers={"Host": "sim:3080"}).status_code == 200
    with serve_process("--host", "0.0.0.0", env={"OAS_ALLOWED_HOSTS": "sim"}) as served:
        url = f"http://127.0.0.1:{served.port}/health"
        assert httpx.get(url, headers={"Host": "sim:3080"}).status_code == 200
        refused = httpx.get(url, headers={"Host": "rebound.example"})
        assert refused.status_code == 421 and refused.json()["error"]["code"] == "host_not_allowed"
