"""Where provisioning downloads from and whether it is offline: flag > environment > default."""

from __future__ import annotations

import pytest

from openai_api_simulator.provision import settings


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HF_ENDPOINT", "OAS_LLAMA_RELEASE_URL", "OAS_GITHUB_API_URL", "OAS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    assert settings.hf_endpoint() == "https://huggingface.co"
    assert settings.release_url() == "https://github.com/ggml-org/llama.cpp"
    assert settings.github_api_url() == "https://api.github.com"
    assert settings.offline() is False
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.test/")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert settings.hf_endpoint() == "https://hf-mirror.test"
    assert settings.hf_endpoint("https://flag.test") == "https://flag.test"
    assert settings.offline() is True
    assert settings.offline(False) is False  # an explicit argument wins over the environment
