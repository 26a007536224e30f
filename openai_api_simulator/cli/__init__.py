"""The `openai-api-simulator` command (Typer). Thin: each command parses flags and hands over.

Commands live in their own modules (`serve`, `run`, `nanochat`, `provision`, `status`); this one builds the app,
whose root help is a quick start, and `main`, which makes a bare invocation mean `serve`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from openai_api_simulator import __version__
from openai_api_simulator.cli import nanochat, provision, run, serve, status
from openai_api_simulator.config import DEFAULT_PORT, FAKE_MODEL

QUICK_START = f"""A local OpenAI-compatible API. Quick start:

  openai-api-simulator                    serve the deterministic fake model `{FAKE_MODEL}` on
                                          http://127.0.0.1:{DEFAULT_PORT}/v1 (no download, no key)

  curl http://127.0.0.1:{DEFAULT_PORT}/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{{"model": "{FAKE_MODEL}", "messages": [{{"role": "user", "content": "Hello"}}]}}'

  OPENAI_BASE_URL=http://127.0.0.1:{DEFAULT_PORT}/v1 OPENAI_API_KEY=sk-test python your_app.py

The same request always gets the same answer. Test your client's retries with
`--error-rate 0.2` or a header such as `X-Simulator-Error: 429` (see `serve --help`)."""

app = typer.Typer(help=QUICK_START, no_args_is_help=False, add_completion=False, rich_markup_mode=None)


def _version(value: bool) -> None:
    if value:
        print(f"openai-api-simulator {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Root options; a bare invocation is rewritten to `serve` by `main`."""


app.command()(serve.serve)
app.command(context_settings={"help_option_names": ["--help", "-h"]})(run.run)
app.command()(nanochat.nanochat)
app.command()(status.status)
provision.register(app)

_ROOT_ONLY = {"--help", "-h", "--version"}


def argv_with_default_command(argv: list[str]) -> list[str]:
    """`openai-api-simulator [serve options]` means `openai-api-simulator serve [serve options]`.

    Rewriting the arguments (rather than calling `serve` from the root callback) lets Click parse them, so
    defaults and the OAS_* environment variables apply exactly as they do for an explicit `serve`.
    """
    if not argv or (argv[0].startswith("-") and argv[0] not in _ROOT_ONLY):
        return ["serve", *argv]
    return argv


def main() -> None:
    argv = argv_with_default_command(sys.argv[1:])
    obj: dict[str, tuple[str, ...]] = {}
    # Arguments after `--` on a `run` command line are for llama-server; they are taken off here, before
    # Click parses the rest (it would take the first of them for the optional MODEL argument).
    if argv and argv[0] == "run" and "--" in argv:
        cut = argv.index("--")
        argv, obj[run.PASSTHROUGH] = argv[:cut], tuple(argv[cut + 1 :])
    app(args=argv, prog_name="openai-api-simulator", obj=obj)


__all__ = ["app", "argv_with_default_command", "main"]
