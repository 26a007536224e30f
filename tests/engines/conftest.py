from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of the test's own, so default pid files never land in the user's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("OAS_CACHE_DIR", str(cache))
    return cache
