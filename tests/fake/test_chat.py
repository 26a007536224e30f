"""`fake.chat`: bounds applied to one unbounded answer, n-independence, tool picking, content seeds, prompt usage."""

from __future__ import annotations

import json
import math

import pytest

from openai_api_simulator.fake.chat import (
    Conversation,
    Message,
    Tool,
    ToolChoice,
    complete,
    content_seed,
    generate_answer,
    json_object_schema,
    prompt_tokens,
)
from openai_api_simulator.fake.tokens import split_tokens

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = Tool("get_weather", "Current weather for a city.", CITY)
EMAIL = Tool("send_email", "Send an email.")
SEARCH = Tool("search_web", "Search the web.")
TOOLS = (WEATHER, EMAIL, SEARCH)


def conv(
    prompt: str = "How do rivers shape the valleys they run through?",
    *,
    messages: tuple[Message, ...] | None = None,
    tools: tuple[Tool, ...] = (),
    tool_choice: ToolChoice = "auto",
    parallel: bool = True,
    json_schema: dict[str, object] | None = None,
) -> Conversation:
    """A conversation whose content seed covers everything that decides it (answers are cached by that seed)."""
    msgs = messages if messages is not None else (Message("user", prompt),)
    body = {
        "model": "gpt-sim-1",
        "messages": [[m.role, m.text] for m in msgs],
        "tools": [[t.name, t.description, t.parameters] for t in tools],
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel,
        "response_format": json_schema,
    }
    return Conversation(
        "gpt-sim-1", msgs, tools, tool_choice, parallel, json_schema=json_schema, content_seed=content_seed(body)
    )


def one(c: Conversation, *, max_tokens: int | None = None, stop: tuple[str, ...] = ()) -> tuple[str, str]:
    [choice] = complete(c, n=1, max_tokens=max_tokens, stop=stop)
    assert choice.content is not None
    return choice.content, choice.finish_reason


def called(c: Conversation) -> list[str]:
    [choice] = complete(c, n=1, max_tokens=None, stop=())
    return [call.name for call in choice.tool_calls]


def test_max_tokens_gives_a_prefix_of_the_unbounded_answer_and_finish_length() -> None:
    c = conv()
    [full] = complete(c, n=1, max_tokens=None, stop=())
    assert full.content is not None and full.finish_reason == "stop" and len(full.tokens) > 10
    [cut] = complete(c, n=1, max_tokens=7, stop=())
    assert cut.finish_reason == "length"
    assert cut.tokens == full.tokens[:7] and cut.completion_tokens == 7
    assert cut.content == "".join(full.tokens[:7]) and full.content.startswith(cut.content)
    # A limit the answer fits in changes nothing.
    [roomy] = complete(c, n=1, max_tokens=len(full.tokens), stop=())
    assert (roomy.content, roomy.finish_reason) == (full.content, "stop")


def test_stop_cuts_just_before_the_earliest_stop_sequence() -> None:
    c = conv()
    text, _ = one(c)
    early, late = text[20:24], text[40:45]
    assert text.find(early) < text.find(late)
    cut, reason = one(c, stop=(late, early))
    assert cut == text[: text.find(early)] and early not in cut
    assert reason == "stop"
    [choice] = complete(c, n=1, max_tokens=None, stop=(early,))
    assert choice.tokens == tuple(split_tokens(cut)) and choice.completion_tokens == len(choice.tokens)
    assert one(c, stop=("<never in prose>",)) == (text, "stop")


def test_choice_zero_is_the_same_whatever_n_and_choices_differ() -> None:
    c = conv("Describe a harbor town in winter.")
    many = complete(c, n=3, max_tokens=None, stop=())
    assert [ch.index for ch in many] == [0, 1, 2]
    assert complete(c, n=1, max_tokens=None, stop=())[0] == many[0]
    # Not only through the answer cache: generating afresh gives the same choices.
    assert [ch.content for ch in many] == [generate_answer(c, k).content for k in range(3)]
    assert len({ch.content for ch in many}) == 3


def test_a_tool_named_in_the_prompt_is_called_with_valid_arguments() -> None:
    c = conv("Please use send_email to tell Bob", tools=TOOLS)
    [choice] = complete(c, n=1, max_tokens=None, stop=())
    assert [t.name for t in choice.tool_calls] == ["send_email"]
    assert choice.content is None and choice.finish_reason == "tool_calls"
    [call] = choice.tool_calls
    assert call.id.startswith("call_") and len(call.id) == len("call_") + 24
    assert isinstance(json.loads(call.arguments), dict)
    assert choice.completion_tokens > 0
    # Words of a name count when the full name is absent.
    assert called(conv("What is the weather in Oslo?", tools=TOOLS)) == ["get_weather"]


def test_several_named_tools_are_called_in_parallel_unless_disabled() -> None:
    prompt = "First search_web, then get_weather"
    assert called(conv(prompt, tools=TOOLS)) == ["get_weather", "search_web"]  # in the order of `tools`
    assert called(conv(prompt, tools=TOOLS, parallel=False)) == ["get_weather"]
    five = tuple(Tool(f"tool_{k}") for k in range(5))
    assert called(conv(" ".join(t.name for t in five), tools=five)) == [f"tool_{k}" for k in range(4)]


def test_a_prompt_naming_no_tool_still_calls_one_deterministically() -> None:
    c = conv("Hello there", tools=TOOLS)
    names = called(c)
    assert len(names) == 1 and names[0] in {t.name for t in TOOLS}
    assert [generate_answer(c, 0).tool_calls[0].name] == names


def test_tool_choice_none_required_and_forced() -> None:
    named = "Use get_weather for Paris"
    text, reason = one(conv(named, tools=TOOLS, tool_choice="none"))
    assert text and reason == "stop"
    [required] = complete(conv("Hello there", tools=TOOLS, tool_choice="required"), n=1, max_tokens=None, stop=())
    assert len(required.tool_calls) == 1 and required.finish_reason == "tool_calls"
    # A forced function wins over the one the prompt names, and OpenAI then reports "stop".
    [forced] = complete(conv(named, tools=TOOLS, tool_choice="send_email"), n=1, max_tokens=None, stop=())
    assert [t.name for t in forced.tool_calls] == ["send_email"] and forced.finish_reason == "stop"


def test_after_a_tool_result_auto_answers_in_text_but_required_calls_again() -> None:
    history = (
        Message("user", "Use get_weather for Paris"),
        Message("assistant", "", extra_tokens=12),
        Message("tool", "Sunny, 21 degrees"),
    )
    text, reason = one(conv(messages=history, tools=TOOLS))
    assert text and reason == "stop"
    [again] = complete(conv(messages=history, tools=TOOLS, tool_choice="required"), n=1, max_tokens=None, stop=())
    assert len(again.tool_calls) == 1 and again.finish_reason == "tool_calls"


def test_prompt_is_the_last_user_turn_plus_the_tool_outputs_after_it() -> None:
    history = (Message("user", "old question"), Message("assistant", "old answer"), Message("user", "new question"))
    assert conv(messages=history).prompt == "new question"
    with_results = (*history, Message("tool", "result one"), Message("tool", "result two"))
    assert conv(messages=with_results).prompt == "new question\nresult one\nresult two"
    assert conv(messages=(Message("system", "Be brief."),)).prompt == "Be brief."


def test_prompt_reaches_past_the_assistant_turn_that_made_the_tool_calls() -> None:
    history = (Message("user", "new question"), Message("assistant", ""), Message("tool", "result"))
    assert conv(messages=history).prompt == "new question\nresult"


def test_json_schema_answers_are_json_that_follows_the_schema() -> None:
    text, reason = one(conv("Answer in json: what is a river?", json_schema=json_object_schema()))
    value = json.loads(text)
    assert set(value) == {"answer", "topics", "confidence"} and reason == "stop"
    assert 0 <= value["confidence"] <= 1 and 1 <= len(value["topics"]) <= 3


def test_content_seed_ignores_framing_fields_only() -> None:
    body = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "hi"}]}
    framed = {
        **body,
        "stream": True,
        "stream_options": {"include_usage": True},
        "n": 4,
        "max_tokens": 5,
        "max_completion_tokens": 5,
        "stop": ["x"],
        "logprobs": True,
        "top_logprobs": 3,
        "user": "u-1",
        "metadata": {"k": "v"},
    }
    assert content_seed(framed) == content_seed(body)
    for key, value in (("temperature", 0.5), ("seed", 1), ("tools", []), ("model", "gpt-4o")):
        assert content_seed({**body, key: value}) != content_seed(body), key


def test_prompt_tokens_counts_messages_and_tools() -> None:
    # 3 to prime the reply, 3 per message, "Hello, world!" is 4 tokens.
    hello = [Message("user", "Hello, world!")]
    assert prompt_tokens(hello, []) == 10
    assert prompt_tokens([*hello, Message("assistant", "", extra_tokens=5)], []) == 18
    # '[{"type": "object", "properties": {}}]' is 19 tokens; "ping" 1, "Ping it." 3, plus 4 per tool.
    assert prompt_tokens(hello, [Tool("ping", "Ping it.")]) == 10 + 19 + 1 + 3 + 4


def test_tool_arguments_are_strict_json_even_when_a_caller_passes_infinity() -> None:
    # The HTTP layer refuses Infinity in requests; were one to get through, the fake fails loudly rather
    # than writing `{"x":Infinity}`, which no JSON parser reads.
    schema = {"type": "object", "properties": {"x": {"const": math.inf}}, "required": ["x"]}
    c = conv("Call f.", tools=(Tool("f", "f", schema),), tool_choice="required")
    with pytest.raises(ValueError, match="not JSON compliant"):
        complete(c, n=1, max_tokens=None, stop=())
