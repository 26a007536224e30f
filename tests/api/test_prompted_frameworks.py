"""Prompted JSON as two frameworks ask for it (issue 10, item 6): pydantic-ai's `PromptedOutput`, which writes
the schema into its instructions and sends `json_object`, and LangChain's `with_structured_output(method=
"json_mode")`, which sends `json_object` and leaves the schema (or the keys) to the prompt. Both must parse the
fake's first answer: no retries spent, no parse failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langchain_core.output_parsers import PydanticOutputParser
from langchain_openai import ChatOpenAI
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pydantic import BaseModel, Field, SecretStr
from pydantic_ai import Agent, PromptedOutput
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider


class Address(BaseModel):
    street: str
    city: str


class Person(BaseModel):
    """Someone to write to."""

    name: str
    age: int = Field(ge=0, le=150)
    email: str | None = None
    addresses: list[Address] = Field(min_length=1, max_length=3)


class Joke(BaseModel):
    setup: str
    punchline: str
    rating: int | None = None


class Recorder:
    """Bodies the framework sent, read from an httpx event hook (what it asked for, not what it says it did)."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []

    # `request` is an httpx.Request (LangChain's client) or an httpx2.Request (the openai SDK's own client).
    async def async_hook(self, request: Any) -> None:
        self.sync_hook(request)

    def sync_hook(self, request: Any) -> None:
        self.bodies.append(json.loads(request.content))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _run(base_url: str, recorder: Recorder, model_class: type[Any], output: PromptedOutput[Any], prompt: str) -> Any:
    """What a pydantic-ai Agent with `output` answers to `prompt`, its HTTP client closed on the loop that
    opened its connections (a client passed in is the caller's to close)."""

    async def go() -> Any:
        async with DefaultAsyncHttpxClient(event_hooks={"request": [recorder.async_hook]}) as http:
            client = AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0, http_client=http)
            model = model_class("gpt-sim-1", provider=OpenAIProvider(openai_client=client))
            agent = Agent(model, output_type=output, retries={"output": 0})  # a miss would fail, not retry
            return (await agent.run(prompt)).output

    return asyncio.run(go())


@pytest.mark.parametrize("model_class", [OpenAIChatModel, OpenAIResponsesModel])
def test_pydantic_ai_prompted_output(model_class: type[Any], base_url: str, recorder: Recorder) -> None:
    output = _run(base_url, recorder, model_class, PromptedOutput(Person), "Who should get the invitation?")
    assert isinstance(output, Person)
    assert len(recorder.bodies) == 1  # valid the first time: no retry request
    sent = recorder.bodies[0]
    assert (sent.get("response_format") or sent["text"]["format"]) == {"type": "json_object"}


def test_pydantic_ai_prompted_union_output(base_url: str, recorder: Recorder) -> None:
    output = _run(base_url, recorder, OpenAIChatModel, PromptedOutput([Person, Joke]), "Anything.")
    assert isinstance(output, (Person, Joke))
    assert len(recorder.bodies) == 1


@pytest.fixture
def llm(base_url: str, recorder: Recorder) -> Iterator[ChatOpenAI]:
    with httpx.Client(event_hooks={"request": [recorder.sync_hook]}) as http:
        yield ChatOpenAI(
            base_url=base_url, api_key=SecretStr("sk-test"), model="gpt-sim-1", max_retries=0, http_client=http
        )


def test_langchain_json_mode_with_format_instructions(llm: ChatOpenAI, recorder: Recorder) -> None:
    instructions = PydanticOutputParser(pydantic_object=Person).get_format_instructions()
    structured = llm.with_structured_output(Person, method="json_mode")
    person = structured.invoke(f"Who should get the invitation? Answer in JSON.\n\n{instructions}")
    assert isinstance(person, Person)
    assert recorder.bodies[0]["response_format"] == {"type": "json_object"}


def test_langchain_json_mode_with_keys_in_prose(llm: ChatOpenAI) -> None:
    # LangChain's own json_mode example prompt.
    structured = llm.with_structured_output(Joke, method="json_mode")
    joke = structured.invoke("Tell me a joke about cats, respond in JSON with `setup`, `punchline`, and `rating` keys")
    assert isinstance(joke, Joke)
    assert joke.setup and joke.punchline and isinstance(joke.rating, int)
    untyped = llm.with_structured_output(None, method="json_mode")
    value = untyped.invoke("Tell me a joke about cats, respond in JSON with `setup` and `punchline` keys")
    assert isinstance(value, dict) and list(value) == ["setup", "punchline"]
