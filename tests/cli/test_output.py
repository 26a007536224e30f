"""What the command line prints for `run`: the start-up line, state changes, failures and the banner."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from openai_api_simulator.cli import output
from openai_api_simulator.engines import EngineState, LaunchSpec
from openai_api_simulator.engines.base import Launch


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(output, "out", Console(file=buffer, width=80, highlight=False, soft_wrap=True))
    return buffer


def test_the_banner_has_a_curl_that_works_as_printed(printed: io.StringIO) -> None:
    output.banner("Ready", "http://127.0.0.1:3080/v1", ["smol", "gpt-sim-1"], "smol", api_key=True)
    lines = printed.getvalue().splitlines()
    assert lines[:2] == ["Ready", "  models: smol, gpt-sim-1  (API key required)"]
    curl = lines[2]  # one line however long: soft wrap keeps it whole for copy-paste
    assert curl.startswith(
        "  try:    curl http://127.0.0.1:3080/v1/chat/completions -H 'Content-Type: application/json'"
    )
    assert "-H 'Authorization: Bearer $OAS_API_KEY'" in curl
    body = json.loads(curl.split(" -d '", 1)[1].removesuffix("'"))
    assert body == {"model": "smol", "messages": [{"role": "user", "content": "Hello"}]}


def test_run_events_read_like_the_docs(printed: io.StringIO, tmp_path: Path) -> None:
    events = output.ConsoleEvents(api_key=False)
    spec = LaunchSpec("smol", ["llama-server"], tmp_path / "smol.log")
    events.engine_starting("smol", Launch(spec, server="llama.cpp server b11434", device="CPU"), 41733)
    events.engine_state("smol", EngineState.RESTARTING, "llama-server exited; restarting in 0.5 s")
    events.engine_failed("smol", "gave up")
    events.ready("http://127.0.0.1:3080/v1", ["smol", "gpt-sim-1"], "smol", 0.42)
    text = printed.getvalue()
    assert f"Starting llama.cpp server b11434 on 127.0.0.1:41733 (CPU) for smol; log: {tmp_path / 'smol.log'}" in text
    assert "llama-server exited; restarting in 0.5 s" in text
    assert "Error: gave up\nStopping: the model cannot be served." in text
    assert "Ready in 0.4 s — OpenAI-compatible API at http://127.0.0.1:3080/v1" in text
    assert "Authorization" not in text and "  stop:   Ctrl+C" in text


def test_brackets_in_messages_are_printed_not_read_as_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(output, "err", Console(file=buffer, width=200, highlight=False, soft_wrap=True))
    output.error("Install the extra: pip install 'openai-api-simulator[nanochat]' [bold]now[/]")
    assert buffer.getvalue() == "Error: Install the extra: pip install 'openai-api-simulator[nanochat]' [bold]now[/]\n"
