"""The engine's stream framing: a failure after the first chunk is the stream's last event, in OpenAI's shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from openai_api_simulator.engines.nanochat import protocol
from openai_api_simulator.engines.nanochat.generate import Delta, Finish
from openai_api_simulator.engines.nanochat.server import _sse
from openai_api_simulator.errors import for_status


def collect(events: AsyncIterator[Delta | Finish], usage: bool = False) -> list[str]:
    async def run() -> list[bytes]:
        return [part async for part in _sse(protocol.Framer("nanochat"), events, usage)]

    return [part.decode().removeprefix("data: ").strip() for part in asyncio.run(run())]


def test_a_failure_mid_stream_ends_it_with_an_error_event_and_no_done() -> None:
    async def failing() -> AsyncIterator[Delta | Finish]:
        yield Delta("Hel")
        raise for_status(500, "nanochat failed while generating: RuntimeError: device lost")

    parts = collect(failing())
    assert json.loads(parts[1])["choices"][0]["delta"] == {"content": "Hel"}
    error = json.loads(parts[-1])["error"]
    assert error["message"] == "nanochat failed while generating: RuntimeError: device lost"
    assert set(error) >= {"message", "type", "param", "code"}
    assert "[DONE]" not in parts


def test_a_finished_stream_ends_with_usage_then_done() -> None:
    async def fine() -> AsyncIterator[Delta | Finish]:
        yield Delta("Hi")
        yield Finish("stop", 5, 2)

    parts = collect(fine(), usage=True)
    assert parts[-1] == "[DONE]"
    assert json.loads(parts[-2])["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert json.loads(parts[-3])["choices"][0]["finish_reason"] == "stop"
