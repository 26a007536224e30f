"""What a launch is: the command with its port, the log it writes, and the error when it does not start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from openai_api_simulator.engines import EngineStartError, LaunchSpec
from openai_api_simulator.engines.launch import describe_exit, log_header, open_log, read_log_tail


def test_the_port_goes_in_every_placeholder_and_bad_specs_are_refused(tmp_path: Path) -> None:
    spec = LaunchSpec("m", ["/opt/bin/llama-server", "--port", "{port}", "--url=http://h:{port}"], tmp_path / "l.log")
    assert spec.command(4242) == ["/opt/bin/llama-server", "--port", "4242", "--url=http://h:4242"]
    assert spec.program == "llama-server"
    assert LaunchSpec("m", [sys.executable, "-m", "engine"], tmp_path / "l.log", label="x engine").program == "x engine"
    with pytest.raises(ValueError, match="empty argv"):
        LaunchSpec("m", [], tmp_path / "l.log")
    with pytest.raises(ValueError, match="ready_timeout must be positive"):
        LaunchSpec("m", ["x"], tmp_path / "l.log", ready_timeout=0)


def test_the_log_header_never_shows_the_key(tmp_path: Path) -> None:
    spec = LaunchSpec("smol", ["srv", "--api-key", "k3y-secret", "--x"], tmp_path / "l.log", api_key="k3y-secret")
    header = log_header(spec, spec.command(1), 9000)
    assert "smol: starting on 127.0.0.1:9000: srv --api-key '***' --x" in header
    assert "k3y-secret" not in header


def test_the_tail_is_this_launchs_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "engine.log"
    with open_log(log, "=== first launch\n") as fh:
        fh.write(b"old line\n")
        offset = fh.tell()
    with open_log(log) as fh:
        fh.write(b"one\n\n  \ntwo\nthree \n")
    assert read_log_tail(log, offset, 2) == ["two", "three"]  # blank lines skipped, trailing space trimmed
    assert read_log_tail(log, offset, 10) == ["one", "two", "three"]  # not the earlier launch's lines
    assert read_log_tail(log, 10**9, 1) == ["three"]  # an offset past the end: the log was truncated
    assert read_log_tail(tmp_path / "missing.log", 0, 5) == []
    assert read_log_tail(log, 0, 0) == []


def test_start_errors_quote_the_log_or_say_it_is_empty(tmp_path: Path) -> None:
    quoted = EngineStartError("it failed", hint="Try X.", log_file=tmp_path / "l.log", log_tail=["a", "b"])
    assert str(quoted) == f"it failed\nLast lines of {tmp_path / 'l.log'}:\n    a\n    b\nTry X."
    silent = EngineStartError("it failed", log_file=tmp_path / "l.log", returncode=3)
    assert str(silent) == f"it failed\nIt wrote nothing to its log ({tmp_path / 'l.log'})."
    assert silent.returncode == 3 and silent.reason == "it failed"


def test_exit_codes_in_words() -> None:
    assert describe_exit(1) == "code 1"
    assert describe_exit(-9) == "code -9 (killed by SIGKILL)"
    assert describe_exit(-200) == "code -200"  # no such signal
