"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API on the fake model.

An Anthropic request is read into the same `fake.chat.Conversation` a chat request becomes, so the answer comes
from the same deterministic generator (same request → same bytes) and scripted rules apply unchanged. The
mapping: `system` → a system message; a user turn's `tool_result` blocks → tool messages (before the turn's
text, which is where Anthropic requires them), so a conversation ending in tool results is answered in text;
`tool_choice` any → required, tool → that function name; `stop_sequences` and `max_tokens` bound the answer as
`stop` and `max_tokens` do on chat. Errors are raised as `APIError`s and turned into Anthropic's error shape by
`api.anthropic_errors` on these routes.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from openai_api_simulator import limits
from openai_api_simulator.api import caps, tools, work
from openai_api_simulator.api.anthropic_errors import error_event
from openai_api_simulator.api.common import FailAfter, RequestContext, StreamCut, first_token_delay, generation_delay
from openai_api_simulator.api.common import make_id as _make_id
from openai_api_simulator.api.endpoint import Endpoint
from openai_api_simulator.api.http import CutConnection, sse_event
from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.fake import chat
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.tokens import count_tokens, split_tokens, tool_call_tokens

# What an image or document block costs in usage: a small fixed charge, as chat counts image parts.
IMAGE_TOKENS: Final = 85
_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")  # Anthropic's rule for tool names
# The content blocks a turn may hold (which role may send which is checked where each is read).
_BLOCKS: Final = ("text", "image", "document", "tool_result", "tool_use", "thinking", "redacted_thinking")
# A script (`testdouble.rules`) words its finish reason as chat does; the Messages API says it its own way.
_STOP_REASONS: Final = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message)


def _typed(body: dict[str, Any], key: str, kinds: tuple[type, ...], word: str, path: str = "") -> Any:
    """`body[key]` when it has one of `kinds` (None when absent or null); 400 otherwise."""
    value = body.get(key)
    where = f"{path}.{key}" if path else key
    if value is None or (isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)):
        return value
    raise _invalid(f"{where}: Input should be {word}")


def _required(body: dict[str, Any], key: str, path: str = "") -> Any:
    if body.get(key) is None:
        raise _invalid(f"{path}.{key}: Field required" if path else f"{key}: Field required")
    return body[key]


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> None:
    value = _typed(body, key, (int, float), "a valid number")
    if value is not None and not lo <= value <= hi:
        raise _invalid(f"{key}: Input should be between {lo:g} and {hi:g}")


def _text_blocks(value: Any, path: str) -> str:
    """`system` (or a tool result's content): a string or a list of text blocks."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _invalid(f"{path}: Input should be a valid string or a list of text blocks")
    texts = []
    for i, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _invalid(f"{path}.{i}.type: Input should be 'text'")
        texts.append(_required_str(block, "text", f"{path}.{i}"))
    return "\n".join(texts)


def _required_str(body: dict[str, Any], key: str, path: str) -> str:
    value = _required(body, key, path)
    if not isinstance(value, str):
        raise _invalid(f"{path}.{key}: Input should be a valid string")
    return value


def _tool_result(block: dict[str, Any], path: str, size: caps.InputSize) -> tuple[str, int]:
    _required_str(block, "tool_use_id", path)
    content = block.get("content")
    if content is None:
        return "", 0
    if isinstance(content, str):
        size.add(content)
        return content, 0
    if not isinstance(content, list):
        raise _invalid(f"{path}.content: Input should be a valid string or a list of content blocks")
    texts, extra = [], 0
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(_required_str(part, "text", f"{path}.content.{i}"))
            size.add(texts[-1])
        elif kind in ("image", "document", "search_result"):
            extra += IMAGE_TOKENS
        else:
            raise _invalid(f"{path}.content.{i}.type: Input should be 'text', 'image', 'document' or 'search_result'")
    return "\n".join(texts), extra


def _turn(role: str, content: Any, path: str, size: caps.InputSize) -> list[chat.Message]:
    """One Anthropic turn as chat messages: its tool results (as tool messages), then its text."""
    if isinstance(content, str):
        size.add(content)
        return [chat.Message(role=role, text=content)]
    if not isinstance(content, list):
        raise _invalid(f"{path}.content: Input should be a valid string or a list of content blocks")
    results: list[chat.Message] = []
    texts: list[str] = []
    extra = 0
    for i, block in enumerate(content):
        where = f"{path}.content.{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(block, dict) or kind not in _BLOCKS:
            names = ", ".join(f"'{k}'" for k in _BLOCKS)
            raise _invalid(f"{where}.type: Input should be one of {names}")
        if kind == "text":
            texts.append(_required_str(block, "text", where))
            size.add(texts[-1])
        elif kind in ("image", "document"):
            source = _required(block, "source", where)
            if not isinstance(source, dict):
                raise _invalid(f"{where}.source: Input should be a valid dictionary")
            extra += IMAGE_TOKENS
        elif kind == "tool_use":
            if role != "assistant":
                raise _invalid(f"{where}: tool_use blocks may only appear in assistant messages")
            _required_str(block, "id", where)
            name = _required_str(block, "name", where)
            arguments = json.dumps(block.get("input", {}), separators=(",", ":"))
            size.add(arguments)
            extra += tool_call_tokens(name, arguments)
        elif kind == "tool_result":
            if role != "user":
                raise _invalid(f"{where}: tool_result blocks may only appear in user messages")
            text, tokens = _tool_result(block, where, size)
            results.append(chat.Message(role="tool", text=text, extra_tokens=tokens))
        else:  # thinking blocks of an earlier answer: sent back as they came, they cost their text
            extra += count_tokens(str(block.get("thinking", "")))
    if texts or extra or not results:
        return [*results, chat.Message(role=role, text="\n".join(texts), extra_tokens=extra)]
    return results


def parse_messages(raw: Any, budget: Budget) -> tuple[chat.Message, ...]:
    if raw is None:
        raise _invalid("messages: Field required")
    if not isinstance(raw, list):
        raise _invalid("messages: Input should be a valid list")
    if not raw:
        raise _invalid("messages: at least one message is required")
    size = caps.InputSize("messages")
    out: list[chat.Message] = []
    for i, item in enumerate(raw):
        budget.check()
        path = f"messages.{i}"
        if not isinstance(item, dict):
            raise _invalid(f"{path}: Input should be a valid dictionary")
        role = _required(item, "role", path)
        if role not in ("user", "assistant"):
            raise _invalid(f"{path}.role: Input should be 'user' or 'assistant'")
        for message in _turn(role, _required(item, "content", path), path, size):
            if out and message.role == out[-1].role and role == message.role:
                # Consecutive turns of one role are one turn to Anthropic: the generator reads them so too.
                last = out.pop()
                text = "\n".join(t for t in (last.text, message.text) if t)
                message = chat.Message(role, text, last.extra_tokens + message.extra_tokens)
            out.append(message)
    return tuple(out)


def parse_tools(body: dict[str, Any], budget: Budget) -> tuple[chat.Tool, ...]:
    items = _typed(body, "tools", (list,), "a valid list") or []
    caps.array_length("tools", items, limits.MAX_TOOLS)
    parsed: list[chat.Tool] = []
    for i, item in enumerate(items):
        path = f"tools.{i}"
        if not isinstance(item, dict):
            raise _invalid(f"{path}: Input should be a valid dictionary")
        if item.get("type", "custom") != "custom":
            raise _invalid(f"{path}.type: the simulator supports client tools (type 'custom') only")
        name = _required_str(item, "name", path)
        if not _NAME.match(name):
            raise _invalid(f"{path}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = _required(item, "input_schema", path)
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise _invalid(f"{path}.input_schema.type: Input should be 'object'")
        tools.check_schema(schema, f"{path}.input_schema", budget)
        description = _typed(item, "description", (str,), "a valid string", path) or ""
        parsed.append(chat.Tool(name=name, description=description, parameters=schema))
    names = [t.name for t in parsed]
    if len(set(names)) != len(names):
        raise _invalid("tools: Tool names must be unique.")
    return tuple(parsed)


def parse_tool_choice(body: dict[str, Any], offered: tuple[chat.Tool, ...]) -> tuple[chat.ToolChoice, bool]:
    """`tool_choice` as chat says it, and whether parallel tool use is allowed."""
    raw = _typed(body, "tool_choice", (dict,), "a valid dictionary")
    if raw is None:
        return "auto", True
    kind = raw.get("type")
    if kind not in ("auto", "any", "tool", "none"):
        raise _invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    parallel = not _typed(raw, "disable_parallel_tool_use", (bool,), "a valid boolean", "tool_choice")
    if kind != "none" and not offered:
        raise _invalid("tool_choice: tool_choice may only be specified while providing tools.")
    if kind == "tool":
        name = _required_str(raw, "name", "tool_choice")
        if name not in {t.name for t in offered}:
            raise _invalid(f"tool_choice.name: Tool '{name}' not found in provided tools")
        return name, parallel
    return {"auto": "auto", "any": "required", "none": "none"}[kind], parallel


@dataclass
class MessagesRequest:
    """A validated Messages request (or a count_tokens one, which has no `max_tokens`)."""

    conversation: chat.Conversation
    input_tokens: int
    budget: Budget
    max_tokens: int = 0
    stop_sequences: tuple[str, ...] = ()
    stream: bool = False


def read_request(body: dict[str, Any], ctx: RequestContext, *, counting: bool) -> MessagesRequest:
    budget = ctx.budget
    max_tokens = 0
    if not counting:
        max_tokens = _required(body, "max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise _invalid("max_tokens: Input should be a valid integer")
        if not 1 <= max_tokens <= limits.MAX_OUTPUT_TOKENS:
            raise _invalid(
                f"max_tokens: {max_tokens} is not within 1 and {limits.MAX_OUTPUT_TOKENS}, the range the "
                "simulator allows"
            )
    system: list[chat.Message] = []
    if body.get("system") is not None:
        system.append(chat.Message(role="system", text=_text_blocks(body["system"], "system")))
    messages = (*system, *parse_messages(body.get("messages"), budget))
    offered = parse_tools(body, budget)
    choice, parallel = parse_tool_choice(body, offered)
    stops = _typed(body, "stop_sequences", (list,), "a valid list") or []
    for i, stop in enumerate(stops):
        if not isinstance(stop, str) or not stop.strip():
            raise _invalid(f"stop_sequences.{i}: each stop sequence must be a non-empty string")
    _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    top_k = _typed(body, "top_k", (int,), "a valid integer")
    if top_k is not None and top_k < 0:
        raise _invalid("top_k: Input should be greater than or equal to 0")
    metadata = _typed(body, "metadata", (dict,), "a valid dictionary") or {}
    _typed(metadata, "user_id", (str,), "a valid string", "metadata")
    stream = bool(_typed(body, "stream", (bool,), "a valid boolean"))
    conversation = chat.Conversation(
        model=ctx.model,
        messages=messages,
        tools=offered,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        content_seed="messages/" + chat.content_seed(body),
        schema_param="tools",
        script=ctx.script,
    )
    return MessagesRequest(
        conversation, chat.prompt_tokens(messages, offered), budget, max_tokens, tuple(stops), stream and not counting
    )


# -- the answer


@dataclass(frozen=True)
class Reply:
    """The answer as Anthropic words it: its content blocks (text, or tool uses), why it stopped, its size."""

    text: str | None
    tokens: tuple[str, ...]
    tool_uses: tuple[tuple[str, str, str], ...]  # (id, name, input as JSON text)
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int

    def blocks(self) -> list[dict[str, Any]]:
        if self.tool_uses:
            return [
                {"type": "tool_use", "id": i, "name": name, "input": json.loads(args)}
                for i, name, args in self.tool_uses
            ]
        return [{"type": "text", "text": self.text or ""}]


def _tool_use_id(call_id: str) -> str:
    """Anthropic's `toolu_01…` form of a generated call id (the same letters, so the same request keeps it)."""
    return "toolu_01" + call_id.removeprefix("call_")[:22]


def answer(req: MessagesRequest) -> Reply:
    """The generator's (or a script's) answer, bounded by `stop_sequences` and then `max_tokens`."""
    (choice,) = chat.complete(req.conversation, n=1, max_tokens=None, stop=(), budget=req.budget)
    script = req.conversation.script
    scripted_reason = _STOP_REASONS.get(script.finish_reason or "") if script is not None else None
    if choice.tool_calls:
        uses = tuple((_tool_use_id(c.id), c.name, c.arguments) for c in choice.tool_calls)
        return Reply(None, (), uses, scripted_reason or "tool_use", None, choice.completion_tokens)
    text, tokens = choice.content or "", choice.tokens
    reason, matched = "end_turn", None
    hits = [(pos, s) for s in req.stop_sequences if (pos := text.find(s)) >= 0]
    if hits:
        pos, matched = min(hits)
        text = text[:pos]
        tokens = tuple(split_tokens(text))
        reason = "stop_sequence"
    if len(tokens) > req.max_tokens:
        tokens = tokens[: req.max_tokens]
        text, reason, matched = "".join(tokens), "max_tokens", None
    caps.answer_size(len(tokens), 0, tokens_param="max_tokens", logprobs_param="")
    return Reply(text, tokens, (), scripted_reason or reason, matched, len(tokens))


def _usage(req: MessagesRequest, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": req.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message(req: MessagesRequest, ctx: RequestContext, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": _make_id("msg_01", req.conversation.content_seed, 22),
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": content,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(req, 0),
    }


def _respond_now(req: MessagesRequest, ctx: RequestContext) -> tuple[dict[str, Any], int]:
    reply = answer(req)
    message = _message(req, ctx, reply.blocks())
    message.update(
        stop_reason=reply.stop_reason, stop_sequence=reply.stop_sequence, usage=_usage(req, reply.output_tokens)
    )
    return message, reply.output_tokens


async def respond(req: MessagesRequest, ctx: RequestContext) -> dict[str, Any]:
    message, output_tokens = await work.run(ctx.budget, _respond_now, req, ctx)
    await generation_delay(ctx.faults, output_tokens)
    return message


async def stream(req: MessagesRequest, ctx: RequestContext) -> AsyncIterator[bytes | CutConnection]:
    """The answer's work first (a refusal is still a plain HTTP error), then Anthropic's event sequence."""
    reply = await work.run(ctx.budget, answer, req)
    return _events(req, ctx, reply)


def _pieces(arguments: str) -> list[str]:
    """Tool inputs are streamed in small pieces of JSON text, as Anthropic does."""
    return [arguments[i : i + 8] for i in range(0, len(arguments), 8)] or [""]


async def _events(req: MessagesRequest, ctx: RequestContext, reply: Reply) -> AsyncIterator[bytes | CutConnection]:
    start = _message(req, ctx, [])
    start["usage"] = _usage(req, 1)  # Anthropic's message_start counts the first output token
    await first_token_delay(ctx.faults)
    yield sse_event("message_start", {"type": "message_start", "message": start})
    pacing = FailAfter(ctx.faults)
    try:
        if reply.tool_uses:
            for index, (use_id, name, arguments) in enumerate(reply.tool_uses):
                head = {"type": "tool_use", "id": use_id, "name": name, "input": {}}
                yield _block_start(index, head)
                if index == 0:
                    yield sse_event("ping", {"type": "ping"})
                async for piece in pacing.paced(_pieces(arguments)):
                    yield _delta(index, {"type": "input_json_delta", "partial_json": piece})
                yield sse_event("content_block_stop", {"type": "content_block_stop", "index": index})
        else:
            yield _block_start(0, {"type": "text", "text": ""})
            yield sse_event("ping", {"type": "ping"})
            async for token in pacing.paced(reply.tokens):
                yield _delta(0, {"type": "text_delta", "text": token})
            yield sse_event("content_block_stop", {"type": "content_block_stop", "index": 0})
        pacing.end()
    except StreamCut:
        if ctx.faults.stream_fail_mode == "disconnect":
            yield CutConnection()
        else:
            yield stream_error("The server had an error while streaming the response. (simulated)", "api_error")
        return
    delta = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence}
    usage = {k: v for k, v in _usage(req, reply.output_tokens).items() if k != "service_tier"}
    yield sse_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
    yield sse_event("message_stop", {"type": "message_stop"})


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    return sse_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def stream_error(message: str, code: str) -> bytes:
    """A failure after the stream began: Anthropic's `error` event (its SDKs raise it as an APIError)."""
    return error_event("api_error" if code in ("api_error", "bad_gateway") else code, message)


# -- count_tokens


async def count(req: MessagesRequest, ctx: RequestContext) -> dict[str, Any]:
    return {"input_tokens": req.input_tokens}


def parse(body: dict[str, Any], ctx: RequestContext) -> MessagesRequest:
    return read_request(body, ctx, counting=False)


def parse_count(body: dict[str, Any], ctx: RequestContext) -> MessagesRequest:
    return read_request(body, ctx, counting=True)


# Anthropic's answers carry no `created`: the memo keeps them whole.
ENDPOINT: Endpoint[MessagesRequest] = Endpoint("messages", parse, respond, stream, stream_error, timeless=True)
COUNT_TOKENS: Endpoint[MessagesRequest] = Endpoint("messages/count_tokens", parse_count, count, timeless=True)
