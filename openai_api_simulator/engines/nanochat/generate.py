"""Generating one nanochat answer: sampling, the calculator tool, stops, and text that never splits a character.

The loop is nanochat's engine (`nanochat/engine.py`) on transformers' model with its KV cache: the prompt is
run once, then one token at a time. A token is sampled (`temperature` 0 is greedy; `top_k` then `top_p` narrow
the choice; a seeded generator makes a seed reproducible) or forced: after `<|python_start|>EXPR<|python_end|>`
the calculator's result is forced in as `<|output_start|>RESULT<|output_end|>` and the model reads it as it was
trained to. Forced and sampled tokens both count against `max_tokens`, as in nanochat. The answer ends at
`<|assistant_end|>` or `<|bos|>` (neither is shown), at a `stop` string (cut before it), at `max_tokens`, at the
end of the context, or when the caller cancels (a client gone).

Text is decoded from all generated tokens at every step and released only up to a point that cannot change:
not while it ends in an incomplete UTF-8 character (nanochat's tokens split characters), and not while its end
could still become a `stop` string.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import torch

from openai_api_simulator.engines.nanochat.calculator import calculate, format_result
from openai_api_simulator.engines.nanochat.tokenizer import NanochatTokenizer

FinishReason = Literal["stop", "length", "cancelled"]
_REPLACEMENT: Final = "\ufffd"


class CausalLM(Protocol):
    """What the loop needs of a model: transformers' causal-LM call with a KV cache."""

    config: Any

    def __call__(self, *, input_ids: torch.Tensor, cache: Any, use_cache: bool, logits_to_keep: int) -> Any: ...


@dataclass(frozen=True)
class Sampling:
    """How to choose tokens; the defaults are nanochat's chat server's."""

    temperature: float = 0.8
    top_k: int | None = 50
    top_p: float | None = None
    max_tokens: int = 512
    seed: int | None = None  # None: a fresh one per request
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finish:
    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


def choose(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> int:
    """The next token from the last position's logits (1-D)."""
    if sampling.temperature == 0 or generator is None:
        return int(torch.argmax(logits))
    scores = logits.float() / sampling.temperature
    if sampling.top_k is not None and sampling.top_k < scores.numel():
        kth = torch.topk(scores, sampling.top_k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if sampling.top_p is not None and sampling.top_p < 1:
        ordered, order = torch.sort(scores, descending=True)
        cumulative = torch.softmax(ordered, dim=-1).cumsum(dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        drop = cumulative - torch.softmax(ordered, dim=-1) >= sampling.top_p
        scores = scores.scatter(0, order[drop], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, num_samples=1, generator=generator))


class _Text:
    """Text released so far, holding back what could still change (see the module docstring)."""

    def __init__(self, tokenizer: NanochatTokenizer, stop: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.ids: list[int] = []
        self.released = 0  # characters of the decoded text already handed out
        self.stopped = False

    def add(self, token: int) -> str:
        self.ids.append(token)
        return self._release(final=False)

    def finish(self) -> str:
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        text = self.tokenizer.decode(self.ids)
        end = len(text)
        for stop in self.stop:
            found = text.find(stop, max(0, self.released - len(stop)))
            if found != -1 and found < end:
                end, self.stopped = found, True
        if not self.stopped and not final:
            if text.endswith(_REPLACEMENT):  # an incomplete character: wait for the rest of its bytes
                end = len(text.rstrip(_REPLACEMENT))
            for stop in self.stop:  # the end might be the beginning of a stop string
                for n in range(min(len(stop) - 1, end), 0, -1):
                    if text[end - n : end] == stop[:n]:
                        end -= n
                        break
        if end <= self.released:
            return ""
        piece, self.released = text[self.released : end], end
        return piece


class Generator:
    """Answers prompts with one model, one at a time (the caller serialises requests)."""

    def __init__(
        self,
        model: CausalLM,
        tokenizer: NanochatTokenizer,
        device: str,
        new_cache: Callable[[], Any] | None = None,  # tests hand in their own; transformers' DynamicCache else
    ) -> None:
        self.model = model
        self._new_cache = new_cache or self._dynamic_cache
        self.tokenizer = tokenizer
        self.device = device
        self.context = int(model.config.max_position_embeddings)
        # Checkpoints pad the embedding past the tokenizer (to a multiple of 64, say): ids up there have no text and
        # are never chosen.
        self.vocab = tokenizer.vocab_size
        ids = tokenizer.ids
        self._ends = {ids["<|assistant_end|>"], ids["<|bos|>"]}
        self._python = (ids["<|python_start|>"], ids["<|python_end|>"])
        self._output = (ids["<|output_start|>"], ids["<|output_end|>"])

    def _dynamic_cache(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def _forward(self, ids: list[int], cache: Any) -> torch.Tensor:
        tensor = torch.tensor([ids], dtype=torch.long, device=self.device)
        out = self.model(input_ids=tensor, cache=cache, use_cache=True, logits_to_keep=1)
        logits: torch.Tensor = out.logits[0, -1, : self.vocab]
        return logits

    @torch.inference_mode()
    def stream(
        self, prompt: Sequence[int], sampling: Sampling, cancelled: threading.Event | None = None
    ) -> Iterator[Delta | Finish]:
        """The answer to `prompt` as text deltas, then one `Finish`."""
        budget = min(sampling.max_tokens, self.context - len(prompt))
        generator: torch.Generator | None = None
        if sampling.temperature > 0:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(sampling.seed if sampling.seed is not None else secrets.randbits(63))
        cache = self._new_cache()
        text = _Text(self.tokenizer, sampling.stop)
        forced: deque[int] = deque()
        expression: list[int] | None = None  # tokens inside <|python_start|> … <|python_end|>
        logits = self._forward(list(prompt), cache)
        generated = 0
        reason: FinishReason = "length"
        while generated < budget:
            if cancelled is not None and cancelled.is_set():
                reason = "cancelled"
                break
            token = forced.popleft() if forced else choose(logits, sampling, generator)
            generated += 1
            if token in self._ends:
                reason = "stop"
                break
            if token == self._python[0]:
                expression = []
            elif token == self._python[1] and expression is not None:
                value = calculate(self.tokenizer.decode(expression)) if expression else None
                if value is not None:
                    forced.extend([self._output[0], *self.tokenizer.encode(format_result(value)), self._output[1]])
                expression = None
            elif expression is not None:
                expression.append(token)
            piece = text.add(token)
            if piece:
                yield Delta(piece)
            if text.stopped:
                reason = "stop"
                break
            if generated < budget:
                logits = self._forward([token], cache)
        rest = text.finish()
        if rest:
            yield Delta(rest)
        yield Finish(reason, len(prompt), generated)
