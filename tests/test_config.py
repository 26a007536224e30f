"""Settings defaults and the one precedence rule for the environment: explicit > environment > default."""

from __future__ import annotations

import pytest

from openai_api_simulator import config


def test_defaults_are_loopback_port_3080_and_the_fake_model() -> None:
    settings = config.Settings()
    assert (settings.host, settings.port, settings.api_key) == ("127.0.0.1", 3080, None)
    assert settings.fake_models == ("gpt-sim-1",)
    assert config.Settings(aliases=("gpt-4o", "gpt-sim-1", "gpt-4o", "o3")).fake_models == ("gpt-sim-1", "gpt-4o", "o3")


def test_setting_explicit_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OAS_TEST_VALUE", raising=False)
    assert config.setting(None, "OAS_TEST_VALUE", "default") == "default"
    monkeypatch.setenv("OAS_TEST_VALUE", "  ")
    assert config.setting(None, "OAS_TEST_VALUE", "default") == "default"  # blank is unset
    monkeypatch.setenv("OAS_TEST_VALUE", " from-env ")
    assert config.setting(None, "OAS_TEST_VALUE", "default") == "from-env"
    assert config.setting("flag", "OAS_TEST_VALUE", "default") == "flag"


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("", False)])
def test_env_flag(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("OAS_TEST_A", "no")
    monkeypatch.setenv("OAS_TEST_B", value)
    assert config.env_flag(None, ("OAS_TEST_A", "OAS_TEST_B")) is expected
    assert config.env_flag(False, ("OAS_TEST_B",)) is False and config.env_flag(True, ()) is True


def test_cache_mb_is_split_among_the_caches_by_their_shares() -> None:
    assert sum(config.CACHE_SHARES.values()) == pytest.approx(1.0)
    settings = config.Settings(cache_mb=100)
    budgets = {cache: settings.cache_bytes(cache) for cache in config.CACHE_SHARES}
    assert sum(budgets.values()) == pytest.approx(100 * 1024 * 1024, abs=len(budgets))
    assert budgets["responses"] == 32 * 1024 * 1024  # the largest share: an eviction there fails a follow-up
    assert budgets["journal"] == 8 * 1024 * 1024
    assert config.Settings().cache_mb == config.DEFAULT_CACHE_MB
