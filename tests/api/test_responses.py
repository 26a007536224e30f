"""POST /v1/responses through the official `openai` SDK: text, tools, structured output, streams, follow-ups."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from openai_api_simulator.config import Settings
from openai_api_simulator.testing import running


def test_responses_text(client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-sim-1", input="Tell me about gardens.", instructions="Be kind.")
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert r.output_text and r.output_text.endswith(".")
    assert r.usage is not None and r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    again = client.responses.create(model="gpt-sim-1", input="Tell me about gardens.", instructions="Be kind.")
    assert again.output_text == r.output_text
    items = client.responses.create(
        model="gpt-sim-1",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Tell me about gardens."}]}],
    )
    assert items.output_text


def test_responses_incomplete_on_max_output_tokens(client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-sim-1", input="Explain in detail how tides work.", max_output_tokens=16)
    assert r.status == "incomplete"
    assert r.incomplete_details is not None and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage is not None and r.usage.output_tokens == 16


FUNCTION_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "lookup_order",
    "description": "Look an order up",
    "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "verbose": {"type": "boolean"}},
        "required": ["order_id", "verbose"],
        "additionalProperties": False,
    },
    "strict": True,
}


def test_responses_function_calls_and_follow_up(client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-sim-1", input="Find order 42", tools=[FUNCTION_TOOL])
    calls = [item for item in r.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "lookup_order"
    jsonschema.validate(json.loads(calls[0].arguments), FUNCTION_TOOL["parameters"])
    follow = client.responses.create(
        model="gpt-sim-1",
        tools=[FUNCTION_TOOL],
        input=[
            {"role": "user", "content": "Find order 42"},
            {
                "type": "function_call",
                "call_id": calls[0].call_id,
                "name": "lookup_order",
                "arguments": calls[0].arguments,
            },
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"status": "shipped"}'},
        ],
    )
    assert follow.output_text and not [i for i in follow.output if i.type == "function_call"]


class Recipe(BaseModel):
    title: str
    minutes: int
    steps: list[str]


def test_responses_structured_output_parse(client: openai.OpenAI) -> None:
    r = client.responses.parse(model="gpt-sim-1", input="A recipe please", text_format=Recipe)
    assert isinstance(r.output_parsed, Recipe)


def test_responses_stream_event_sequence(client: openai.OpenAI) -> None:
    full = client.responses.create(model="gpt-sim-1", input="Tell me about gardens.")
    events = list(client.responses.create(model="gpt-sim-1", input="Tell me about gardens.", stream=True))
    types = [e.type for e in events]
    assert types[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-5:] == [
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == full.output_text
    completed = events[-1]
    assert completed.type == "response.completed" and completed.response.output_text == full.output_text


def test_responses_stream_helper_and_function_call_events(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-sim-1", input="Find order 7", tools=[FUNCTION_TOOL]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-2:] == ["response.output_item.done", "response.completed"]
    call = next(i for i in final.output if i.type == "function_call")
    jsonschema.validate(json.loads(call.arguments), FUNCTION_TOOL["parameters"])


def test_responses_previous_response_id_continues_a_tool_loop(client: openai.OpenAI) -> None:
    first = client.responses.create(model="gpt-sim-1", input="Find order 42", tools=[FUNCTION_TOOL])
    call = next(item for item in first.output if item.type == "function_call")
    follow = client.responses.create(
        model="gpt-sim-1",
        previous_response_id=first.id,
        tools=[FUNCTION_TOOL],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"status": "shipped"}'}],
    )
    # The stored conversation ends with the tool result, so the model answers in text and the loop ends.
    assert follow.previous_response_id == first.id
    assert follow.output_text and not [i for i in follow.output if i.type == "function_call"]
    alone = client.responses.create(
        model="gpt-sim-1",
        tools=[FUNCTION_TOOL],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"status": "shipped"}'}],
    )
    assert follow.usage is not None and alone.usage is not None
    assert follow.usage.input_tokens > alone.usage.input_tokens  # the history counts as input
    # Streaming responses are stored too.
    streamed = list(client.responses.create(model="gpt-sim-1", input="Tell me a story", stream=True))
    done = streamed[-1]
    assert done.type == "response.completed"
    again = client.responses.create(model="gpt-sim-1", input="And then?", previous_response_id=done.response.id)
    assert again.output_text


@pytest.mark.usefixtures("default_cache_sizes")
def test_an_evicted_previous_response_id_is_a_400_that_says_why_and_names_the_flag() -> None:
    # --cache-mb 0.125 gives the store 32%: 42 KB, room for one 30 KB conversation at a time.
    with (
        running(Settings(cache_mb=0.125)) as url,
        openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0) as client,
    ):
        first = client.responses.create(model="gpt-sim-1", input="First: " + "a " * 15_000)
        # Still there (the check itself is not stored, so it does not push `first` out).
        client.responses.create(model="gpt-sim-1", input="And?", previous_response_id=first.id, store=False)
        second = client.responses.create(model="gpt-sim-1", input="Second: " + "b " * 15_000)
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model="gpt-sim-1", input="And?", previous_response_id=first.id)
        assert info.value.code == "previous_response_not_found"
        assert info.value.param == "previous_response_id"
        message = info.value.body["message"]
        assert f"'{first.id}' not found" in message and "evicted" in message and "--cache-mb" in message
        follow = client.responses.create(model="gpt-sim-1", input="And?", previous_response_id=second.id)
        assert follow.output_text


def test_responses_unknown_or_unstored_previous_id_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-sim-1", input="hi", previous_response_id="resp_nope")
    assert info.value.code == "previous_response_not_found"
    unstored = client.responses.create(model="gpt-sim-1", input="keep nothing", store=False)
    assert unstored.to_dict()["store"] is False
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-sim-1", input="hi", previous_response_id=unstored.id)
