"""The baseline for the fake-model benchmark: a bare Starlette app returning a fixed chat.completion."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_BODY = json.dumps(
    {
        "id": "chatcmpl-baseline",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-sim-1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "A fixed answer of about the same size. " * 6},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 60, "total_tokens": 72},
    }
).encode()


async def chat(request: Request) -> Response:
    await request.body()  # read the request, as any real endpoint must
    return Response(_BODY, media_type="application/json")


app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
