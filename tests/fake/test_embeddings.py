"""`fake.embeddings`: unit vectors, deterministic, similar for shared words, shortened by prefix."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from openai_api_simulator.fake.embeddings import VECTORS, embed
from tests.support.memory import held_bytes

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


def test_the_vectors_are_the_same_numbers_as_before_they_were_stored_compactly() -> None:
    # The digest of these vectors as the fake drew them when it cached tuples of Python floats (commit 6fec590):
    # storing the draws as float64 arrays must not change a bit of any answer.
    digest = hashlib.sha256()
    for dims in (1, 7, 256, 1536, 3072):
        for text in [
            "hello",
            "the cat sat on the mat",
            "",
            "  ",
            "数字 and ünïcode",
            "a " * 300,
            "Hello, hello: HELLO!",
        ]:
            digest.update(json.dumps(embed(text, dims, MODEL)).encode())
    assert digest.hexdigest() == "dd4dc29992ee408005dd280b924c57340a726f9ffcf23f1fe0e49cb314debc32"
    assert embed("the cat sat on the mat", 4, MODEL) == [
        -0.3501576865972412,
        0.6723792455207896,
        0.6511454258872346,
        -0.036130029835216265,
    ]


@pytest.mark.usefixtures("default_cache_sizes")
def test_the_draws_cache_is_bounded_by_bytes() -> None:
    VECTORS.resize(0)  # empty it
    VECTORS.resize(300_000)
    v = embed(" ".join(f"word{i}" for i in range(500)), 256, MODEL)  # 501 draws of 2 KB: 1 MB unbounded
    assert VECTORS.nbytes <= 300_000
    assert 80 < len(VECTORS) < 150  # about 2.3 KB each
    assert embed(" ".join(f"word{i}" for i in range(500)), 256, MODEL) == v  # recomputed, the same


@pytest.mark.usefixtures("default_cache_sizes")
def test_the_draws_cache_counts_what_it_holds() -> None:
    VECTORS.resize(0)
    VECTORS.resize(10_000_000)
    held = held_bytes(lambda: [embed(f"distinct{i} term{i}", 1536, MODEL) for i in range(100)])
    # 300 vectors (two words and the whole text, per text) of 12 KB: 8 bytes a component, as counted.
    assert held <= VECTORS.nbytes <= 1.2 * held
