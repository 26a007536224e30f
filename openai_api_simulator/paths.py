"""Where this package keeps files on the user's disk.

One cache directory holds everything that can be downloaded again (llama.cpp builds, GGUF models,
release metadata). It comes from platformdirs' per-user cache location and can be moved with
``OAS_CACHE_DIR`` (tests point it at a temporary directory; CI points it at a cached folder).

The values are computed on each call rather than at import time so that a changed environment
variable (a test's monkeypatch, a CLI flag exported before the call) is always honoured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from platformdirs import user_cache_path

from openai_api_simulator.config import env_value

APP_NAME: Final = "openai-api-simulator"
# The one environment variable that moves the whole cache.
CACHE_DIR_ENV: Final = "OAS_CACHE_DIR"


def cache_dir() -> Path:
    """The root of the download cache (not created here)."""
    override = env_value(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser().absolute()
    return user_cache_path(APP_NAME, appauthor=False)


def llama_dir() -> Path:
    """Installed llama.cpp releases, one folder per tag and asset."""
    return cache_dir() / "llama.cpp"


def models_dir() -> Path:
    """Downloaded GGUF models."""
    return cache_dir() / "models"


def downloads_dir() -> Path:
    """Archives in flight (a ``.part`` file while downloading, removed once installed)."""
    return cache_dir() / "downloads"


def hub_dir() -> Path:
    """Hugging Face repository listings remembered per revision (which commit, which files)."""
    return cache_dir() / "hub"


def releases_dir() -> Path:
    """Release metadata remembered per tag (GitHub's API is rate-limited, so ask once)."""
    return cache_dir() / "releases"
