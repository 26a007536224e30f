"""nanochat checkpoints: the raw layout turned, once, into the layout transformers loads, and loaded from it.

The raw layout (karpathy/nanochat's checkpoint manager, as `sdobson/nanochat` publishes it): `model_<step>.pt` is
`torch.save` of the GPT's state dict (the embedding in bf16, the other matrices fp32 `[out, in]`, no biases,
sometimes behind torch.compile's `_orig_mod.` prefix), `meta_<step>.json` holds a `model_config` dict
(`sequence_len`, `vocab_size`, `n_layer`, `n_head`, `n_kv_head`, `n_embd`), `tokenizer.pkl` the tokenizer.

transformers (>= 5.0) has the same architecture as `NanoChatForCausalLM`; what differs is the key names and a
few config values that must be set (the defaults are wrong for nanochat): the MLP is `4 * n_embd` wide, the
RMSNorm epsilon is float32's (what `F.rms_norm` uses when given none), generation ends at `<|assistant_end|>`
or `<|bos|>`. `convert` writes `config.json` and `model.safetensors` beside a copy of the tokenizer, so every
later start memory-maps the weights instead of unpickling 2 GB; the converted folder appears whole (it is
staged and renamed) or not at all.

Nothing from the download is executed: the `.pt` file is read with `torch.load(weights_only=True)`, which
admits tensors and plain containers only; the tokenizer with `tokenizer.load_encoding`'s restricted unpickler.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import torch
from safetensors.torch import save_file
from transformers import NanoChatConfig, NanoChatForCausalLM

from openai_api_simulator.engines.nanochat.tokenizer import NanochatTokenizer

CONFIG: Final = "config.json"
WEIGHTS: Final = "model.safetensors"
TOKENIZER: Final = "tokenizer.pkl"
# Written last into a converted folder: what it was made from (so a stale conversion is recognisable).
MARKER: Final = "conversion.json"
# nanochat's RoPE base (`_precompute_rotary_embeddings(base=10000)`).
ROPE_THETA: Final = 10000.0
# nanochat's logit soft-cap: 15 * tanh(logits / 15).
SOFTCAP: Final = 15.0
_MODEL_KEYS: Final = ("sequence_len", "vocab_size", "n_layer", "n_head", "n_kv_head", "n_embd")
_LAYER_KEY: Final = re.compile(
    r"^transformer\.h\.(\d+)\.(attn\.c_q|attn\.c_k|attn\.c_v|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$"
)
_LAYER_RENAMES: Final = {
    "attn.c_q": "self_attn.q_proj",
    "attn.c_k": "self_attn.k_proj",
    "attn.c_v": "self_attn.v_proj",
    "attn.c_proj": "self_attn.o_proj",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}


class CheckpointError(ValueError):
    """A checkpoint that is not nanochat's, or not whole; the message names the file."""


@dataclass(frozen=True)
class RawCheckpoint:
    """The three files of the raw layout that inference needs."""

    model: Path  # model_<step>.pt
    meta: Path  # meta_<step>.json
    tokenizer: Path  # tokenizer.pkl


def model_config(meta_path: Path) -> dict[str, int]:
    """The `model_config` of a `meta_<step>.json`, checked."""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"Cannot read {meta_path} as JSON ({exc}).") from None
    config = meta.get("model_config") if isinstance(meta, dict) else None
    if not isinstance(config, dict) or any(type(config.get(k)) is not int or config[k] <= 0 for k in _MODEL_KEYS):
        raise CheckpointError(f"{meta_path} has no model_config with positive integers {', '.join(_MODEL_KEYS)}.")
    if config["n_embd"] % config["n_head"] or config["n_head"] % config["n_kv_head"]:
        raise CheckpointError(f"{meta_path}: n_embd must divide by n_head, and n_head by n_kv_head.")
    return {k: int(config[k]) for k in _MODEL_KEYS}


def hf_config(config: Mapping[str, int], tokenizer: NanochatTokenizer) -> NanoChatConfig:
    """The transformers config that makes `NanoChatForCausalLM` compute nanochat's forward pass."""
    if tokenizer.vocab_size > config["vocab_size"]:
        raise CheckpointError(
            f"The tokenizer has {tokenizer.vocab_size} tokens but the model only {config['vocab_size']} embeddings."
        )
    bos, end = tokenizer.special("<|bos|>"), tokenizer.special("<|assistant_end|>")
    return NanoChatConfig(
        vocab_size=config["vocab_size"],
        hidden_size=config["n_embd"],
        intermediate_size=4 * config["n_embd"],
        num_hidden_layers=config["n_layer"],
        num_attention_heads=config["n_head"],
        num_key_value_heads=config["n_kv_head"],
        max_position_embeddings=config["sequence_len"],
        hidden_act="relu2",
        rms_norm_eps=float(torch.finfo(torch.float32).eps),
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        final_logit_softcapping=SOFTCAP,
        attention_bias=False,
        tie_word_embeddings=False,
        bos_token_id=bos,
        eos_token_id=[end, bos],
        pad_token_id=bos,
    )


def rename(state: Mapping[str, torch.Tensor], n_layer: int) -> dict[str, torch.Tensor]:
    """nanochat's state-dict keys → transformers' (`FACTS.md` has the mapping); every key accounted for."""
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        name = key.removeprefix("_orig_mod.")
        if name == "transformer.wte.weight":
            target = "model.embed_tokens.weight"
        elif name == "lm_head.weight":
            target = "lm_head.weight"
        elif (match := _LAYER_KEY.match(name)) is not None and int(match.group(1)) < n_layer:
            target = f"model.layers.{match.group(1)}.{_LAYER_RENAMES[match.group(2)]}.weight"
        else:
            raise CheckpointError(f"unexpected tensor {key!r} in a nanochat checkpoint of {n_layer} layers")
        renamed[target] = tensor
    return renamed


def _check_shapes(weights: Mapping[str, torch.Tensor], config: NanoChatConfig, origin: Path) -> None:
    with torch.device("meta"):
        expected = {k: v.shape for k, v in NanoChatForCausalLM(config).state_dict().items()}
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise CheckpointError(f"{origin} lacks {len(missing)} tensor(s), e.g. {missing[0]}")
    for key, shape in expected.items():
        if weights[key].shape != shape:
            raise CheckpointError(f"{origin}: {key} has shape {tuple(weights[key].shape)}, expected {tuple(shape)}")


def _stored(tensor: torch.Tensor) -> torch.Tensor:
    """Every weight in float32, the raw layout's precision for all but the (bf16) embedding; widening is exact.

    One dtype on disk keeps loading all-or-nothing: in float32 every tensor stays a view of the memory-mapped
    file (paged in lazily, shared with the page cache); in bfloat16 every tensor is converted and the mapping is
    released. A bf16 embedding on disk would stay a view in a bf16 load and pin the whole 2 GB mapping (safetensors
    maps the file once), whose pages loading has read: 3.1 GB resident instead of 1.5.
    """
    return (tensor.to(torch.float32) if tensor.is_floating_point() else tensor).contiguous()


def convert(raw: RawCheckpoint, target: Path) -> Path:
    """Write `target` (config, safetensors weights, tokenizer) from the raw layout; `target` when already there.

    Staged in a sibling folder and renamed into place, so an interrupted conversion leaves nothing half-written
    under the final name, and two conversions racing each other both end with one whole folder.
    """
    if (target / MARKER).is_file():
        return target
    tokenizer = NanochatTokenizer.from_file(raw.tokenizer)
    config = model_config(raw.meta)
    hf = hf_config(config, tokenizer)
    try:
        # weights_only: tensors and containers only, never code; mmap: the file is not read into memory twice.
        state = torch.load(raw.model, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises several kinds for a file that is not a weights-only checkpoint
        raise CheckpointError(f"Cannot load {raw.model} as a weights-only PyTorch checkpoint ({exc}).") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{raw.model} is not a state dict of tensors.")
    weights = rename(state, config["n_layer"])
    _check_shapes(weights, hf, raw.model)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}-{secrets.token_hex(4)}")
    staging.mkdir()
    try:
        save_file({k: _stored(v) for k, v in weights.items()}, str(staging / WEIGHTS), metadata={"format": "pt"})
        hf.to_json_file(str(staging / CONFIG))
        shutil.copyfile(raw.tokenizer, staging / TOKENIZER)
        record = {"model": raw.model.name, "meta": raw.meta.name, "model_config": config}
        (staging / MARKER).write_text(json.dumps(record, indent=2) + "\n")
        if target.exists() and not (target / MARKER).is_file():
            # What an interrupted conversion of an older version left: set it aside, never trust it.
            stale = target.with_name(f".{target.name}.stale-{secrets.token_hex(4)}")
            os.rename(target, stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / MARKER).is_file():  # not another run's finished conversion: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def tokenizer_file(model_dir: Path) -> Path:
    """The folder's tokenizer: nanochat's `tokenizer.pkl`, else a Hugging Face `tokenizer.json`."""
    for name in (TOKENIZER, "tokenizer.json"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise CheckpointError(f"{model_dir} has neither {TOKENIZER} nor tokenizer.json.")


def load(model_dir: Path, *, device: str, dtype: torch.dtype) -> tuple[Any, NanochatTokenizer]:
    """The model (in eval mode, on `device`, in `dtype`) and tokenizer of a converted or Hugging Face folder."""
    tokenizer = NanochatTokenizer.from_file(tokenizer_file(model_dir))
    config = json.loads((model_dir / CONFIG).read_text())
    if config.get("model_type") != "nanochat":
        raise CheckpointError(
            f"{model_dir / CONFIG} is not a nanochat config (model_type {config.get('model_type')!r})."
        )
    # transformers' own annotations of from_pretrained do not type-check under strict mypy.
    model: Any = cast(Any, NanoChatForCausalLM).from_pretrained(str(model_dir), dtype=dtype)
    model.to(device)
    model.eval()
    return model, tokenizer


def state_summary(model: Any) -> str:
    """`20 layers, 1280 wide, 65,536 tokens` for the start-up log."""
    c = model.config
    return f"{c.num_hidden_layers} layers, {c.hidden_size} wide, {c.vocab_size:,} tokens"
