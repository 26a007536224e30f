"""POST /v1/embeddings through the official `openai` SDK."""

from __future__ import annotations

import math

import openai
import pytest


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_unit_norm_deterministic_and_similar(client: openai.OpenAI) -> None:
    texts = ["the cat sat on the mat", "the cat sat on a mat", "quarterly revenue grew strongly"]
    r = client.embeddings.create(model="gpt-sim-1", input=texts, encoding_format="float")
    vectors = [d.embedding for d in r.data]
    assert [d.index for d in r.data] == [0, 1, 2]
    assert all(len(v) == 1536 for v in vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-6 for v in vectors)
    assert _cos(vectors[0], vectors[1]) > _cos(vectors[0], vectors[2]) + 0.3
    again = client.embeddings.create(model="gpt-sim-1", input=texts[0], encoding_format="float")
    assert again.data[0].embedding == vectors[0]
    assert r.usage.prompt_tokens == r.usage.total_tokens > 0


def test_embeddings_base64_dimensions_and_tokens(client: openai.OpenAI) -> None:
    # The SDK asks for base64 by default and decodes it into floats.
    full = client.embeddings.create(model="gpt-sim-1", input="hello world", encoding_format="float")
    short = client.embeddings.create(model="gpt-sim-1", input="hello world", dimensions=256)
    assert len(short.data[0].embedding) == 256
    prefix = full.data[0].embedding[:256]
    norm = math.sqrt(sum(x * x for x in prefix))
    assert short.data[0].embedding == pytest.approx([x / norm for x in prefix], abs=1e-6)
    tokens = client.embeddings.create(model="gpt-sim-1", input=[[1, 2, 3], [4, 5]])
    assert len(tokens.data) == 2 and tokens.usage.prompt_tokens == 5
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="gpt-sim-1", input="")
