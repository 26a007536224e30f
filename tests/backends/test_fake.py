"""The fake backend: a pure function of the request (properties over generated requests), and its memo."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_api_simulator.config import Settings
from openai_api_simulator.testing import running

CHAT = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "hi"}]}

prompts = st.text(min_size=1, max_size=200).filter(lambda s: s.strip())
requests = st.fixed_dictionaries(
    {
        "model": st.just("gpt-sim-1"),
        "messages": st.lists(
            st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant"]), "content": prompts}),
            min_size=1,
            max_size=3,
        ),
    },
    optional={
        "seed": st.integers(0, 2**31),
        "temperature": st.floats(0, 2),
        "max_tokens": st.integers(1, 60),
        "n": st.integers(1, 3),
    },
)


def _streamed_contents(text: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for block in text.split("\n\n"):
        if block.startswith("data: {"):
            for choice in json.loads(block[6:])["choices"]:
                out[choice["index"]] = out.get(choice["index"], "") + (choice["delta"].get("content") or "")
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=requests)
def test_same_request_same_bytes_and_stream_joins_to_it(http: httpx.Client, body: dict[str, Any]) -> None:
    first = http.post("/v1/chat/completions", json=body)
    second = http.post("/v1/chat/completions", json=body)
    assert first.status_code == 200, first.text
    assert first.content == second.content  # the session server has a fixed `created`
    streamed = _streamed_contents(http.post("/v1/chat/completions", json={**body, "stream": True}).text)
    choices = first.json()["choices"]
    assert streamed == {c["index"]: c["message"]["content"] for c in choices}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=prompts, seed=st.integers(0, 2**31))
def test_a_different_seed_changes_the_answer(http: httpx.Client, prompt: str, seed: int) -> None:
    def answer(s: int) -> str:
        body = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": prompt}], "seed": s}
        return str(http.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"])

    a, b = answer(seed), answer(seed + 1)
    # One-word answers come from a handful of words and may coincide; anything longer must differ.
    assert a != b or len(a.split()) <= 2


def test_repeated_request_is_identical_but_for_the_current_created(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai_api_simulator.api.common as common

    class Clock:
        now = 1000.0

        def time(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(common, "time", clock)
    with running(Settings()) as url, httpx.Client(base_url=url) as http:
        for path, body in [
            ("/chat/completions", CHAT),
            ("/responses", {"model": "gpt-sim-1", "input": "hi"}),
            ("/completions", {"model": "gpt-sim-1", "prompt": "hi"}),
        ]:
            clock.now = 1000.0
            first = http.post(path, json=body).json()
            clock.now = 2000.0
            second = http.post(path, json=body).json()  # answered from the memo
            key = "created_at" if path == "/responses" else "created"
            assert (first[key], second[key]) == (1000, 2000)
            assert {**first, key: 0} == {**second, key: 0}


@pytest.mark.usefixtures("default_cache_sizes")
def test_the_backend_sizes_every_cache_from_cache_mb() -> None:
    from openai_api_simulator.backends.fake import FakeBackend
    from openai_api_simulator.fake import chat, embeddings
    from openai_api_simulator.fake.schema import regex, validate

    settings = Settings(cache_mb=10)
    backend = FakeBackend(settings)
    assert backend.memo.max_bytes == settings.cache_bytes("memo") == int(2.5 * 1024 * 1024)
    assert backend.conversations.max_bytes == settings.cache_bytes("responses")
    # The fake's process-wide caches follow the last server started.
    assert chat.ANSWERS.max_bytes == settings.cache_bytes("answers")
    assert embeddings.VECTORS.max_bytes == settings.cache_bytes("word_vectors")
    assert validate.VALIDATORS.max_bytes == settings.cache_bytes("validators")
    assert regex.PATTERNS.max_bytes == settings.cache_bytes("patterns")
