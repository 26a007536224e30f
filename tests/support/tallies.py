"""Tally lines of the soak and fuzz tests, printed in a section of their own at the end of the run.

Each test records one line through the `tally` fixture; pytest prints them all after the summary, so the
figures show in CI logs and in `make soak` output, and `docs/reliability.md` records them with the command.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.soak import FULL

TALLIES = pytest.StashKey[list[str]]()


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Callable[[str], None]:
    lines = request.config.stash.setdefault(TALLIES, [])
    return lambda line: lines.append(f"{request.node.name}: {line}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(TALLIES, [])
    if lines:
        terminalreporter.section(f"soak and fuzz tallies ({'full' if FULL else 'CI'} size)")
        for line in lines:
            terminalreporter.write_line(line)
