"""POST /v1/responses — the Responses API over the same conversation core as chat completions.

`input` (a string or items), `instructions`, function tools and `text.format` are mapped onto a
`Conversation`; the answer is then framed as output items (`message` with `output_text`, or `function_call`)
and, when streaming, as the typed event sequence `response.created` … `response.completed`, every event
numbered by `sequence_number`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from openai_api_simulator import limits
from openai_api_simulator.api import caps, tools, work
from openai_api_simulator.api import validate as v
from openai_api_simulator.api.chat import content_text
from openai_api_simulator.api.common import (
    FailAfter,
    RequestContext,
    StreamCut,
    first_token_delay,
    generation_delay,
    make_id,
)
from openai_api_simulator.api.conversations import ConversationStore
from openai_api_simulator.api.endpoint import Endpoint, typed_error_event
from openai_api_simulator.api.http import CutConnection, sse_event
from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.fake import chat
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.tokens import tool_call_tokens

_INPUT_ROLES = ("user", "assistant", "system", "developer")


def _input_messages(body: dict[str, Any], budget: Budget) -> list[chat.Message]:
    raw = body.get("input")
    if raw is None:
        raise v.missing("input")
    size = caps.InputSize("input")
    if isinstance(raw, str):
        size.add(raw)
        return [chat.Message("user", raw)]
    if not isinstance(raw, list):
        raise v.wrong_type("input", "a string or an array of input items", raw)
    messages: list[chat.Message] = []
    for i, item in enumerate(raw):
        budget.check()
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise v.wrong_type(param, "an object", item)
        kind = item.get("type", "message")
        if kind == "message":
            role = v.get_str(item, "role", parent=param, required=True)
            if role not in _INPUT_ROLES:
                raise v.invalid_value(
                    f"{param}.role", f"'{role}'. Supported values are: 'user', 'assistant', 'system', and 'developer'."
                )
            if "content" not in item:
                raise v.missing(f"{param}.content")
            text, extra = content_text(item["content"], f"{param}.content", size)
            messages.append(chat.Message(role, text, extra))
        elif kind == "function_call":
            name = v.get_str(item, "name", parent=param, required=True) or ""
            arguments = v.get_str(item, "arguments", parent=param, required=True) or ""
            size.add(name)
            size.add(arguments)
            v.get_str(item, "call_id", parent=param, required=True)
            messages.append(chat.Message("assistant", "", tool_call_tokens(name, arguments)))
        elif kind == "function_call_output":
            v.get_str(item, "call_id", parent=param, required=True)
            output = item.get("output")
            if output is None:
                raise v.missing(f"{param}.output")
            text, extra = content_text(output, f"{param}.output", size)
            messages.append(chat.Message("tool", text, extra))
        else:
            raise v.invalid_value(
                f"{param}.type",
                f"'{kind}'. The simulator supports input items of type "
                "'message', 'function_call' and 'function_call_output'.",
            )
    if not messages:
        raise InvalidRequest("Invalid 'input': empty array.", param="input", code="empty_array")
    return messages


def _text_format(
    body: dict[str, Any], messages: list[chat.Message], budget: Budget
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the `text.format` echoed back, the schema the answer must follow or None for prose)."""
    text = v.get_object(body, "text")
    fmt = v.get_object(text, "format", parent="text") if text else None
    if fmt is None:
        return {"type": "text"}, None
    no_json_word = InvalidRequest(
        "Response input messages must contain the word 'json' in some form to use 'text.format' of type 'json_object'.",
        param="input",
    )
    value = tools.output_schema(fmt, "text.format", messages, nested=False, no_json_word=no_json_word, budget=budget)
    if value is None:
        return {"type": "text"}, None
    return (fmt if fmt.get("type") == "json_schema" else {"type": fmt["type"]}), value


class ResponsesRequest:
    def __init__(
        self,
        body: dict[str, Any],
        conversations: ConversationStore | None = None,
        budget: Budget | None = None,
        script: chat.Script | None = None,
    ) -> None:
        self.budget = budget if budget is not None else Budget()
        self.model = v.require_str(body, "model")
        messages = _input_messages(body, self.budget)
        self.previous_response_id = v.get_str(body, "previous_response_id")
        if self.previous_response_id:
            store = conversations if conversations is not None else ConversationStore()
            history = store.get(self.previous_response_id)
            if history is None:
                raise store.not_found(self.previous_response_id)
            messages = [*history, *messages]
        self.store = v.get_bool(body, "store", True)
        self.conversations = conversations if self.store else None
        self.history = tuple(messages)  # what a follow-up continues from (without `instructions`)
        self.instructions = v.get_str(body, "instructions")
        if self.instructions:
            caps.InputSize("instructions").add(self.instructions)
            messages.insert(0, chat.Message("developer", self.instructions))
        function_tools = tools.parse_tools(body, nested=False, budget=self.budget)
        tool_choice = tools.parse_tool_choice(body, function_tools, nested=False)
        self.format, format_schema = _text_format(body, messages, self.budget)
        json_schema, schema_param = tools.follow_prompt(format_schema, "text.format", messages, "input", self.budget)
        self.stream = v.get_bool(body, "stream", False)
        self.max_output_tokens = v.get_int(body, "max_output_tokens", lo=16, hi=limits.MAX_OUTPUT_TOKENS)
        self.temperature = v.get_number(body, "temperature", lo=0, hi=2)
        self.top_p = v.get_number(body, "top_p", lo=0, hi=1)
        self.metadata = v.get_object(body, "metadata") or {}
        self.raw_tools = [_echoed_tool(t) for t in v.get_list(body, "tools") or []]
        self.user = v.get_str(body, "user")
        self.raw_tool_choice: Any = body.get("tool_choice", "auto")
        self.parallel_tool_calls = v.get_bool(body, "parallel_tool_calls", True)
        self.conversation = chat.Conversation(
            model=self.model,
            messages=tuple(messages),
            tools=function_tools,
            tool_choice=tool_choice,
            parallel_tool_calls=self.parallel_tool_calls,
            json_schema=json_schema,
            content_seed=chat.content_seed(body),
            schema_param=schema_param,
            script=script,
        )
        self.input_tokens = chat.prompt_tokens(messages, function_tools)


def _choice(req: ResponsesRequest) -> chat.Choice:
    """The answer's one choice, refused (400) when it would be larger than the simulator's limits."""
    choice = chat.complete(req.conversation, n=1, max_tokens=req.max_output_tokens, stop=(), budget=req.budget)[0]
    caps.answer_size(choice.completion_tokens, 0, tokens_param="max_output_tokens", logprobs_param="top_logprobs")
    return choice


class _Framer:
    """Builds the response object and its output items for one request."""

    def __init__(self, req: ResponsesRequest, ctx: RequestContext, choice: chat.Choice) -> None:
        self.req = req
        self.ctx = ctx
        seed = req.conversation.content_seed
        self.id = make_id("resp_", seed, 48)
        self.message_id = make_id("msg_", seed + "/msg", 48)
        self.created = ctx.created()
        self.choice = choice

    @property
    def incomplete(self) -> bool:
        return self.choice.finish_reason == "length"

    def message_item(self, status: str, text: str | None) -> dict[str, Any]:
        content = [] if text is None else [self.text_part(text)]
        return {"id": self.message_id, "type": "message", "status": status, "role": "assistant", "content": content}

    @staticmethod
    def text_part(text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def call_item(self, k: int, status: str, arguments: str) -> dict[str, Any]:
        call = self.choice.tool_calls[k]
        return {
            "id": make_id("fc_", f"{self.req.conversation.content_seed}/fc/{k}", 48),
            "type": "function_call",
            "status": status,
            "call_id": call.id,
            "name": call.name,
            "arguments": arguments,
        }

    def final_items(self) -> list[dict[str, Any]]:
        if self.choice.tool_calls:
            return [self.call_item(k, "completed", c.arguments) for k, c in enumerate(self.choice.tool_calls)]
        status = "incomplete" if self.incomplete else "completed"
        return [self.message_item(status, self.choice.content or "")]

    def response(self, status: str, output: list[dict[str, Any]], usage: bool) -> dict[str, Any]:
        req = self.req
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": req.instructions,
            "max_output_tokens": req.max_output_tokens,
            "max_tool_calls": None,
            "model": self.ctx.model,
            "output": output,
            "parallel_tool_calls": req.parallel_tool_calls,
            "previous_response_id": req.previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": req.store,
            "temperature": 1.0 if req.temperature is None else req.temperature,
            "text": {"format": req.format, "verbosity": "medium"},
            "tool_choice": req.raw_tool_choice,
            "tools": req.raw_tools,
            "top_logprobs": 0,
            "top_p": 1.0 if req.top_p is None else req.top_p,
            "truncation": "disabled",
            # Usage once there is some: OpenAI's spec has no null for it (an in-progress response leaves it out).
            **({"usage": self.usage()} if usage else {}),
            **({"user": req.user} if req.user is not None else {}),  # a string when sent; OpenAI's spec has no null
            "metadata": req.metadata,
        }

    def usage(self) -> dict[str, Any]:
        req, out_tokens = self.req, self.choice.completion_tokens
        return {
            "input_tokens": req.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": out_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": req.input_tokens + out_tokens,
        }

    def final_status(self) -> str:
        return "incomplete" if self.incomplete else "completed"


def _echoed_tool(tool: Any) -> Any:
    """A tool as the response object lists it: a function tool with the fields OpenAI fills in when left out
    (`strict` is true by default in the Responses API; no description is null)."""
    if isinstance(tool, dict) and tool.get("type") == "function":
        return {"description": None, "strict": True, **tool}
    return tool


def _remember(framer: _Framer) -> None:
    """Keep the conversation with this response's output, for a follow-up's `previous_response_id`."""
    req, choice = framer.req, framer.choice
    if req.conversations is None:
        return
    if choice.tool_calls:
        tokens = sum(tool_call_tokens(c.name, c.arguments) for c in choice.tool_calls)
        output = chat.Message("assistant", "", tokens)
    else:
        output = chat.Message("assistant", choice.content or "")
    req.conversations.put(framer.id, (*req.history, output))


async def respond(req: ResponsesRequest, ctx: RequestContext) -> dict[str, Any]:
    framer = _Framer(req, ctx, await work.run(ctx.budget, _choice, req))
    await generation_delay(ctx.faults, framer.choice.completion_tokens)
    _remember(framer)
    return framer.response(framer.final_status(), framer.final_items(), usage=True)


def _pieces(text: str) -> list[str]:
    return [text[i : i + 8] for i in range(0, len(text), 8)] or [""]


async def stream(req: ResponsesRequest, ctx: RequestContext) -> AsyncIterator[bytes | CutConnection]:
    """The answer's work, done before the response starts (so a refusal is still a plain 400), then its events."""
    return _events(_Framer(req, ctx, await work.run(ctx.budget, _choice, req)), ctx)


async def _events(framer: _Framer, ctx: RequestContext) -> AsyncIterator[bytes | CutConnection]:
    sequence = iter(range(1_000_000_000))

    def event(kind: str, **fields: Any) -> bytes:
        return sse_event(kind, {"type": kind, "sequence_number": next(sequence), **fields})

    yield event("response.created", response=framer.response("in_progress", [], usage=False))
    yield event("response.in_progress", response=framer.response("in_progress", [], usage=False))
    await first_token_delay(ctx.faults)
    pacing = FailAfter(ctx.faults)

    def failed() -> bytes | CutConnection:
        if ctx.faults.stream_fail_mode == "disconnect":
            return CutConnection()
        response = framer.response("failed", [], usage=False)
        response["error"] = {
            "code": "server_error",
            "message": "The server had an error while streaming the response. (simulated by openai-api-simulator)",
        }
        return event("response.failed", response=response)

    choice = framer.choice
    try:
        if choice.tool_calls:
            for k, call in enumerate(choice.tool_calls):
                item = framer.call_item(k, "in_progress", "")
                yield event("response.output_item.added", output_index=k, item=item)
                async for piece in pacing.paced(_pieces(call.arguments)):
                    yield event(
                        "response.function_call_arguments.delta", item_id=item["id"], output_index=k, delta=piece
                    )
                yield event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=k,
                    name=call.name,
                    arguments=call.arguments,
                )
                yield event(
                    "response.output_item.done", output_index=k, item=framer.call_item(k, "completed", call.arguments)
                )
        else:
            text = choice.content or ""
            ids: dict[str, Any] = {"item_id": framer.message_id, "output_index": 0}
            yield event("response.output_item.added", output_index=0, item=framer.message_item("in_progress", None))
            yield event("response.content_part.added", **ids, content_index=0, part=framer.text_part(""))
            async for token in pacing.paced(choice.tokens):
                yield event("response.output_text.delta", **ids, content_index=0, delta=token, logprobs=[])
            yield event("response.output_text.done", **ids, content_index=0, text=text, logprobs=[])
            yield event("response.content_part.done", **ids, content_index=0, part=framer.text_part(text))
            yield event("response.output_item.done", output_index=0, item=framer.final_items()[0])
        pacing.end()
    except StreamCut:
        yield failed()
        return
    status = framer.final_status()
    kind = "response.incomplete" if status == "incomplete" else "response.completed"
    _remember(framer)
    yield event(kind, response=framer.response(status, framer.final_items(), usage=True))


def parse(body: dict[str, Any], ctx: RequestContext) -> ResponsesRequest:
    return ResponsesRequest(body, ctx.conversations, ctx.budget, ctx.script)


ENDPOINT: Endpoint[ResponsesRequest] = Endpoint("responses", parse, respond, stream, stream_error=typed_error_event)
