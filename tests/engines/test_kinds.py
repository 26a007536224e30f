"""Engine kinds: looked up by name, and which kind serves a model spec."""

from __future__ import annotations

import pytest

from openai_api_simulator.engines.kinds import DEFAULT_KIND, engine_for, get_engine, kind_for
from openai_api_simulator.engines.llama import LlamaEngine
from openai_api_simulator.provision import ModelSpecError, default_model_id, get_entry
from tests.support.engines import ExampleEngine, register


def test_known_and_unknown_kinds() -> None:
    assert get_engine("llama.cpp") is LlamaEngine
    assert DEFAULT_KIND == "llama.cpp"
    with pytest.raises(ModelSpecError, match=r"Unknown engine kind 'vllm'; this version knows llama\.cpp"):
        get_engine("vllm")


def test_catalogue_entries_name_their_kind_and_other_specs_go_to_the_default() -> None:
    entry = get_entry(default_model_id())
    assert entry is not None and kind_for(None) == entry.engine == "llama.cpp"
    for spec in ("smollm2-135m", "hf://org/repo/m.gguf", "https://x.example/m.gguf", "./m.gguf", "no-such-model"):
        assert kind_for(spec) == "llama.cpp"


def test_a_registered_kind_claims_its_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    assert kind_for("example://tiny") == "example"
    assert kind_for("hf://org/repo/m.gguf") == "llama.cpp"
    configured = ExampleEngine("--slow-start", "1")
    assert engine_for("example://tiny", {"example": configured}) is configured
    assert isinstance(engine_for("example://tiny", {}), ExampleEngine)  # in its default configuration
    assert isinstance(engine_for("smollm2-135m", {"example": configured}), LlamaEngine)
