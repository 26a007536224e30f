"""Where the cache lives: platformdirs' user cache dir unless OAS_CACHE_DIR says otherwise."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from openai_api_simulator import paths


def test_cache_dir_defaults_to_platformdirs_and_env_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OAS_CACHE_DIR", raising=False)
    assert paths.cache_dir() == platformdirs.user_cache_path("openai-api-simulator", appauthor=False)
    monkeypatch.setenv("OAS_CACHE_DIR", str(tmp_path / "c"))
    assert paths.cache_dir() == tmp_path / "c"
    assert paths.models_dir() == tmp_path / "c" / "models"
    assert paths.llama_dir() == tmp_path / "c" / "llama.cpp"
