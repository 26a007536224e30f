"""What the command line prints: the consoles, the banner with its copy-paste `curl`, and `run`'s progress.

Long lines (paths, the curl example) are never wrapped, so they stay whole for copy-paste when the output is
not a terminal.
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from openai_api_simulator.engines import EngineState
from openai_api_simulator.engines.base import Launch

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

_STATE_STYLES = {EngineState.READY: "green", EngineState.RESTARTING: "yellow", EngineState.FAILED: "red"}


def error(message: object) -> None:
    # Escaped: messages quote paths, flags and install commands ('openai-api-simulator[nanochat]') that rich
    # would otherwise read as markup and drop.
    err.print(f"[red]Error:[/] {escape(str(message))}")


def banner(heading: str, base_url: str, models: list[str], sample_model: str, *, api_key: bool) -> None:
    """`heading`, the models, and a `curl` for `sample_model` that works as printed."""
    out.print(heading)
    out.print(f"  models: {escape(', '.join(models))}" + ("  (API key required)" if api_key else ""))
    sample = json.dumps({"model": sample_model, "messages": [{"role": "user", "content": "Hello"}]})
    auth = " -H 'Authorization: Bearer $OAS_API_KEY'" if api_key else ""
    curl = f"curl {base_url}/chat/completions -H 'Content-Type: application/json'{auth} -d '{sample}'"
    out.print(f"  try:    {escape(curl)}")


class ConsoleEvents:
    """`orchestrator.RunEvents` on the terminal."""

    def __init__(self, *, api_key: bool) -> None:
        self.api_key = api_key

    def engine_starting(self, model: str, launch: Launch, port: int) -> None:
        notes = escape("".join(f"; {note}" for note in launch.notes))
        out.print(
            f"Starting {escape(launch.server)} on 127.0.0.1:{port} ({launch.device}) for [bold]{escape(model)}[/]"
            f"{notes}; log: {escape(str(launch.spec.log_file))}"
        )

    def engine_state(self, model: str, state: EngineState, message: str) -> None:
        out.print(f"[{_STATE_STYLES.get(state, 'dim')}]{escape(message)}[/]")

    def engine_failed(self, model: str, message: str) -> None:
        out.print(f"[red]Error:[/] {escape(message)}\nStopping: the model cannot be served.")

    def ready(self, base_url: str, models: list[str], sample_model: str, took: float) -> None:
        heading = f"\n[bold green]Ready[/] in {took:.1f} s — OpenAI-compatible API at [cyan]{base_url}[/]"
        banner(heading, base_url, models, sample_model, api_key=self.api_key)
        out.print("  stop:   Ctrl+C\n")
