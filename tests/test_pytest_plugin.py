"""The pytest plugin, exercised in a separate pytest run the way a user's project would use it."""

from __future__ import annotations

import pytest


def test_fixture_gives_a_working_base_url(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import openai

        def test_uses_simulator(openai_simulator_url):
            assert openai_simulator_url.startswith("http://127.0.0.1:")
            client = openai.OpenAI(base_url=openai_simulator_url, api_key="x")
            r = client.chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": "hi"}])
            assert r.choices[0].message.content
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
