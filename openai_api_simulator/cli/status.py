"""`openai-api-simulator status`: what a running instance serves and in what state, for people and scripts.

It asks the instance's `/health` (open even when an API key is set) for each model's state, and its `/metrics`
(guarded by the key, when there is one) for which models run in a supervised engine and how often each was
restarted. Exit codes: 0 every model is ready, 1 degraded (some model is not), 2 unreachable, or not an
openai-api-simulator.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Final

import httpx
import typer

from openai_api_simulator.cli import output
from openai_api_simulator.config import DEFAULT_PORT

DEFAULT_URL: Final = f"http://127.0.0.1:{DEFAULT_PORT}"
READY: Final = 0
DEGRADED: Final = 1
UNREACHABLE: Final = 2


@dataclass(frozen=True)
class ModelState:
    id: str
    state: str  # ready, starting, restarting, stopping, stopped, failed
    engine: bool | None  # served by a supervised engine; None when /metrics could not be read
    restarts: int | None  # the engine's restarts so far; None for a model without an engine (or unknown)


@dataclass
class Report:
    url: str
    status: str  # ok, degraded, unreachable
    models: list[ModelState] = field(default_factory=list)
    note: str | None = None  # why the engine details are missing
    error: str | None = None  # why the instance could not be asked

    @property
    def exit_code(self) -> int:
        return {"ok": READY, "degraded": DEGRADED}.get(self.status, UNREACHABLE)


def base_url(url: str) -> str:
    """`127.0.0.1:3080`, `http://127.0.0.1:3080/v1/` → `http://127.0.0.1:3080`."""
    text = url.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    return text.removesuffix("/v1")


def probe(url: str, api_key: str | None = None, timeout: float = 5.0) -> Report:
    """Ask the instance at `url`; never raises for what the network or the instance does."""
    url = base_url(url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        # trust_env=False: a proxy from the environment must not stand between this and a local server.
        client = httpx.Client(base_url=url, timeout=timeout, headers=headers, trust_env=False)
    except httpx.InvalidURL as exc:
        return Report(url, "unreachable", error=f"{url} is not a URL ({exc}); give one such as {DEFAULT_URL}.")
    with client:
        try:
            health = client.get("/health")
        except httpx.TimeoutException:
            return Report(url, "unreachable", error=f"{url} did not answer within {timeout:g} s.")
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            return Report(
                url,
                "unreachable",
                error=f"Cannot reach openai-api-simulator at {url}: {exc or type(exc).__name__}. Start one with "
                "`openai-api-simulator`, or give its address with --url.",
            )
        states = _model_states(health)
        if states is None:
            return Report(
                url,
                "unreachable",
                error=f"{url} answered GET /health with {health.status_code} {health.reason_phrase}, not as "
                "openai-api-simulator does; is --url right?",
            )
        engines, note = _engines(client, api_key)
    models = [
        ModelState(
            model,
            state,
            engine=None if engines is None else model in engines,
            restarts=None if engines is None or model not in engines else engines[model],
        )
        for model, state in states.items()
    ]
    status = "ok" if all(state == "ready" for state in states.values()) else "degraded"
    return Report(url, status, models, note=note)


def _model_states(health: httpx.Response) -> dict[str, str] | None:
    """Each model's state from a /health answer; None when it is not this server's answer."""
    if health.status_code != 200:
        return None
    try:
        body: Any = health.json()
    except ValueError:
        return None
    models = body.get("models") if isinstance(body, dict) else None
    if not isinstance(models, dict) or not all(isinstance(s, str) for s in models.values()):
        return None
    return {str(model): state for model, state in models.items()}


def _engines(client: httpx.Client, api_key: str | None) -> tuple[dict[str, int] | None, str | None]:
    """Restarts of each model served by an engine, from /metrics; or None and why not."""
    from openai_api_simulator.observability.metrics import engine_models

    try:
        answer = client.get("/metrics")
    except httpx.HTTPError as exc:
        return None, f"no engine details: GET /metrics failed ({exc or type(exc).__name__})"
    if answer.status_code == 401:
        if api_key:
            return None, "no engine details: the instance refused the API key for /metrics"
        return None, "no engine details: /metrics needs the instance's API key (--api-key or OAS_API_KEY)"
    if answer.status_code != 200:
        return None, f"no engine details: GET /metrics answered {answer.status_code}"
    try:
        found = engine_models(answer.text)
    except ValueError as exc:
        return None, f"no engine details: /metrics could not be read ({exc})"
    return {model: restarts for model, (_, restarts) in found.items()}, None


def render(report: Report) -> str:
    """The report as plain, aligned lines: a heading, then one line per model."""
    lines = [f"openai-api-simulator at {report.url}: {report.status}"]
    rows = [("MODEL", "STATE", "RESTARTS")]
    for model in report.models:
        restarts = "?" if model.engine is None else "-" if model.restarts is None else str(model.restarts)
        rows.append((model.id, model.state, restarts))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines.extend(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip() for row in rows)
    return "\n".join(lines)


def status(
    url: Annotated[
        str, typer.Option("--url", envvar="OAS_URL", help="The instance's address (with or without /v1).")
    ] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="OAS_API_KEY", help="The instance's API key (its /metrics needs it)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each answer.")] = 5.0,
) -> None:
    """Show a running instance's models and the state of each (ready, starting, restarting...) and its engine.

    Exit code 0 when every model is ready, 1 when some is not (degraded), 2 when the instance cannot be reached.
    RESTARTS is "-" for a model served without an engine (the fake, an --upstream).
    """
    report = probe(url, api_key or None, timeout)
    if as_json:
        print(json.dumps(asdict(report) | {"exit_code": report.exit_code}))
    elif report.error is None:
        print(render(report))
    if report.error is not None:
        output.error(report.error)
    elif report.note is not None:
        print(f"note: {report.note}", file=sys.stderr)
    raise typer.Exit(report.exit_code)
