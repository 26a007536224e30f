"""The Python API a test author uses: `Simulator`, the `openai_simulator` fixture and `testing.simulated`.

The issue's "done when": a test scripts "the first call returns get_weather(city='Paris'), the next returns
text", runs an agent loop with the official SDK, and asserts on the journal what the agent sent; two such tests
run at once against one server without seeing each other.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from openai_api_simulator.config import Settings
from openai_api_simulator.testdouble.client import Simulator, SimulatorError, error, text, tool_call
from openai_api_simulator.testing import running, scope_id_for, simulated

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def weather_agent(client: openai.OpenAI, question: str, forecast: dict[str, str]) -> str:
    """A minimal agent loop: ask, run each tool call the model makes (from `forecast`), ask again, until text."""
    messages: list[Any] = [{"role": "user", "content": question}]
    for _ in range(5):
        reply = client.chat.completions.create(model="gpt-sim-1", messages=messages, tools=[WEATHER_TOOL])
        message = reply.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            city = json.loads(call.function.arguments)["city"]
            messages.append({"role": "tool", "tool_call_id": call.id, "content": forecast.get(city, "unknown")})
    raise AssertionError("the agent never answered in text")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running(Settings()) as url:
        yield url


def test_a_scripted_agent_loop_and_what_it_sent(server: str) -> None:
    with Simulator(server, test_id="client-loop") as sim:
        sim.reset()
        rule = sim.script(tool_call("get_weather", city="Paris"), text("It is 18°C in Paris."), tool="get_weather")
        answer = weather_agent(sim.openai(max_retries=0), "Weather in Paris?", {"Paris": "18°C, clear"})
        assert answer == "It is 18°C in Paris."
        first, second = sim.requests_to("chat/completions")
        assert first["rule"] == second["rule"] == rule
        assert first["body"]["tools"][0]["function"]["name"] == "get_weather"
        tool_turn = second["body"]["messages"][-1]
        assert tool_turn["role"] == "tool" and tool_turn["content"] == "18°C, clear"
        assert [r["calls"] for r in sim.rules if r["id"] == rule] == [2]
        sim.reset()
        assert sim.requests == [] and sim.rules == []


def test_two_tests_at_once_on_one_server_see_only_their_own(server: str) -> None:
    outcomes: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    barrier = threading.Barrier(2)

    def one_test(name: str, city: str) -> None:
        with Simulator(server, test_id=f"parallel-{name}") as sim:
            sim.reset()
            sim.script(tool_call("get_weather", city=city), text(f"Forecast for {city}."), tool="get_weather")
            barrier.wait()  # both scripted before either asks: a shared scope would mix their sequences
            answer = weather_agent(sim.openai(max_retries=0), "Weather?", {city: "fine"})
            outcomes[name] = (answer, sim.requests)

    threads = [threading.Thread(target=one_test, args=args) for args in (("a", "Paris"), ("b", "Oslo"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes["a"][0] == "Forecast for Paris." and outcomes["b"][0] == "Forecast for Oslo."
    for name, (_, journal) in outcomes.items():
        assert len(journal) == 2 and {entry["test_id"] for entry in journal} == {f"parallel-{name}"}


def test_rule_builders_answer_as_written(server: str) -> None:
    with Simulator(server, test_id="client-builders") as sim:
        sim.reset()
        sim.on(last_user="hello").reply("Hi there!")
        sim.on(last_user="busy").fail(429, "Slow down.", retry_after=2)
        client = sim.openai(max_retries=0)
        reply = client.chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content == "Hi there!"
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": "busy"}])
        assert raised.value.response.headers["retry-after"] == "2"
        # A rule the server refuses is the server's error, with the place it names.
        with pytest.raises(SimulatorError, match="tool_calls"):
            sim.add_rules([{"answer": {"tool_calls": "not a list"}}])
        sim.reset()


def test_the_error_helper_builds_the_rule_format() -> None:
    assert error(503, retry_after=1.5, code="overloaded") == {
        "error": {"status": 503, "code": "overloaded", "retry_after": 1.5}
    }


def test_simulated_starts_a_server_for_the_block_and_resets_a_shared_one(server: str) -> None:
    with simulated() as own:
        own.on(last_user="ping").reply("pong")
        reply = own.openai().chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": "ping"}])
        assert reply.choices[0].message.content == "pong"
    with simulated(server) as shared:
        shared.on(last_user="ping").reply("pong")
        scope = shared.test_id
    with Simulator(server, test_id=scope) as again:
        assert again.rules == []  # reset when the block ended


def test_scope_ids_for_pytest_node_ids_are_valid_test_ids(server: str) -> None:
    for name in ["tests/a.py::test_x[city with spaces-Zürich]", "t" * 500]:
        scope = scope_id_for(name)
        with Simulator(server, test_id=scope) as sim:
            assert sim.requests == []  # the server accepts it as X-Simulator-Test-Id
    assert scope_id_for("a" * 500) != scope_id_for("b" + "a" * 499)  # long names stay distinct


def test_the_pytest_fixture_isolates_and_resets_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from openai_api_simulator.testdouble.client import text

        @pytest.mark.parametrize("word", ["one", "two", "three"])
        def test_scripted(openai_simulator, word):
            sim = openai_simulator
            sim.on(last_user="say").reply(word)
            client = sim.openai(max_retries=0)
            reply = client.chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": "say"}])
            assert reply.choices[0].message.content == word
            assert len(sim.requests) == 1 and len(sim.rules) == 1  # nothing from the other tests
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
