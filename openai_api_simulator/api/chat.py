"""POST /v1/chat/completions: request validation, the JSON answer, and the SSE chunk sequence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from openai_api_simulator import limits
from openai_api_simulator.api import caps, tools, work
from openai_api_simulator.api import validate as v
from openai_api_simulator.api.common import (
    SYSTEM_FINGERPRINT,
    FailAfter,
    RequestContext,
    StreamCut,
    chat_usage,
    first_token_delay,
    generation_delay,
    make_id,
)
from openai_api_simulator.api.endpoint import Endpoint
from openai_api_simulator.api.http import DONE, CutConnection, sse_data
from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.fake import chat
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.logprobs import token_logprobs
from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.tokens import count_tokens, tool_call_tokens

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# What an image part costs in usage: OpenAI's base charge for a low-detail image.
IMAGE_TOKENS = 85


def _part_text(part: Any, param: str) -> tuple[str, int]:
    if not isinstance(part, dict):
        raise v.wrong_type(param, "an object", part)
    kind = v.get_str(part, "type", parent=param, required=True)
    if kind in ("text", "input_text", "output_text", "refusal"):
        key = "refusal" if kind == "refusal" else "text"
        return v.get_str(part, key, parent=param, required=True) or "", 0
    if kind in ("image_url", "input_image", "input_audio", "file", "input_file"):
        return "", IMAGE_TOKENS
    raise v.invalid_value(
        f"{param}.type",
        f"'{kind}'. Supported values are: 'text', 'image_url', 'input_audio', 'refusal' and 'file'.",
    )


def content_text(content: Any, param: str, size: caps.InputSize | None = None) -> tuple[str, int]:
    """The text of a message's content (a string or a list of parts) and the tokens of non-text parts.

    `size` counts the text against the request's input limit.
    """
    if content is None:
        return "", 0
    if isinstance(content, str):
        if size is not None:
            size.add(content)
        return content, 0
    if isinstance(content, list):
        texts: list[str] = []
        extra = 0
        for i, part in enumerate(content):
            text, tokens = _part_text(part, f"{param}[{i}]")
            if size is not None:
                size.add(text)
            texts.append(text)
            extra += tokens
        return "\n".join(t for t in texts if t), extra
    raise v.wrong_type(param, "a string or an array of content parts", content)


def parse_messages(raw: Any, budget: Budget | None = None) -> tuple[chat.Message, ...]:
    if raw is None:
        raise v.missing("messages")
    if not isinstance(raw, list):
        raise v.wrong_type("messages", "an array", raw)
    if not raw:
        raise InvalidRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    messages: list[chat.Message] = []
    size = caps.InputSize("messages")
    for i, item in enumerate(raw):
        if budget is not None:
            budget.check()
        param = f"messages[{i}]"
        if not isinstance(item, dict):
            raise v.wrong_type(param, "an object", item)
        role = v.get_str(item, "role", parent=param, required=True)
        if role not in ROLES:
            raise v.invalid_value(
                f"{param}.role",
                f"'{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
            )
        extra = 0
        tool_calls = item.get("tool_calls")
        if role == "assistant" and tool_calls is not None:
            if not isinstance(tool_calls, list):
                raise v.wrong_type(f"{param}.tool_calls", "an array", tool_calls)
            for k, call in enumerate(tool_calls):
                cparam = f"{param}.tool_calls[{k}]"
                if not isinstance(call, dict):
                    raise v.wrong_type(cparam, "an object", call)
                v.get_str(call, "id", parent=cparam, required=True)
                function = v.get_object(call, "function", parent=cparam, required=True) or {}
                name = v.get_str(function, "name", parent=f"{cparam}.function", required=True) or ""
                arguments = v.get_str(function, "arguments", parent=f"{cparam}.function", required=True) or ""
                size.add(name)
                size.add(arguments)
                extra += tool_call_tokens(name, arguments)
        if "content" not in item and not (role == "assistant" and (tool_calls or item.get("function_call"))):
            raise v.missing(f"{param}.content")
        content = item.get("content")
        if content is None and role not in ("assistant",):
            raise v.wrong_type(f"{param}.content", "a string or an array of content parts", content)
        text, part_tokens = content_text(content, f"{param}.content", size)
        if role == "tool":
            v.get_str(item, "tool_call_id", parent=param, required=True)
        author = v.get_str(item, "name", parent=param)
        if author:
            size.add(author)
            extra += count_tokens(author) + 1
        messages.append(chat.Message(role=role, text=text, extra_tokens=extra + part_tokens))
    return tuple(messages)


def parse_response_format(
    body: dict[str, Any], messages: Sequence[chat.Message], budget: Budget | None = None
) -> dict[str, Any] | None:
    """The schema `response_format` asks the answer to follow, or None for text."""
    raw = v.get_object(body, "response_format")
    if raw is None:
        return None
    no_json_word = InvalidRequest(
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
        param="messages",
    )
    return tools.output_schema(raw, "response_format", messages, nested=True, no_json_word=no_json_word, budget=budget)


class ChatRequest:
    """A validated chat request: the conversation plus the framing fields."""

    def __init__(self, body: dict[str, Any], budget: Budget | None = None, script: chat.Script | None = None) -> None:
        budget = budget if budget is not None else Budget()
        self.budget = budget
        self.model = v.require_str(body, "model")
        messages = parse_messages(body.get("messages"), budget)
        function_tools = tools.parse_tools(body, nested=True, budget=budget)
        tool_choice = tools.parse_tool_choice(body, function_tools, nested=True)
        json_schema, schema_param = tools.follow_prompt(
            parse_response_format(body, messages, budget), "response_format", messages, "messages", budget
        )
        self.stream = v.get_bool(body, "stream", False)
        self.include_usage = v.get_stream_options(body, self.stream)
        self.n = v.get_int(body, "n", default=1, lo=1, hi=limits.MAX_N) or 1
        bounds = [
            x
            for x in (
                v.get_int(body, "max_tokens", lo=1, hi=limits.MAX_OUTPUT_TOKENS),
                v.get_int(body, "max_completion_tokens", lo=1, hi=limits.MAX_OUTPUT_TOKENS),
            )
            if x is not None
        ]
        self.max_tokens = min(bounds) if bounds else None
        self.tokens_param = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        self.stop = v.get_stop(body)
        self.logprobs = v.get_bool(body, "logprobs", False)
        self.top_logprobs = v.get_int(body, "top_logprobs", default=0, lo=0, hi=limits.MAX_TOP_LOGPROBS) or 0
        if body.get("top_logprobs") is not None and not self.logprobs:
            raise InvalidRequest(
                "'logprobs' must be set to true when 'top_logprobs' is used.",
                param="top_logprobs",
                code="invalid_value",
            )
        for key, lo, hi in (
            ("temperature", 0, 2),
            ("top_p", 0, 1),
            ("presence_penalty", -2, 2),
            ("frequency_penalty", -2, 2),
        ):
            v.get_number(body, key, lo=lo, hi=hi)
        v.get_int(body, "seed")
        self.conversation = chat.Conversation(
            model=self.model,
            messages=messages,
            tools=function_tools,
            tool_choice=tool_choice,
            parallel_tool_calls=v.get_bool(body, "parallel_tool_calls", True),
            json_schema=json_schema,
            content_seed=chat.content_seed(body),
            schema_param=schema_param,
            script=script,
        )
        self.prompt_tokens = chat.prompt_tokens(messages, function_tools)


def _logprobs_content(req: ChatRequest, choice: chat.Choice) -> list[dict[str, Any]]:
    rng = Rng(req.conversation.content_seed).fork("logprobs", choice.index)
    return [
        {
            "token": lp.token,
            "logprob": lp.logprob,
            "bytes": lp.bytes(),
            "top_logprobs": [{"token": t, "logprob": p, "bytes": list(t.encode())} for t, p in lp.top],
        }
        for lp in token_logprobs(rng, choice.tokens, req.top_logprobs)
    ]


def _tool_calls_json(calls: Sequence[chat.ToolCall]) -> list[dict[str, Any]]:
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]


def _complete(req: ChatRequest) -> list[chat.Choice]:
    """The choices, refused (400) when the answer would be larger than the simulator's limits."""
    choices = chat.complete(req.conversation, n=req.n, max_tokens=req.max_tokens, stop=req.stop, budget=req.budget)
    text_tokens = sum(len(c.tokens) for c in choices if not c.tool_calls)
    caps.answer_size(
        sum(c.completion_tokens for c in choices),
        text_tokens * (1 + req.top_logprobs) if req.logprobs else 0,
        tokens_param=req.tokens_param,
        logprobs_param="top_logprobs",
    )
    return choices


def _all_logprobs(req: ChatRequest, choices: list[chat.Choice]) -> list[list[dict[str, Any]] | None]:
    out: list[list[dict[str, Any]] | None] = []
    for c in choices:
        req.budget.check()
        out.append(_logprobs_content(req, c) if req.logprobs and not c.tool_calls else None)
    return out


def _answer(req: ChatRequest, ctx: RequestContext) -> tuple[dict[str, Any], int]:
    """The JSON answer and the completion tokens of its longest choice: the work `respond` does off the loop."""
    choices = _complete(req)
    completion = sum(c.completion_tokens for c in choices)
    out_choices = []
    for c, lps in zip(choices, _all_logprobs(req, choices), strict=True):
        message: dict[str, Any] = {"role": "assistant", "content": c.content, "refusal": None, "annotations": []}
        if c.tool_calls:
            message["tool_calls"] = _tool_calls_json(c.tool_calls)
        logprobs = {"content": lps, "refusal": None} if lps is not None else None
        out_choices.append(
            {"index": c.index, "message": message, "logprobs": logprobs, "finish_reason": c.finish_reason}
        )
    content = {
        "id": make_id("chatcmpl-", req.conversation.content_seed),
        "object": "chat.completion",
        "created": ctx.created(),
        "model": ctx.model,
        "choices": out_choices,
        "usage": chat_usage(req.prompt_tokens, completion),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    return content, max((c.completion_tokens for c in choices), default=0)


async def respond(req: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
    content, longest = await work.run(ctx.budget, _answer, req, ctx)
    await generation_delay(ctx.faults, longest)
    return content


def _argument_pieces(arguments: str) -> list[str]:
    """Tool-call arguments are streamed in small pieces, as OpenAI does."""
    return [arguments[i : i + 8] for i in range(0, len(arguments), 8)] or [""]


def _prepare(req: ChatRequest) -> tuple[list[chat.Choice], list[list[dict[str, Any]] | None]]:
    choices = _complete(req)
    return choices, _all_logprobs(req, choices)


async def stream(req: ChatRequest, ctx: RequestContext) -> AsyncIterator[bytes | CutConnection]:
    """The answer's work, done before the response starts (so a refusal is still a plain 400), then its events."""
    choices, logprobs_of = await work.run(ctx.budget, _prepare, req)
    return _events(req, ctx, choices, logprobs_of)


async def _events(
    req: ChatRequest,
    ctx: RequestContext,
    choices: list[chat.Choice],
    logprobs_of: list[list[dict[str, Any]] | None],
) -> AsyncIterator[bytes | CutConnection]:
    base: dict[str, Any] = {
        "id": make_id("chatcmpl-", req.conversation.content_seed),
        "object": "chat.completion.chunk",
        "created": ctx.created(),
        "model": ctx.model,
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if req.include_usage:
        base["usage"] = None

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> bytes:
        return sse_data(
            {**base, "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}
        )

    await first_token_delay(ctx.faults)
    pacing = FailAfter(ctx.faults)
    try:
        for c, lps in zip(choices, logprobs_of, strict=True):
            if c.tool_calls:
                yield chunk(c.index, {"role": "assistant", "content": None, "refusal": None})
                for k, call in enumerate(c.tool_calls):
                    head = {
                        "index": k,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                    yield chunk(c.index, {"tool_calls": [head]})
                    async for piece in pacing.paced(_argument_pieces(call.arguments)):
                        yield chunk(c.index, {"tool_calls": [{"index": k, "function": {"arguments": piece}}]})
            else:
                yield chunk(c.index, {"role": "assistant", "content": "", "refusal": None})
                async for i, token in pacing.paced(enumerate(c.tokens)):
                    logprobs = {"content": [lps[i]], "refusal": None} if lps is not None else None
                    yield chunk(c.index, {"content": token}, logprobs=logprobs)
            yield chunk(c.index, {}, finish=c.finish_reason)
        pacing.end()
    except StreamCut:
        yield stream_failure(ctx)
        return
    if req.include_usage:
        completion = sum(c.completion_tokens for c in choices)
        yield sse_data({**base, "choices": [], "usage": chat_usage(req.prompt_tokens, completion)})
    yield DONE


def stream_failure(ctx: RequestContext) -> bytes | CutConnection:
    if ctx.faults.stream_fail_mode == "disconnect":
        return CutConnection()
    return sse_data(
        {
            "error": {
                "message": "The server had an error while streaming the response. (simulated by openai-api-simulator)",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
    )


def parse(body: dict[str, Any], ctx: RequestContext) -> ChatRequest:
    return ChatRequest(body, ctx.budget, ctx.script)


ENDPOINT: Endpoint[ChatRequest] = Endpoint("chat/completions", parse, respond, stream)
