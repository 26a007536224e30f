"""Small nanochat checkpoints in the exact layout `sdobson/nanochat` publishes, and an independent forward pass.

`write_checkpoint` writes `model_<step>.pt` (the state dict as nanochat's checkpoint manager saves it: the
embedding in bf16, the other matrices fp32 `[out, in]`, no biases), `meta_<step>.json` (with `model_config`),
`tokenizer.pkl` (a pickled tiktoken Encoding: the 256 bytes, a few merges, then nanochat's nine special tokens at
the top ids) and `token_bytes.pt`. `reference_logits` is nanochat's forward pass written here from its
architecture (`FACTS.md`: RoPE base 10000, QK RMSNorm after RoPE, weightless RMSNorms after the embedding,
before attention and MLP and before the head, ReLU² MLP, untied head, logits soft-capped at 15·tanh(x/15)) - not
by calling transformers, so a test comparing the engine with it checks the conversion as well as the engine.
"""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import tiktoken
import torch
import torch.nn.functional as F

from openai_api_simulator.engines.nanochat.tokenizer import SPECIAL_TOKENS

# nanochat's split pattern (GPT-4's, with numbers split in ones and twos).
SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
)
# Merges over the 256 byte tokens; each is made of tokens with lower ranks, as BPE training would leave them.
MERGES = (b"th", b"he", b"in", b"er", b"an", b" t", b"the", b" the", b"re", b"on", b"at", b"en", b"nd", b"is", b" a")


def make_encoding(vocab_size: int | None = None) -> tiktoken.Encoding:
    """The 256 bytes, `MERGES` (or, for `vocab_size`, two-byte tokens up to that size), then the nine specials."""
    ranks = {bytes([i]): i for i in range(256)}
    if vocab_size is None:
        merges: list[bytes] = list(MERGES)
    else:  # every pair of two bytes is a valid merge of two lower ranks; as many as the size asks for
        merges = [bytes([a, b]) for a in range(256) for b in range(256)][: vocab_size - 256 - len(SPECIAL_TOKENS)]
    for merge in merges:
        ranks[merge] = len(ranks)
    specials = {name: len(ranks) + i for i, name in enumerate(SPECIAL_TOKENS)}
    return tiktoken.Encoding(name="rustbpe", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens=specials)


@dataclass(frozen=True)
class Checkpoint:
    folder: Path
    model: Path
    meta: Path
    tokenizer: Path
    token_bytes: Path
    config: dict[str, int]
    state: dict[str, torch.Tensor]


def nanochat_state(config: dict[str, int], seed: int) -> dict[str, torch.Tensor]:
    """Random weights under nanochat's key names, shapes and dtypes (scaled like its init, head not zeroed)."""
    generator = torch.Generator().manual_seed(seed)
    c, v = config["n_embd"], config["vocab_size"]
    kv = config["n_kv_head"] * (c // config["n_head"])

    def matrix(rows: int, cols: int) -> torch.Tensor:
        return torch.randn(rows, cols, generator=generator) / math.sqrt(cols)

    state = {"transformer.wte.weight": torch.randn(v, c, generator=generator).to(torch.bfloat16)}
    for i in range(config["n_layer"]):
        prefix = f"transformer.h.{i}."
        state[prefix + "attn.c_q.weight"] = matrix(c, c)
        state[prefix + "attn.c_k.weight"] = matrix(kv, c)
        state[prefix + "attn.c_v.weight"] = matrix(kv, c)
        state[prefix + "attn.c_proj.weight"] = matrix(c, c)
        state[prefix + "mlp.c_fc.weight"] = matrix(4 * c, c)
        state[prefix + "mlp.c_proj.weight"] = matrix(c, 4 * c)
    state["lm_head.weight"] = matrix(v, c) * 4  # a peaky head, so greedy choices are well separated
    return state


def write_checkpoint(
    folder: Path,
    *,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_kv_head: int = 4,
    sequence_len: int = 256,
    step: int = 650,
    seed: int = 0,
    compiled: bool = False,
    vocab_size: int | None = None,  # None: a tokenizer of a few hundred tokens; 65536 for the real d20 size
) -> Checkpoint:
    """The four files of the raw layout under `folder`; `compiled` puts torch.compile's `_orig_mod.` prefix on keys.

    The defaults make a model of a few hundred KB; `benchmarks/nanochat.py` writes the real d20 shape with them.
    """
    encoding = make_encoding(vocab_size)
    config = {
        "sequence_len": sequence_len,
        "vocab_size": encoding.n_vocab,
        "n_layer": n_layer,
        "n_head": n_head,
        "n_kv_head": n_kv_head,
        "n_embd": n_embd,
    }
    state = nanochat_state(config, seed)
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"model_{step:06d}.pt"
    torch.save({("_orig_mod." + k if compiled else k): t for k, t in state.items()}, model)
    meta = folder / f"meta_{step:06d}.json"
    meta.write_text(json.dumps({"step": step, "val_loss": 1.0, "model_config": config}, indent=2))
    tokenizer = folder / "tokenizer.pkl"
    tokenizer.write_bytes(pickle.dumps(encoding))
    token_bytes = folder / "token_bytes.pt"
    lengths = [len(encoding.decode_single_token_bytes(i)) for i in range(encoding.n_vocab - len(SPECIAL_TOKENS))]
    torch.save(torch.tensor(lengths + [0] * len(SPECIAL_TOKENS), dtype=torch.int32), token_bytes)
    return Checkpoint(folder, model, meta, tokenizer, token_bytes, config, state)


def _norm(x: torch.Tensor) -> torch.Tensor:
    return F.rms_norm(x, (x.size(-1),))


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos], dim=-1)


@torch.inference_mode()
def reference_logits(state: dict[str, torch.Tensor], config: dict[str, int], ids: list[int]) -> torch.Tensor:
    """Logits `[len(ids), vocab]` of nanochat's forward pass, in fp32, no KV cache."""
    w = {k: t.float() for k, t in state.items()}
    n_head, n_kv = config["n_head"], config["n_kv_head"]
    head = config["n_embd"] // n_head
    t = len(ids)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head, 2, dtype=torch.float32) / head))
    freqs = torch.outer(torch.arange(t, dtype=torch.float32), inv_freq)
    cos, sin = freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]
    x = _norm(w["transformer.wte.weight"][torch.tensor(ids)][None])
    for i in range(config["n_layer"]):
        p = f"transformer.h.{i}."
        h = _norm(x)
        q = (h @ w[p + "attn.c_q.weight"].T).view(1, t, n_head, head)
        k = (h @ w[p + "attn.c_k.weight"].T).view(1, t, n_kv, head)
        v = (h @ w[p + "attn.c_v.weight"].T).view(1, t, n_kv, head)
        q, k = _norm(_rotate(q, cos, sin)), _norm(_rotate(k, cos, sin))
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if n_kv != n_head:
            k, v = (z.repeat_interleave(n_head // n_kv, dim=1) for z in (k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(1, t, -1)
        x = x + y @ w[p + "attn.c_proj.weight"].T
        m = F.relu(_norm(x) @ w[p + "mlp.c_fc.weight"].T).square()
        x = x + m @ w[p + "mlp.c_proj.weight"].T
    logits = _norm(x) @ w["lm_head.weight"].T
    return (15 * torch.tanh(logits / 15))[0]


def reference_greedy(state: dict[str, torch.Tensor], config: dict[str, int], ids: list[int], steps: int) -> list[int]:
    """Greedy tokens by full recomputation at every step (what a KV-cached engine must reproduce)."""
    out = list(ids)
    for _ in range(steps):
        out.append(int(reference_logits(state, config, out)[-1].argmax()))
    return out[len(ids) :]
