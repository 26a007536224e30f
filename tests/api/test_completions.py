"""POST /v1/completions (legacy) through the official `openai` SDK."""

from __future__ import annotations

import openai


def test_legacy_completions(client: openai.OpenAI) -> None:
    r = client.completions.create(model="gpt-sim-1", prompt="Once upon a time")
    assert r.object == "text_completion"
    assert r.choices[0].finish_reason == "length"  # OpenAI's default max_tokens for this endpoint is 16
    assert r.usage is not None and r.usage.completion_tokens == 16
    long = client.completions.create(model="gpt-sim-1", prompt="Once upon a time", max_tokens=500)
    assert long.choices[0].finish_reason == "stop"
    assert long.choices[0].text.startswith(r.choices[0].text)
    echo = client.completions.create(model="gpt-sim-1", prompt="Once upon a time", echo=True)
    assert echo.choices[0].text == "Once upon a time" + r.choices[0].text
    many = client.completions.create(model="gpt-sim-1", prompt=["a b", "c d"], n=2, max_tokens=8)
    assert [c.index for c in many.choices] == [0, 1, 2, 3]
    assert len({c.text for c in many.choices}) == 4
    streamed = client.completions.create(model="gpt-sim-1", prompt="Once upon a time", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == r.choices[0].text
    lp = client.completions.create(model="gpt-sim-1", prompt="Hi", logprobs=2, max_tokens=4).choices[0].logprobs
    assert lp is not None and lp.tokens and len(lp.tokens) == 4 and lp.top_logprobs and len(lp.top_logprobs[0]) == 2
