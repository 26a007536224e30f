"""Converting the raw layout once, loading it, and the converted model computing nanochat's forward pass."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from openai_api_simulator.engines.nanochat import checkpoint
from openai_api_simulator.engines.nanochat.checkpoint import CheckpointError, RawCheckpoint
from tests.support.nanochat import Checkpoint, reference_logits, write_checkpoint


def raw(ckpt: Checkpoint) -> RawCheckpoint:
    return RawCheckpoint(model=ckpt.model, meta=ckpt.meta, tokenizer=ckpt.tokenizer)


@pytest.mark.parametrize("compiled", [False, True])
def test_the_converted_model_computes_nanochats_logits(tmp_path: Path, compiled: bool) -> None:
    ckpt = write_checkpoint(tmp_path / "raw", n_kv_head=2, compiled=compiled)
    folder = checkpoint.convert(raw(ckpt), tmp_path / "converted")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["config.json", "conversion.json", "model.safetensors", "tokenizer.pkl"]
    config = json.loads((folder / "config.json").read_text())
    assert config["intermediate_size"] == 4 * 64 and config["rms_norm_eps"] == torch.finfo(torch.float32).eps
    model, tokenizer = checkpoint.load(folder, device="cpu", dtype=torch.float32)
    ids = [tokenizer.special("<|bos|>"), *tokenizer.encode("the cat sat on the mat, then it ran"), 5, 77]
    with torch.inference_mode():
        ours = model(input_ids=torch.tensor([ids])).logits[0].float()
    expected = reference_logits(ckpt.state, ckpt.config, ids)
    assert ours.shape == expected.shape == (len(ids), ckpt.config["vocab_size"])
    assert torch.allclose(ours, expected, atol=2e-4), (ours - expected).abs().max()
    assert (ours.argmax(-1) == expected.argmax(-1)).all()


def mapped(path: Path) -> bool:
    """Whether this process has `path` memory-mapped (Linux: /proc/self/maps)."""
    return any(line.rstrip().endswith(str(path)) for line in Path("/proc/self/maps").read_text().splitlines())


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads Linux's /proc/self/maps")
def test_weights_are_stored_in_one_dtype_so_a_bf16_load_keeps_no_mapping(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "raw")
    assert ckpt.state["transformer.wte.weight"].dtype == torch.bfloat16  # as nanochat saves its embedding
    folder = checkpoint.convert(raw(ckpt), tmp_path / "converted")
    weights = folder / "model.safetensors"
    with safe_open(str(weights), framework="pt") as stored:
        dtypes = {stored.get_slice(k).get_dtype() for k in stored.keys()}  # noqa: SIM118 (not iterable)
    assert dtypes == {"F32"}
    model, _ = checkpoint.load(folder, device="cpu", dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert not mapped(weights)  # every tensor converted: nothing pins the file's pages
    model32, _ = checkpoint.load(folder, device="cpu", dtype=torch.float32)
    assert mapped(weights)  # float32 weights are the mapping itself, paged in as read
    del model, model32


def test_conversion_happens_once_and_appears_whole(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "raw")
    target = tmp_path / "converted"
    checkpoint.convert(raw(ckpt), target)
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    checkpoint.convert(raw(ckpt), target)
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp  # the second call reused it
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text("{}")  # an interrupted conversion without the marker is not trusted
    checkpoint.convert(raw(ckpt), half)
    assert (half / "conversion.json").is_file() and (half / "model.safetensors").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_checkpoint_with_foreign_or_missing_tensors_is_refused(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "raw")
    state = dict(ckpt.state)
    state["transformer.h.0.attn.c_q.bias"] = torch.zeros(64)
    torch.save(state, ckpt.model)
    with pytest.raises(CheckpointError, match=r"unexpected tensor 'transformer\.h\.0\.attn\.c_q\.bias'"):
        checkpoint.convert(raw(ckpt), tmp_path / "a")
    del state["transformer.h.0.attn.c_q.bias"], state["lm_head.weight"]
    torch.save(state, ckpt.model)
    with pytest.raises(CheckpointError, match="lacks 1 tensor"):
        checkpoint.convert(raw(ckpt), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned > /tmp/should-not-exist",))


def test_the_weights_file_is_never_unpickled_freely(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "raw")
    ckpt.model.write_bytes(pickle.dumps({"transformer.wte.weight": Boom()}))
    with pytest.raises(CheckpointError, match="weights-only"):
        checkpoint.convert(raw(ckpt), tmp_path / "converted")
    assert not Path("/tmp/should-not-exist").exists()


def test_a_bad_meta_file_is_named(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "raw")
    ckpt.meta.write_text(json.dumps({"model_config": {"n_layer": 2}}))
    with pytest.raises(CheckpointError, match=rf"{ckpt.meta.name} has no model_config"):
        checkpoint.convert(raw(ckpt), tmp_path / "converted")
