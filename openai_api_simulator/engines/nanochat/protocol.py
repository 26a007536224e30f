"""The nanochat engine's side of `/v1/chat/completions`: what it accepts, and the OpenAI shapes it answers in.

nanochat is a text chat model with its own calculator; what it cannot honour is refused with a 400 naming the
parameter rather than silently ignored: `tools`/`functions` (it calls no client tools), `n` > 1, `logprobs`,
structured `response_format`, non-text content parts (images, audio, files), and roles its format has no place
for (`tool`, a system message anywhere but first). `developer` is taken as `system`, as OpenAI treats it.
Sampling: `temperature` (0 is greedy), `top_p`, `top_k` (an extension, sent by clients as an extra body
field), `max_tokens`/`max_completion_tokens`, `seed`, `stop`; the defaults are nanochat's chat server's.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from openai_api_simulator.api import validate as v
from openai_api_simulator.engines.nanochat.generate import Finish, Sampling
from openai_api_simulator.engines.nanochat.tokenizer import Turn
from openai_api_simulator.errors import InvalidRequest

# nanochat's chat server caps max_tokens at 4096; the context (2048 for d20) caps it further.
MAX_TOKENS: Final = 4096
DEFAULTS: Final = Sampling()
_ROLES: Final = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_REFUSED: Final = {
    "tools": "nanochat calls no client tools (it has its own calculator)",
    "functions": "nanochat calls no client tools (it has its own calculator)",
    "tool_choice": "nanochat calls no client tools",
    "logprobs": "the nanochat engine does not report logprobs",
    "top_logprobs": "the nanochat engine does not report logprobs",
    "audio": "nanochat answers in text only",
    "prediction": "the nanochat engine does not use predicted outputs",
}


def unsupported(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"Unsupported parameter '{param}': {why}.", param=param, code="unsupported_parameter")


@dataclass(frozen=True)
class ChatRequest:
    turns: tuple[Turn, ...]
    sampling: Sampling
    stream: bool
    include_usage: bool


def _text(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise v.wrong_type(param, "a string or an array of text parts", content)
    texts = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise v.wrong_type(where, "an object", part)
        kind = v.get_str(part, "type", parent=where, required=True)
        if kind != "text":
            raise unsupported(f"{where}.type", f"nanochat reads text only, not {kind!r} parts")
        texts.append(v.get_str(part, "text", parent=where, required=True) or "")
    return "\n".join(texts)


def _turns(body: dict[str, Any]) -> tuple[Turn, ...]:
    messages = v.get_list(body, "messages", required=True) or []
    if not messages:
        raise InvalidRequest("Invalid 'messages': empty array.", param="messages", code="empty_array")
    turns = []
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise v.wrong_type(param, "an object", message)
        role = v.get_str(message, "role", parent=param, required=True) or ""
        if role not in _ROLES:
            raise unsupported(f"{param}.role", f"nanochat has no place for {role!r} messages")
        if message.get("tool_calls"):
            raise unsupported(f"{param}.tool_calls", "nanochat calls no client tools")
        turns.append(Turn(_ROLES[role], _text(message.get("content") or "", f"{param}.content")))
    return tuple(turns)


def parse(body: dict[str, Any]) -> ChatRequest:
    """A validated request, or an `InvalidRequest` naming the parameter."""
    for param, why in _REFUSED.items():
        if body.get(param) not in (None, False, [], {}):
            raise unsupported(param, why)
    if (v.get_int(body, "n", default=1, lo=1) or 1) > 1:
        raise unsupported("n", "the nanochat engine answers one choice per request")
    fmt = v.get_object(body, "response_format")
    if fmt is not None and fmt.get("type", "text") != "text":
        raise unsupported("response_format", "nanochat cannot be held to a JSON format")
    turns = _turns(body)
    limits = [v.get_int(body, k, lo=1, hi=MAX_TOKENS) for k in ("max_tokens", "max_completion_tokens")]
    given = [x for x in limits if x is not None]
    temperature = v.get_number(body, "temperature", lo=0, hi=2)
    top_p = v.get_number(body, "top_p", lo=0, hi=1)
    if top_p == 0:
        raise v.invalid_value("top_p", "expected a number above 0 (use temperature 0 for greedy decoding).")
    top_k = v.get_int(body, "top_k", lo=1)
    stream = v.get_bool(body, "stream", False)
    sampling = Sampling(
        temperature=DEFAULTS.temperature if temperature is None else temperature,
        top_k=DEFAULTS.top_k if top_k is None else top_k,
        top_p=top_p,
        max_tokens=min(given) if given else DEFAULTS.max_tokens,
        seed=v.get_int(body, "seed"),
        stop=tuple(v.get_stop(body)),
    )
    return ChatRequest(turns, sampling, stream, v.get_stream_options(body, stream))


class Framer:
    """The OpenAI objects for one answer: a chat.completion, or the chunks of a stream."""

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.model = model

    def _base(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    @staticmethod
    def usage(finish: Finish) -> dict[str, int]:
        total = finish.prompt_tokens + finish.completion_tokens
        return {
            "prompt_tokens": finish.prompt_tokens,
            "completion_tokens": finish.completion_tokens,
            "total_tokens": total,
        }

    @staticmethod
    def reason(finish: Finish) -> str:
        return "length" if finish.reason == "length" else "stop"

    def completion(self, text: str, finish: Finish) -> dict[str, Any]:
        message = {"role": "assistant", "content": text, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.reason(finish)}
        return {**self._base("chat.completion"), "choices": [choice], "usage": self.usage(finish)}

    def chunk(self, delta: dict[str, Any], finish: Finish | None = None, *, usage: bool) -> dict[str, Any]:
        reason = self.reason(finish) if finish is not None else None
        body = {
            **self._base("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}],
        }
        if usage:
            body["usage"] = None
        return body

    def usage_chunk(self, finish: Finish) -> dict[str, Any]:
        return {**self._base("chat.completion.chunk"), "choices": [], "usage": self.usage(finish)}
