"""How provisioning reports progress: a rich bar on a terminal, log lines otherwise, or nothing.

The downloader talks to a `ProgressReporter` only, so the CLI chooses the presentation
(`default_progress`) and library callers and tests pass `NullProgress` or their own reporter.
Progress goes to stderr, leaving stdout for the commands' results.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgressBar


class ProgressReporter(Protocol):
    """Where the downloader reports what it is doing."""

    def start(self, label: str, total: int | None, completed: int) -> None: ...
    def advance(self, amount: int) -> None: ...
    def finish(self) -> None: ...
    def note(self, message: str) -> None: ...


class NullProgress:
    """Reports nothing (``--quiet``, library use)."""

    def start(self, label: str, total: int | None, completed: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def megabytes(n: float) -> str:
    """`n` bytes as decimal megabytes with one decimal, e.g. ``98.4 MB``: every size this package prints."""
    return f"{n / 1e6:.1f} MB"


class PlainProgress:
    """Log lines for logs and CI: start, every 10 % or 5 s, end. No carriage returns."""

    def __init__(self, stream: IO[str] | None = None, *, interval: float = 5.0) -> None:
        self._stream = stream
        self._interval = interval
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._initial = 0
        self._last_time = 0.0
        self._last_tenth = -1

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def start(self, label: str, total: int | None, completed: int) -> None:
        self._label, self._total, self._done, self._initial = label, total, completed, completed
        self._started = self._last_time = time.monotonic()
        self._last_tenth = -1
        size = megabytes(total) if total is not None else "unknown size"
        resumed = f", resuming at {megabytes(completed)}" if completed else ""
        self._write(f"Downloading {label} ({size}{resumed})")

    def advance(self, amount: int) -> None:
        self._done += amount
        now = time.monotonic()
        tenth = self._done * 10 // self._total if self._total else -1
        if tenth > self._last_tenth or now - self._last_time >= self._interval:
            self._last_tenth, self._last_time = tenth, now
            speed = (self._done - self._initial) / max(now - self._started, 1e-6)
            pct = f"{100 * self._done / self._total:3.0f}% " if self._total else ""
            of = f"/{megabytes(self._total)}" if self._total else ""
            self._write(f"  {self._label}: {pct}{megabytes(self._done)}{of} at {megabytes(speed)}/s")

    def finish(self) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        fetched = self._done - self._initial
        rate = megabytes(fetched / elapsed)
        self._write(f"  {self._label}: done, {megabytes(fetched)} in {elapsed:.1f} s ({rate}/s)")

    def note(self, message: str) -> None:
        self._write(message)


class RichProgress:
    """A progress bar with size, speed and ETA for interactive terminals."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._bar: RichProgressBar | None = None
        self._task: Any = None

    def start(self, label: str, total: int | None, completed: int) -> None:
        self._bar = RichProgressBar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(label, total=total, completed=completed)

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=amount)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def note(self, message: str) -> None:
        self._console.print(message, highlight=False, markup=False)


def default_progress(*, quiet: bool = False) -> ProgressReporter:
    """A bar on a terminal, log lines when stderr is a file or pipe, nothing when quiet."""
    if quiet:
        return NullProgress()
    console = Console(stderr=True)
    if console.is_terminal:
        return RichProgress(console)
    return PlainProgress()
