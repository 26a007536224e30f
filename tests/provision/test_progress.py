"""Progress reporters: plain log lines for logs and CI, a rich bar on a terminal, and which one is chosen."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from openai_api_simulator.provision.progress import (
    NullProgress,
    PlainProgress,
    RichProgress,
    default_progress,
    megabytes,
)


def test_megabytes_are_decimal_with_one_place() -> None:
    assert [megabytes(n) for n in (0, 98_362_432, 1_050_000.0)] == ["0.0 MB", "98.4 MB", "1.1 MB"]


def test_plain_progress_reports_a_resumed_download_every_tenth() -> None:
    out = io.StringIO()
    reporter = PlainProgress(out, interval=3600.0)  # only the 10 % steps trigger a line
    reporter.start("m.gguf", 10_000_000, 4_000_000)
    for _ in range(6):
        reporter.advance(1_000_000)
    reporter.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "Downloading m.gguf (10.0 MB, resuming at 4.0 MB)"
    assert [line.split(" at ")[0] for line in lines[1:-1]] == [
        f"  m.gguf: {pct:3d}% {mb}.0 MB/10.0 MB" for pct, mb in zip(range(50, 101, 10), range(5, 11), strict=True)
    ]
    assert lines[-1].startswith("  m.gguf: done, 6.0 MB in ")  # what this run fetched, not the whole file


def test_plain_progress_without_a_size_reports_by_time() -> None:
    out = io.StringIO()
    reporter = PlainProgress(out, interval=0.0)
    reporter.start("blob", None, 0)
    reporter.advance(2_000_000)
    reporter.note("a note")
    lines = out.getvalue().splitlines()
    assert lines[0] == "Downloading blob (unknown size)"
    assert lines[1].startswith("  blob: 2.0 MB at ")  # no percentage, no total
    assert lines[2] == "a note"


def test_rich_progress_draws_a_bar_and_stops_it() -> None:
    out = io.StringIO()
    reporter = RichProgress(Console(file=out, force_terminal=True, width=100))
    reporter.start("m.gguf", 1000, 0)
    reporter.advance(1000)
    reporter.finish()
    reporter.note("done [not markup]")
    text = out.getvalue()
    assert "m.gguf" in text
    assert text.rstrip().endswith("done [not markup]")


@pytest.mark.parametrize(("tty", "kind"), [("1", RichProgress), ("0", PlainProgress)])
def test_default_progress_follows_the_terminal(monkeypatch: pytest.MonkeyPatch, tty: str, kind: type) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", tty)  # what rich consults before isatty()
    assert isinstance(default_progress(), kind)
    assert isinstance(default_progress(quiet=True), NullProgress)
