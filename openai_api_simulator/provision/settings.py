"""Where provisioning downloads from, and whether it may use the network at all.

Each value has a documented default and an environment variable; explicit arguments (CLI flags) win over
the environment, which wins over the default (`config.setting`). ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` are
the Hugging Face ecosystem's own conventions, so a machine already set up for ``huggingface_hub`` works
unchanged.
"""

from __future__ import annotations

from typing import Final

import httpx

from openai_api_simulator.config import env_flag, env_value, setting

DEFAULT_HF_ENDPOINT: Final = "https://huggingface.co"
DEFAULT_RELEASE_URL: Final = "https://github.com/ggml-org/llama.cpp"
DEFAULT_GITHUB_API_URL: Final = "https://api.github.com"

HF_ENDPOINT_ENV: Final = "HF_ENDPOINT"
RELEASE_URL_ENV: Final = "OAS_LLAMA_RELEASE_URL"
GITHUB_API_URL_ENV: Final = "OAS_GITHUB_API_URL"
# Either of these turns offline mode on; HF_HUB_OFFLINE is what huggingface_hub users already set.
OFFLINE_ENVS: Final = ("OAS_OFFLINE", "HF_HUB_OFFLINE")
# Optional credentials, sent only to the host they belong to (never across a redirect to a CDN).
HF_TOKEN_ENV: Final = "HF_TOKEN"
GITHUB_TOKEN_ENV: Final = "GITHUB_TOKEN"


def hf_endpoint(explicit: str | None = None) -> str:
    return setting(explicit, HF_ENDPOINT_ENV, DEFAULT_HF_ENDPOINT).rstrip("/")


def release_url(explicit: str | None = None) -> str:
    return setting(explicit, RELEASE_URL_ENV, DEFAULT_RELEASE_URL).rstrip("/")


def github_api_url(explicit: str | None = None) -> str:
    return setting(explicit, GITHUB_API_URL_ENV, DEFAULT_GITHUB_API_URL).rstrip("/")


def offline(explicit: bool | None = None) -> bool:
    """True when the user asked for cache-only operation (flag or environment)."""
    return env_flag(explicit, OFFLINE_ENVS)


def hf_token() -> str | None:
    return env_value(HF_TOKEN_ENV)


def hf_auth_headers(url: str, endpoint: str) -> dict[str, str]:
    """The ``Authorization`` header for `url`: HF_TOKEN, if set, goes to the Hugging Face endpoint's host only.

    The downloader drops it again on a redirect to another host (the CDN), so it never leaves the Hub.
    """
    token = hf_token()
    if token and httpx.URL(url).host == httpx.URL(endpoint).host:
        return {"Authorization": f"Bearer {token}"}
    return {}


def github_token() -> str | None:
    return env_value(GITHUB_TOKEN_ENV)
