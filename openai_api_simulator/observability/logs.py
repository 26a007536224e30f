"""The JSON log format (`--log-format json`): one JSON object per line on stderr, with the request id::

    {"time": "2026-12-01T12:00:00.123Z", "level": "info", "logger": "openai_api_simulator.access",
     "message": "POST /v1/chat/completions 200 0.4 ms", "request_id": "req_9f…", "method": "POST",
     "path": "/v1/chat/completions", "status": 200, "duration_ms": 0.4, "model": "gpt-sim-1",
     "client": "127.0.0.1:53122"}

uvicorn's own records (start-up, shutdown, errors) and the simulator's (engine states, relay warnings, a
bug's traceback as `exc_info`) get the same shape, with `request_id` when they are written while a request is
answered. In this format uvicorn's access log is replaced by the simulator's (`access`): only the middleware
knows a request's duration, model and id. The text format, the default, is uvicorn's, unchanged.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Final

from openai_api_simulator.observability import context

ACCESS_LOGGER: Final = "openai_api_simulator.access"
# The record attribute that carries an access line's fields (one attribute: `extra` keys must not clash with
# the record's own, and a dict keeps them together).
_FIELDS: Final = "oas_fields"

_access = logging.getLogger(ACCESS_LOGGER)


class JSONFormatter(logging.Formatter):
    """A log record as one line of JSON (newlines in messages and tracebacks are escaped, never split)."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, tz=timezone.utc)
        entry: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = context.request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, _FIELDS, None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def uvicorn_config(log_level: str) -> dict[str, Any]:
    """uvicorn's `log_config` for the JSON format: its loggers and the simulator's, one JSON handler on stderr.

    uvicorn applies `log_level` to its own loggers after this; the simulator's get it here.
    """
    level = log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JSONFormatter}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "propagate": False},  # replaced by the simulator's access log
            "openai_api_simulator": {"handlers": ["json"], "level": level, "propagate": False},
        },
    }


def access(
    *, request_id: str, method: str, path: str, status: int, duration: float, model: str, client: str | None
) -> None:
    """One access line (a request answered), at INFO."""
    if not _access.isEnabledFor(logging.INFO):
        return
    duration_ms = round(duration * 1000, 3)
    fields = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "model": model,
        "client": client,
    }
    _access.info("%s %s %d %g ms", method, path, status, duration_ms, extra={_FIELDS: fields})
