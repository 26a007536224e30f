"""`fake.embeddings`: unit vectors, deterministic, similar for shared words, shortened by prefix."""

from __future__ import annotations

import math

import pytest

from openai_api_simulator.fake.embeddings import embed

MODEL = "text-embedding-3-small"


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


@pytest.mark.parametrize("text", ["hello", "the cat sat on the mat", "", "  ", "数字 and ünïcode", "a " * 300])
def test_vectors_have_unit_norm_and_the_asked_dimensions(text: str) -> None:
    for dims in (1, 8, 256):
        v = embed(text, dims, MODEL)
        assert len(v) == dims
        assert norm(v) == pytest.approx(1.0, abs=1e-9)


def test_embedding_is_deterministic_per_text_and_model() -> None:
    v = embed("retrieval augmented generation", 64, MODEL)
    assert embed("retrieval augmented generation", 64, MODEL) == v
    assert embed("retrieval augmented generation", 64, "text-embedding-3-large") != v
    assert embed("retrieval augmented generations", 64, MODEL) != v


def test_texts_sharing_words_are_closer_than_unrelated_ones() -> None:
    query = embed("how do I reset my password", 256, MODEL)
    related = embed("reset your password from the settings page", 256, MODEL)
    unrelated = embed("volcanic eruptions shape island chains", 256, MODEL)
    assert cosine(query, related) > cosine(query, unrelated) + 0.2
    # Case only changes the small whole-text component.
    assert cosine(embed("Reset Password", 256, MODEL), embed("reset password", 256, MODEL)) > 0.8


def test_a_shortened_vector_is_the_renormalised_prefix_of_the_full_one() -> None:
    text = "the quick brown fox"
    full = embed(text, 512, MODEL)
    for dims in (3, 64, 256):
        prefix = full[:dims]
        scale = norm(prefix)
        assert embed(text, dims, MODEL) == pytest.approx([x / scale for x in prefix], abs=1e-12)
