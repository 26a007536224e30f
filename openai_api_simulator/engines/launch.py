"""What one engine launch is made of: its recipe (`LaunchSpec`), its log, and the error when it fails.

Engine modules (``llama`` for llama-server) build a `LaunchSpec`; the supervisor runs it. The log is the
child's own stdout and stderr, appended to ``spec.log_file`` after a header line per launch that names the
command (with the API key redacted); `read_log_tail` reads the lines of one launch back for error messages.
`EngineStartError` is what a launch that never became ready turns into.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Final

from ..errors import SimulatorError

# Reading back at most this much of the log keeps a tail cheap on a log that has grown large.
_TAIL_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class LaunchSpec:
    """How to run one engine. Every ``{port}`` in `argv` becomes the port of the launch."""

    name: str  # the public model id, used in messages and the pid file name
    argv: Sequence[str]  # the full command
    log_file: Path  # the child's stdout+stderr are appended here
    host: str = "127.0.0.1"
    port: int | None = None  # None: a free port, picked again on each launch
    env: Mapping[str, str] | None = None  # extra variables on top of os.environ
    health_path: str = "/health"
    ready_timeout: float = 60.0  # seconds for one launch to become healthy (callers scale it with model size)
    api_key: str | None = None  # not needed for /health; kept for the relay, and redacted from the log header
    label: str | None = None  # what messages call the program when argv[0] does not say (`python -m …`)

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError(f"LaunchSpec for {self.name!r} has an empty argv")
        if self.ready_timeout <= 0:
            raise ValueError(f"LaunchSpec for {self.name!r}: ready_timeout must be positive")

    def command(self, port: int) -> list[str]:
        return [arg.replace("{port}", str(port)) for arg in self.argv]

    @property
    def program(self) -> str:
        """The program's name for messages: ``llama-server``, or the label (``nanochat engine``)."""
        return self.label or Path(self.argv[0]).name or str(self.argv[0])


class EngineStartError(SimulatorError):
    """An engine did not become ready. The message names the program, port and log, quotes the log's tail
    and says what to try; the parts are kept as attributes for callers that lay them out themselves."""

    def __init__(
        self,
        reason: str,
        *,
        hint: str = "",
        log_file: Path | None = None,
        log_tail: Sequence[str] = (),
        returncode: int | None = None,
    ) -> None:
        self.reason = reason
        self.hint = hint
        self.log_file = log_file
        self.log_tail = list(log_tail)
        self.returncode = returncode
        parts = [reason]
        if self.log_tail:
            parts.append(f"Last lines of {log_file}:")
            parts += [f"    {line}" for line in self.log_tail]
        elif log_file is not None:
            parts.append(f"It wrote nothing to its log ({log_file}).")
        if hint:
            parts.append(hint)
        super().__init__("\n".join(parts))


def describe_exit(returncode: int) -> str:
    """``code 1``, or ``code -9 (killed by SIGKILL)`` for a child a signal ended."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"code {returncode} (killed by {signal.Signals(-returncode).name})"
    return f"code {returncode}"


def open_log(log_file: Path, header: str = "") -> BinaryIO:
    """`log_file` opened for appending, `header` written (a quick local file operation, fine on the event loop)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_fh = open(log_file, "ab")  # noqa: SIM115 - the caller's `with` closes it
    if header:
        log_fh.write(header.encode())
        log_fh.flush()
    return log_fh


def log_header(spec: LaunchSpec, argv: Sequence[str], port: int) -> str:
    """The line that opens one launch's part of the log: when, which engine, where, and the command."""
    key = spec.api_key
    # The log must not hand out the key; redacted before quoting, which could split it.
    command = shlex.join(arg.replace(key, "***") if key else arg for arg in argv)
    stamp = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    return f"\n=== {stamp} {spec.name}: starting on {spec.host}:{port}: {command}\n"


def read_log_tail(log_file: Path, offset: int, n: int) -> list[str]:
    """The last `n` non-blank lines written to `log_file` from byte `offset` on (one launch's output)."""
    if n <= 0:
        return []
    try:
        with open(log_file, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = offset if offset <= size else 0  # the log was truncated
            start = max(start, size - _TAIL_BYTES)
            fh.seek(start)
            data = fh.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return [line.rstrip() for line in lines if line.strip()][-n:]
