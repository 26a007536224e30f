"""`fake.text`: topic words, answer length from the prompt, and deterministic, well-formed prose."""

from __future__ import annotations

import re

import pytest

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.text import generate_text, target_tokens, topic_words
from openai_api_simulator.fake.tokens import count_tokens

SEEDS = [f"seed-{k}" for k in range(40)]


def test_topic_words_are_distinct_lowercase_content_words_in_order() -> None:
    prompt = "Please explain how the Rust borrow checker and the BORROW rules work, in 2024 or so"
    assert topic_words(prompt) == ["rust", "borrow", "checker", "rules", "work"]
    assert topic_words(prompt, limit=2) == ["rust", "borrow"]
    assert topic_words("tell me what you know, and why") == []


@pytest.mark.parametrize(
    ("prompt", "lo", "hi"),
    [
        ("Answer in one word: which planet is largest?", 1, 3),
        ("Yes or no: is water wet?", 1, 3),
        ("Summarise the plot in a single sentence.", 8, 18),
        ("tl;dr of the meeting please", 8, 18),
        ("Briefly, what is a river?", 15, 35),
        ("Explain compilers in detail, step by step.", 160, 320),
        ("What is a river?", 40, 90),
        ("Which shortcut copies text?", 40, 90),  # "short" only as a whole word
        ("One word, then in detail", 1, 3),  # the first rule that matches wins
    ],
)
def test_target_tokens_follows_what_the_prompt_asks_for(prompt: str, lo: int, hi: int) -> None:
    targets = {target_tokens(prompt, Rng(seed)) for seed in SEEDS}
    assert min(targets) >= lo and max(targets) <= hi
    assert len(targets) > 1  # drawn from the range, not a constant


def test_target_tokens_grow_with_the_prompt_up_to_sixty() -> None:
    base = target_tokens("x", Rng("s"))
    assert target_tokens("x" * 400, Rng("s")) == base + 10
    assert target_tokens("x" * 2400, Rng("s")) == base + 60
    assert target_tokens("x" * 10_000, Rng("s")) == base + 60


def test_generate_text_is_a_function_of_the_rng_seed_and_prompt() -> None:
    prompt = "How do gardens change across a season?"
    text = generate_text(Rng("a"), prompt)
    assert generate_text(Rng("a"), prompt) == text
    assert generate_text(Rng("b"), prompt) != text
    assert generate_text(Rng("a"), "How do bridges carry weight?") != text
    # Only the seed matters, not draws already taken from the stream (the text uses forks).
    used = Rng("a")
    used.random()
    assert generate_text(used, prompt) == text


@pytest.mark.parametrize("seed", SEEDS[:10])
def test_prose_is_paragraphs_of_full_sentences(seed: str) -> None:
    text = generate_text(Rng(seed), "Describe the history of the harbor in detail")
    assert text.endswith(".") and not text.startswith(" ")
    paragraphs = text.split("\n\n")
    assert len(paragraphs) > 1
    for k, paragraph in enumerate(paragraphs):
        sentences = paragraph.split(". ")
        assert all(re.fullmatch(r"[A-Z][a-z]*[ ,][a-z ,]+\.?", s) for s in sentences), paragraph
        if k < len(paragraphs) - 1:
            assert 3 <= len(sentences) <= 5


def test_articles_agree_with_the_next_word() -> None:
    for seed in SEEDS:
        text = generate_text(Rng(seed), "Tell me about apples, owls and umbrellas in detail").lower()
        assert not re.search(r"\ba [aeiou]", text) and not re.search(r"\ban [^aeiou]", text), text


def test_an_explicit_target_sets_the_length() -> None:
    for target in (20, 60, 200):
        tokens = count_tokens(generate_text(Rng("t"), "What is a river?", target))
        assert target * 0.7 <= tokens <= target + 40, (target, tokens)


def test_topic_words_of_the_prompt_appear_in_a_long_answer() -> None:
    prompt = "Explain volcanoes and glaciers in detail"
    text = generate_text(Rng("t"), prompt)
    assert "volcanoes" in text and "glaciers" in text


def test_a_one_word_answer_is_one_capitalised_word() -> None:
    answers = {generate_text(Rng(seed), "Yes or no: do penguins fly?") for seed in SEEDS}
    assert all(re.fullmatch(r"[A-Z][a-z]*\.", a) for a in answers), answers
    assert "Penguins." in answers and len(answers) > 2
