"""The generation loop on a scripted model: stops, the calculator, max_tokens, stop strings, whole characters,
sampling; and on a real (small) model: the KV cache equals recomputation, greedy is deterministic."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from openai_api_simulator.engines.nanochat import checkpoint
from openai_api_simulator.engines.nanochat.checkpoint import RawCheckpoint
from openai_api_simulator.engines.nanochat.generate import Delta, Finish, Generator, Sampling, choose
from openai_api_simulator.engines.nanochat.tokenizer import NanochatTokenizer, TiktokenCodec, Turn
from tests.support.nanochat import make_encoding, reference_greedy, write_checkpoint

TOKENIZER = NanochatTokenizer(TiktokenCodec(make_encoding()))
GREEDY = Sampling(temperature=0)
END = TOKENIZER.special("<|assistant_end|>")


@dataclass
class Scripted:
    """A 'model' whose next token is the script's, whatever the input: the loop's logic without a network."""

    script: list[int]
    seen: list[list[int]]
    config: Any = None
    padding: int = 0  # embeddings past the tokenizer, as checkpoints padded to a multiple of 64 have

    def __post_init__(self) -> None:
        self.config = SimpleNamespace(max_position_embeddings=64)

    def __call__(self, *, input_ids: torch.Tensor, cache: Any, use_cache: bool, logits_to_keep: int) -> Any:
        self.seen.append(input_ids[0].tolist())
        step = len(self.seen) - 1
        logits = torch.zeros(TOKENIZER.vocab_size + self.padding)
        if step < len(self.script):
            logits[self.script[step]] = 10.0
        logits[TOKENIZER.vocab_size :] = 100.0  # the padding outscores everything: only masking keeps it out
        return SimpleNamespace(logits=logits[None, None, :])


def run(
    script: list[int], sampling: Sampling = GREEDY, prompt: list[int] | None = None
) -> tuple[str, Finish, Scripted]:
    model = Scripted(script, [])
    generator = Generator(model, TOKENIZER, "cpu", new_cache=lambda: None)
    events = list(generator.stream([TOKENIZER.special("<|bos|>"), 1, 2], sampling))
    finish = events[-1]
    assert isinstance(finish, Finish)
    return "".join(e.text for e in events if isinstance(e, Delta)), finish, model


def ids(text: str) -> list[int]:
    return TOKENIZER.encode(text)


def test_ids_past_the_tokenizer_are_never_chosen() -> None:
    model = Scripted([*ids("hi"), END], [], padding=64)
    generator = Generator(model, TOKENIZER, "cpu", new_cache=lambda: None)
    events = list(generator.stream([TOKENIZER.special("<|bos|>")], GREEDY))
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "hi"
    assert events[-1] == Finish("stop", 1, len(ids("hi")) + 1)


def test_the_answer_ends_at_assistant_end_or_bos_and_neither_is_shown() -> None:
    for end in ("<|assistant_end|>", "<|bos|>"):
        text, finish, _ = run([*ids("Hello there"), TOKENIZER.special(end), *ids("never")])
        assert text == "Hello there" and finish.reason == "stop"
        assert finish.completion_tokens == len(ids("Hello there")) + 1


def test_max_tokens_ends_with_length_and_counts_every_token() -> None:
    text, finish, model = run(ids("abcdefgh"), Sampling(temperature=0, max_tokens=3))
    assert text == "abc" and (finish.reason, finish.completion_tokens, finish.prompt_tokens) == ("length", 3, 3)
    assert len(model.seen) == 3  # the prompt, then two single tokens: no forward for a token never needed


def test_the_calculator_result_is_forced_in_and_fed_to_the_model() -> None:
    python_start, python_end = TOKENIZER.special("<|python_start|>"), TOKENIZER.special("<|python_end|>")
    out_start, out_end = TOKENIZER.special("<|output_start|>"), TOKENIZER.special("<|output_end|>")
    script = [*ids("It is "), python_start, *ids("12*7"), python_end]
    forced_len = 2 + len(ids("84"))
    script += [0] * forced_len + ids(".")  # what the model "wants" while tokens are forced is ignored
    script += [TOKENIZER.special("<|assistant_end|>")]
    text, finish, model = run(script)
    assert text == "It is <|python_start|>12*7<|python_end|><|output_start|>84<|output_end|>."
    fed = [t for step in model.seen[1:] for t in step]
    assert [out_start, *ids("84"), out_end] == fed[len(script) - forced_len - 2 : len(script) - 2]
    assert finish.reason == "stop"


def test_an_expression_the_calculator_refuses_gets_no_output() -> None:
    python_start, python_end = TOKENIZER.special("<|python_start|>"), TOKENIZER.special("<|python_end|>")
    script = [python_start, *ids("__import__('os')"), python_end, *ids("ok"), TOKENIZER.special("<|bos|>")]
    text, _, _ = run(script)
    assert text == "<|python_start|>__import__('os')<|python_end|>ok"


def test_a_stop_string_cuts_before_it_even_across_tokens() -> None:
    text, finish, _ = run(ids("one two three four"), Sampling(temperature=0, stop=("thr", "zz")))
    assert text == "one two " and finish.reason == "stop"
    text, _, _ = run([*ids("one two"), END], Sampling(temperature=0, stop=("two three",)))
    assert text == "one two"  # a held-back partial match is released when it does not complete


def test_characters_split_across_tokens_are_never_shown_in_halves() -> None:
    euro = "€".encode()  # three bytes, three single-byte tokens
    model = Scripted([*euro, *ids("!"), TOKENIZER.special("<|assistant_end|>")], [])
    events = list(Generator(model, TOKENIZER, "cpu", new_cache=lambda: None).stream([1], GREEDY))
    deltas = [e.text for e in events if isinstance(e, Delta)]
    assert deltas == ["€", "!"]


def test_cancelling_stops_at_the_next_token() -> None:
    cancelled = threading.Event()
    model = Scripted(ids("a long answer that goes on"), [])
    stream = Generator(model, TOKENIZER, "cpu", new_cache=lambda: None).stream([1], GREEDY, cancelled)
    first = next(stream)
    cancelled.set()
    rest = list(stream)
    assert isinstance(first, Delta) and rest[-1] == Finish("cancelled", 1, 1)


def test_sampling_respects_top_k_top_p_and_the_seed() -> None:
    logits = torch.tensor([5.0, 4.0, 3.0, -10.0])
    picks = {choose(logits, Sampling(temperature=1.0, top_k=2), torch.Generator().manual_seed(s)) for s in range(200)}
    assert picks == {0, 1}
    nucleus = {
        choose(logits, Sampling(temperature=1.0, top_k=None, top_p=0.5), torch.Generator().manual_seed(s))
        for s in range(50)
    }
    assert nucleus == {0}  # token 0 alone holds more than half the mass
    same = [choose(logits, Sampling(temperature=2.0, top_k=None), torch.Generator().manual_seed(7)) for _ in range(3)]
    assert len(set(same)) == 1
    assert choose(logits, Sampling(temperature=0), None) == 0


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, NanochatTokenizer, Any]:
    folder = tmp_path_factory.mktemp("nanochat")
    ckpt = write_checkpoint(folder / "raw", n_kv_head=2)
    converted = checkpoint.convert(RawCheckpoint(ckpt.model, ckpt.meta, ckpt.tokenizer), folder / "converted")
    model, tokenizer = checkpoint.load(converted, device="cpu", dtype=torch.float32)
    return model, tokenizer, ckpt


def test_cached_greedy_generation_equals_full_recomputation(small: tuple[Any, NanochatTokenizer, Any]) -> None:
    model, tokenizer, ckpt = small
    prompt = tokenizer.render([Turn("system", "Be brief."), Turn("user", "What is the capital of France?")])
    events = list(Generator(model, tokenizer, "cpu").stream(prompt, Sampling(temperature=0, max_tokens=24)))
    finish = events[-1]
    assert isinstance(finish, Finish)
    expected = reference_greedy(ckpt.state, ckpt.config, prompt, 24)
    ends = {tokenizer.special("<|assistant_end|>"), tokenizer.special("<|bos|>")}
    cut = next((i for i, t in enumerate(expected) if t in ends), len(expected))
    assert "".join(e.text for e in events if isinstance(e, Delta)) == tokenizer.decode(expected[:cut])
    again = list(Generator(model, tokenizer, "cpu").stream(prompt, Sampling(temperature=0, max_tokens=24)))
    assert again == events  # greedy: the same bytes every time


def test_a_seed_makes_sampling_reproducible(small: tuple[Any, NanochatTokenizer, Any]) -> None:
    model, tokenizer, _ = small
    prompt = tokenizer.render([Turn("user", "Tell me a story.")])

    def sample(seed: int) -> str:
        events = Generator(model, tokenizer, "cpu").stream(prompt, Sampling(temperature=1.0, seed=seed, max_tokens=16))
        return "".join(e.text for e in events if isinstance(e, Delta))

    assert sample(1) == sample(1)
    assert len({sample(s) for s in range(4)}) > 1
