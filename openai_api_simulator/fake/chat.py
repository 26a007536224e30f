"""What `gpt-sim-1` answers to a conversation: text, JSON or tool calls — a pure function of the request.

The answer for a choice is generated once from a *content seed*: a digest of the request minus the fields
that only bound or format the answer (`stream`, `n`, `max_tokens`, `stop`, `logprobs`, …).  Bounds are
applied afterwards, so a `max_tokens` answer is a prefix of the unbounded one, stream and non-stream
agree to the byte, and choice 0 is the same whatever `n` is.

A conversation may carry a `Script` (a scripted answer of `testdouble.rules`): `complete` then serves it instead
of the generator's answer, checked against the request's tools and output schema, with the same bounds applied.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from openai_api_simulator.config import DEFAULT_CACHE_MB, cache_bytes
from openai_api_simulator.fake import schema as schema_gen
from openai_api_simulator.fake.budget import Budget, BudgetExceeded
from openai_api_simulator.fake.rng import Rng, request_fingerprint
from openai_api_simulator.fake.schema.validate import Checker
from openai_api_simulator.fake.text import generate_text
from openai_api_simulator.fake.tokens import count_tokens, split_tokens, tool_call_tokens
from openai_api_simulator.lru import LRU

# Fields that shape how much of the answer is sent or how it is framed, never what it says.
FRAMING_FIELDS = frozenset(
    {
        "stream",
        "stream_options",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "stop",
        "logprobs",
        "top_logprobs",
        "user",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
        "background",
        "include",
        "truncation",
        "echo",
        "best_of",
        "stop_sequences",  # the Messages API's `stop`
    }
)

ToolChoice = Literal["none", "auto", "required"] | str  # a plain function name when forced

# Default shape of a `json_object` answer: readable, and stable for clients that look at it.
_JSON_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 1},
        "topics": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["answer", "topics", "confidence"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class Message:
    role: str
    text: str  # the textual content (parts joined); empty for an assistant turn with only tool calls
    extra_tokens: int = 0  # images, tool-call payloads and names: they count in usage but not in `text`


@dataclass(frozen=True)
class ScriptedCall:
    name: str
    arguments: Any  # a JSON value (an object, checked when the rule was loaded)


@dataclass(frozen=True)
class Script:
    """An answer a test scripted (`testdouble.rules`): exactly one of text, tool calls or a JSON value."""

    rule: str  # the id of the rule it comes from, for error messages
    content: str | None = None
    tool_calls: tuple[ScriptedCall, ...] = ()
    json: Any = None
    is_json: bool = False  # `json` is set (None is a JSON value too)
    finish_reason: str | None = None  # instead of the one the answer would have


class ScriptInvalid(Exception):
    """A scripted answer does not fit the request (a tool it does not offer, arguments or JSON its schema
    refuses); the API answers 400 `scripted_answer_invalid` with this message."""


@dataclass(frozen=True)
class Conversation:
    """The parts of a chat request that decide the answer (validated by the API layer)."""

    model: str
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = True
    # response_format json_schema, or for json_object the schema the prompt asks for (`fake.prompted`) or
    # `_JSON_OBJECT_SCHEMA`
    json_schema: Mapping[str, Any] | None = None
    content_seed: str = ""  # request_fingerprint(body, FRAMING_FIELDS)
    schema_param: str = "response_format"  # where the request put `json_schema` (or "messages"), for errors
    script: Script | None = None  # a scripted answer, served instead of the generator's

    @property
    def prompt(self) -> str:
        """What the answer is about: the last user turn, plus tool outputs that came after it."""
        parts: list[str] = []
        for message in reversed(self.messages):
            if message.role in ("tool", "function"):
                parts.append(message.text)
                continue
            if message.role == "assistant" and parts:
                continue  # the turn whose calls those tool outputs answer: the question is before it
            if message.role == "user":
                parts.append(message.text)
            break
        return "\n".join(reversed(parts)) if parts else (self.messages[-1].text if self.messages else "")


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, valid against the tool's parameters


@dataclass(frozen=True)
class Answer:
    """One choice as generated, before `max_tokens`/`stop` are applied."""

    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    tokens: tuple[str, ...] = ()  # `content` split once here, not on every request that hits the cache
    tool_tokens: int = 0  # what the tool calls count as completion tokens
    # What generating it counted against the request's budget: counted again when it comes from the cache,
    # so whether a request is within its limits never depends on what was asked before.
    work: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Choice:
    index: int
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    tokens: tuple[str, ...]  # content tokens (what streaming and logprobs iterate over)
    completion_tokens: int


def json_object_schema() -> dict[str, Any]:
    return _JSON_OBJECT_SCHEMA


def prompt_tokens(messages: Sequence[Message], tools: Sequence[Tool]) -> int:
    """Prompt usage the way OpenAI's cookbook counts it: 3 per message plus 3 to prime the reply."""
    total = 3
    for message in messages:
        total += 3 + count_tokens(message.text) + message.extra_tokens
    if tools:
        total += count_tokens(json.dumps([t.parameters for t in tools])) + sum(
            count_tokens(t.name) + count_tokens(t.description) + 4 for t in tools
        )
    return total


def _tool_score(tool: Tool, prompt_lower: str) -> int:
    """How strongly the prompt points at a tool: its full name, else words of its name."""
    if tool.name.lower() in prompt_lower:
        return 100
    words = [w for w in tool.name.lower().replace("-", "_").split("_") if len(w) > 2]
    return sum(1 for w in words if w in prompt_lower)


def _pick_tools(conv: Conversation, rng: Rng) -> list[Tool]:
    if isinstance(conv.tool_choice, str) and conv.tool_choice not in ("none", "auto", "required"):
        return [t for t in conv.tools if t.name == conv.tool_choice][:1]
    prompt_lower = conv.prompt.lower()
    scored = [(_tool_score(t, prompt_lower), i, t) for i, t in enumerate(conv.tools)]
    named = [t for score, _, t in sorted(scored, key=lambda x: (-x[0], x[1])) if score >= 100]
    if conv.parallel_tool_calls and len(named) > 1:
        return named[:4]
    best = max(scored, key=lambda x: (x[0], -x[1]))
    if best[0] > 0:
        return [best[2]]
    return [rng.choice(conv.tools)]


def _wants_tool_call(conv: Conversation) -> bool:
    if not conv.tools or conv.tool_choice == "none":
        return False
    if conv.tool_choice == "auto":
        # After tool results the model answers in text, so an agent loop ends.
        return bool(conv.messages) and conv.messages[-1].role not in ("tool", "function", "assistant")
    return True  # required, or a named function


def _dumps(value: Any) -> str:
    # allow_nan=False: arguments and JSON answers a client parses must be JSON, so a non-finite number fails
    # here (a bug: the request parser refuses NaN and Infinity) rather than reaching the client.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def generate_answer(conv: Conversation, index: int, budget: Budget | None = None) -> Answer:
    """The unbounded answer for choice `index`, its work counted in `budget` (a fresh one by default)."""
    budget = budget if budget is not None else Budget()
    before = budget.counts()
    rng = Rng(conv.content_seed).fork("choice", index)
    if _wants_tool_call(conv):
        calls = []
        for k, tool in enumerate(_pick_tools(conv, rng.fork("pick"))):
            call_rng = rng.fork("call", k)
            arguments = _generate(tool.parameters, call_rng.fork("args"), conv.prompt, budget, "tools")
            calls.append(ToolCall(id="call_" + call_rng.alnum(24), name=tool.name, arguments=_dumps(arguments)))
        used = sum(tool_call_tokens(c.name, c.arguments) for c in calls)
        return Answer(content=None, tool_calls=tuple(calls), tool_tokens=used, work=budget.since(before))
    if conv.json_schema is not None:
        value = _generate(conv.json_schema, rng.fork("json"), conv.prompt, budget, conv.schema_param)
        text = _dumps(value)
    else:
        text = generate_text(rng.fork("text"), conv.prompt)
    return Answer(content=text, tokens=tuple(split_tokens(text)), work=budget.since(before))


def _generate(schema: Mapping[str, Any], rng: Rng, hint: str, budget: Budget, param: str) -> Any:
    try:
        return schema_gen.generate(schema, rng, hint=hint, budget=budget)
    except BudgetExceeded as exc:
        exc.param = exc.param or param
        raise


# Unbounded answers are deterministic, so a repeated request (or the same request with another `n`,
# `max_tokens` or `stream`) costs no generation. Process-wide; `fake.caches` sizes it from --cache-mb.
ANSWERS: LRU[tuple[str, int], Answer] = LRU(cache_bytes(DEFAULT_CACHE_MB, "answers"))
# A token of `Answer.tokens`: a short string (about 55 bytes) and its slot in the tuple.
_TOKEN_BYTES: Final = 64


def answer_bytes(answer: Answer) -> int:
    """An estimate of what a cached answer keeps alive, without walking its tokens."""
    size = sys.getsizeof(answer.content) + _TOKEN_BYTES * len(answer.tokens) + 200  # 200: the Answer itself
    for call in answer.tool_calls:  # a loop, not sum(): no generator on the path of every new request
        size += sys.getsizeof(call.arguments) + sys.getsizeof(call.id) + 120
    return size


def unbounded_answer(conv: Conversation, index: int, budget: Budget | None = None) -> Answer:
    """`generate_answer`, remembered by (content seed, choice index)."""
    key = (conv.content_seed, index)
    answer = ANSWERS.get(key)
    if answer is None:
        answer = generate_answer(conv, index, budget)
        ANSWERS.put(key, answer, sys.getsizeof(conv.content_seed) + answer_bytes(answer))
    elif budget is not None and answer.work:
        try:
            schema_gen.recharge(budget, answer.work)
        except BudgetExceeded as exc:
            exc.param = exc.param or ("tools" if answer.tool_calls else conv.schema_param)
            raise
    return answer


def _schema_error(schema: Mapping[str, Any], value: Any) -> str | None:
    try:
        return Checker(schema).error(value, schema, "#")
    except schema_gen.SchemaError as exc:
        return str(exc)


def scripted_answer(conv: Conversation, script: Script, index: int) -> Answer:
    """The scripted answer for choice `index`, or `ScriptInvalid` when it does not fit the request.

    Checked here, against what the request itself offers, because that is what the client will parse: a
    call to a tool it did not send, or arguments its own schema refuses, would fail in the client's code
    far from the rule that caused it.
    """
    where = f"The scripted answer of rule '{script.rule}'"
    if script.tool_calls:
        offered = {tool.name: tool for tool in conv.tools}
        calls = []
        for k, scripted in enumerate(script.tool_calls):
            tool = offered.get(scripted.name)
            if tool is None:
                names = ", ".join(f"'{name}'" for name in offered) or "none"
                raise ScriptInvalid(
                    f"{where} calls the tool '{scripted.name}', which the request does not offer (tools: {names})."
                )
            error = _schema_error(tool.parameters, scripted.arguments)
            if error is not None:
                raise ScriptInvalid(
                    f"{where} calls '{scripted.name}' with arguments that do not validate against the "
                    f"request's parameters for it: {error}"
                )
            call_id = "call_" + Rng(conv.content_seed).fork("script", script.rule, index, k).alnum(24)
            calls.append(ToolCall(id=call_id, name=scripted.name, arguments=_dumps(scripted.arguments)))
        used = sum(tool_call_tokens(c.name, c.arguments) for c in calls)
        return Answer(content=None, tool_calls=tuple(calls), tool_tokens=used)
    if script.is_json:
        if conv.json_schema is json_object_schema():  # json_object: any object will do
            if not isinstance(script.json, dict):
                raise ScriptInvalid(f"{where} is not a JSON object, which `json_object` output must be.")
        elif conv.json_schema is not None:
            error = _schema_error(conv.json_schema, script.json)
            if error is not None:
                raise ScriptInvalid(
                    f"{where} does not validate against the request's schema in '{conv.schema_param}': {error}"
                )
        text = _dumps(script.json)
    else:
        text = script.content or ""
    return Answer(content=text, tokens=tuple(split_tokens(text)))


def _apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = min((pos for s in stop if (pos := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def complete(
    conv: Conversation, *, n: int, max_tokens: int | None, stop: Sequence[str], budget: Budget | None = None
) -> list[Choice]:
    """The `n` choices of a chat completion, with `stop` and `max_tokens` applied."""
    choices = []
    forced = conv.tool_choice not in ("none", "auto", "required")
    for index in range(n):
        if budget is not None:
            budget.check()
        script = conv.script
        # A scripted answer never enters `ANSWERS`: that cache is keyed by the request alone.
        answer = unbounded_answer(conv, index, budget) if script is None else scripted_answer(conv, script, index)
        if answer.tool_calls:
            # OpenAI reports `stop`, not `tool_calls`, when tool_choice named the function.
            reason = "stop" if forced else "tool_calls"
            if script is not None and script.finish_reason:
                reason = script.finish_reason
            choices.append(Choice(index, None, answer.tool_calls, reason, (), answer.tool_tokens))
            continue
        text = answer.content or ""
        tokens = answer.tokens
        finish = "stop"
        if stop:
            cut, stopped = _apply_stop(text, stop)
            if stopped:
                text, tokens = cut, tuple(split_tokens(cut))
        if max_tokens is not None and len(tokens) > max_tokens:
            tokens = tokens[:max_tokens]
            text = "".join(tokens)
            finish = "length"
        if script is not None and script.finish_reason:
            finish = script.finish_reason
        choices.append(Choice(index, text, (), finish, tokens, len(tokens)))
    return choices


def content_seed(body: Mapping[str, Any]) -> str:
    return request_fingerprint(body, FRAMING_FIELDS)
