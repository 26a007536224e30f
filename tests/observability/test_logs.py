"""`--log-format json`: every stderr line one JSON object, access lines with the id the client saw.

The format is checked on a real `serve` process (what uvicorn's logging configuration does is only visible
there); the formatter's fields also in process.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import httpx

from openai_api_simulator.observability.context import REQUEST_ID
from openai_api_simulator.observability.logs import JSONFormatter
from tests.support.server import serving_process

CHAT = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "Hello"}]}


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("openai_api_simulator.relay", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_record_is_one_json_line_with_the_request_id_while_a_request_is_answered() -> None:
    formatter = JSONFormatter()
    outside = json.loads(formatter.format(record("upstream %s failed", "http://up")))
    assert outside["level"] == "warning" and outside["logger"] == "openai_api_simulator.relay"
    assert outside["message"] == "upstream http://up failed"
    assert outside["time"].endswith("Z") and "T" in outside["time"]
    assert "request_id" not in outside

    token = REQUEST_ID.set("req_abc")
    try:
        line = formatter.format(record("with a traceback", exc=True))
    finally:
        REQUEST_ID.reset(token)
    assert "\n" not in line
    inside = json.loads(line)
    assert inside["request_id"] == "req_abc"
    assert "ValueError: boom\nsecond line" in inside["exc_info"]


def test_json_logs_from_a_real_server() -> None:
    with serving_process("--log-format", "json", "--log-level", "info") as (port, proc):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            chat = http.post("/v1/chat/completions", json=CHAT)
            mine = http.post("/v1/chat/completions", json=CHAT, headers={"X-Request-Id": "client-chosen-1"})
            missing = http.post("/v1/chat/completions", json={**CHAT, "model": "nobody"})
            stream = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    lines = err.splitlines()
    assert lines, out
    entries: list[dict[str, Any]] = [json.loads(line) for line in lines]  # every line, not just some
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    started = [entry for entry in entries if "Started server process" in entry["message"]]
    assert started and started[0]["logger"].startswith("uvicorn")
    access = {entry["request_id"]: entry for entry in entries if entry["logger"] == "openai_api_simulator.access"}

    line = access[chat.headers["x-request-id"]]
    assert line["method"] == "POST" and line["path"] == "/v1/chat/completions"
    assert line["status"] == 200 and line["model"] == "gpt-sim-1"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["client"].startswith("127.0.0.1:")
    assert access["client-chosen-1"]["status"] == 200 and mine.headers["x-request-id"] == "client-chosen-1"
    assert access[missing.headers["x-request-id"]]["status"] == 404
    assert access[missing.headers["x-request-id"]]["model"] == "unknown"
    assert access[stream.headers["x-request-id"]]["status"] == 200
    # uvicorn's own access lines are replaced, not doubled, and stdout has no log lines at all.
    assert not [entry for entry in entries if entry["logger"] == "uvicorn.access"]
    assert "POST /v1/chat/completions" not in out


def test_the_text_format_stays_uvicorns() -> None:
    with serving_process("--log-level", "info") as (port, proc):
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT, timeout=10)
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert answer.headers["x-request-id"].startswith("req_")
    assert '"POST /v1/chat/completions HTTP/1.1" 200' in out  # uvicorn's access line, on stdout as before
    assert "INFO:" in err and "Started server process" in err
    assert not any(line.startswith("{") for line in err.splitlines())


def test_a_bad_log_format_is_a_usage_error() -> None:
    from typer.testing import CliRunner

    from openai_api_simulator.cli import app

    result = CliRunner().invoke(app, ["serve", "--log-format", "yaml", "--port", "0"])
    assert result.exit_code == 2
    assert "--log-format" in result.stderr and "text or json" in result.stderr
