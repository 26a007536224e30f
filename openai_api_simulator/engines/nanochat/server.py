"""The nanochat engine: an OpenAI-compatible chat server for one nanochat model, run by the supervisor.

    python -m openai_api_simulator.engines.nanochat.server --port PORT --model-dir DIR [--raw-model F
        --raw-meta F --raw-tokenizer F] --served-name nanochat --device cpu --dtype float32 [--threads N]

It binds its port at once and answers `GET /health` with 503 "Loading model" (the shape llama-server uses) while
it converts the raw checkpoint (first start only, into `--model-dir`) and loads the model, then 200. A failed
load ends the process with code 1 and the reason in its log, which the supervisor quotes. Like llama-server it
listens on loopback only and, when `OAS_ENGINE_API_KEY` is set (by the supervisor, through the environment so
`ps` does not show it), wants `Authorization: Bearer KEY` on every path but `/health`.

`POST /v1/chat/completions` (see `protocol`) answers one request at a time on one generation thread - the model
uses every core for one answer, so a second one at once would only slow both - with `MAX_WAITING` more queued;
past that a 503 with Retry-After says the engine is busy. A streaming client that disconnects, or a waiting
one that gives up, cancels its generation at the next token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openai_api_simulator.api.auth import APIKeyMiddleware
from openai_api_simulator.api.http import (
    DONE,
    JSONBytes,
    SSEResponse,
    error_response,
    parse_json,
    read_body,
    retry_after,
    sse_data,
)
from openai_api_simulator.engines.nanochat import protocol
from openai_api_simulator.engines.nanochat.generate import Delta, Finish, Generator
from openai_api_simulator.engines.nanochat.tokenizer import RenderError
from openai_api_simulator.errors import APIError, InvalidRequest, for_status

log = logging.getLogger("openai_api_simulator.nanochat")

KEY_ENV: Final = "OAS_ENGINE_API_KEY"
# Requests queued behind the one being answered; more would only wait for minutes.
MAX_WAITING: Final = 8
# Chat requests are small; a prompt longer than the context is refused anyway.
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
# Seconds a client turned away as busy is told to wait: about one short answer.
BUSY_RETRY_AFTER_S: Final = 2
# How often a waiting non-streaming request checks that its client is still there.
DISCONNECT_POLL: Final = 0.25


@dataclass
class Job:
    prompt: list[int]
    request: protocol.ChatRequest
    events: asyncio.Queue[Delta | Finish | BaseException]
    loop: asyncio.AbstractEventLoop
    cancelled: threading.Event = field(default_factory=threading.Event)

    def put(self, event: Delta | Finish | BaseException) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)


class Engine:
    """The loaded model (once it is), and the one thread that generates with it."""

    def __init__(self, served_name: str, max_waiting: int = MAX_WAITING) -> None:
        self.served_name = served_name
        self.max_waiting = max_waiting
        self.generator: Generator | None = None
        # The job being answered has left the queue: what the queue holds is what waits.
        self.jobs: queue.Queue[Job] = queue.Queue(maxsize=max(1, max_waiting))
        self.busy = threading.Lock()  # held while a job is being answered

    def work(self) -> None:
        while True:
            job = self.jobs.get()
            assert self.generator is not None
            with self.busy:
                try:
                    if job.cancelled.is_set():
                        continue
                    for event in self.generator.stream(job.prompt, job.request.sampling, job.cancelled):
                        if isinstance(event, Finish) and event.reason == "cancelled":
                            log.warning(
                                "generation cancelled after %d tokens: the client went away", event.completion_tokens
                            )
                        job.put(event)
                except BaseException as exc:  # a bug or the device failing: the client hears it, the engine goes on
                    log.exception("generation failed")
                    job.put(exc)

    def submit(self, job: Job) -> None:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            error = for_status(
                503, f"The nanochat engine is busy ({MAX_WAITING} requests already wait); retry shortly."
            )
            error.headers["Retry-After"] = retry_after(BUSY_RETRY_AFTER_S)
            raise error from None


def _events(engine: Engine, job: Job) -> AsyncIterator[Delta | Finish]:
    async def pump() -> AsyncIterator[Delta | Finish]:
        try:
            while True:
                event = await job.events.get()
                if isinstance(event, BaseException):
                    raise for_status(500, f"nanochat failed while generating: {type(event).__name__}: {event}")
                yield event
                if isinstance(event, Finish):
                    return
        finally:
            job.cancelled.set()  # finished, failed or abandoned: the thread stops at its next token either way

    return pump()


def create_app(engine: Engine, load: Any) -> Starlette:
    async def health(request: Request) -> Response:
        if engine.generator is None:
            body = {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}
            return JSONBytes(body, status_code=503)
        return JSONBytes({"status": "ok"})

    async def models(request: Request) -> Response:
        card = {"id": engine.served_name, "object": "model", "created": int(time.time()), "owned_by": "nanochat"}
        return JSONBytes({"object": "list", "data": [card]})

    async def chat(request: Request) -> Response:
        generator = engine.generator
        if generator is None:
            raise for_status(503, "Loading model")
        parsed = protocol.parse(parse_json(await read_body(request, MAX_BODY_BYTES)))
        try:
            prompt = generator.tokenizer.render(parsed.turns)
        except RenderError as exc:
            raise InvalidRequest(str(exc), param=exc.param, code="invalid_value") from None
        if len(prompt) >= generator.context:
            raise InvalidRequest(
                f"The conversation is {len(prompt)} tokens; nanochat's context is {generator.context}.",
                param="messages",
                code="context_length_exceeded",
            )
        job = Job(prompt, parsed, asyncio.Queue(), asyncio.get_running_loop())
        engine.submit(job)
        framer = protocol.Framer(engine.served_name)
        if parsed.stream:
            return SSEResponse(_sse(framer, _events(engine, job), parsed.include_usage))
        return await _complete(request, framer, _events(engine, job), job)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIError)
        return error_response(exc)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=load, name="nanochat-load", daemon=True).start()
        threading.Thread(target=engine.work, name="nanochat-generate", daemon=True).start()
        yield

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ],
        exception_handlers={APIError: api_error},
        lifespan=lifespan,
    )
    key = os.environ.get(KEY_ENV)
    if key:
        app.add_middleware(APIKeyMiddleware, key=key)
    return app


async def _sse(framer: protocol.Framer, events: AsyncIterator[Delta | Finish], usage: bool) -> AsyncIterator[bytes]:
    yield sse_data(framer.chunk({"role": "assistant", "content": ""}, usage=usage))
    try:
        async for event in events:
            if isinstance(event, Delta):
                yield sse_data(framer.chunk({"content": event.text}, usage=usage))
            else:
                yield sse_data(framer.chunk({}, event, usage=usage))
                if usage:
                    yield sse_data(framer.usage_chunk(event))
    except APIError as error:  # the answer has started: the failure can only be the stream's last event
        yield sse_data(error.body())
        return
    yield DONE


async def _complete(
    request: Request, framer: protocol.Framer, events: AsyncIterator[Delta | Finish], job: Job
) -> Response:
    """The whole answer, cancelled if the client goes away while it waits."""

    async def collect() -> tuple[str, Finish]:
        parts: list[str] = []
        async for event in events:
            if isinstance(event, Delta):
                parts.append(event.text)
            else:
                return "".join(parts), event
        raise RuntimeError("the generation ended without a finish")

    task = asyncio.ensure_future(collect())
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=DISCONNECT_POLL)
            if not task.done() and await request.is_disconnected():
                job.cancelled.set()
    finally:
        if not task.done():
            task.cancel()
    text, finish = await task
    return JSONBytes(framer.completion(text, finish))


def _load(engine: Engine, args: argparse.Namespace) -> None:
    try:
        import torch

        from openai_api_simulator.engines.nanochat import checkpoint

        torch.set_num_threads(args.threads)
        model_dir = Path(args.model_dir)
        if args.raw_model:
            started = time.monotonic()
            raw = checkpoint.RawCheckpoint(Path(args.raw_model), Path(args.raw_meta), Path(args.raw_tokenizer))
            if not (model_dir / checkpoint.MARKER).is_file():
                log.warning("converting %s into %s (first start only)", raw.model, model_dir)
                checkpoint.convert(raw, model_dir)
                log.warning("converted in %.1f s", time.monotonic() - started)
        started = time.monotonic()
        model, tokenizer = checkpoint.load(model_dir, device=args.device, dtype=getattr(torch, args.dtype))
        engine.generator = Generator(model, tokenizer, args.device)
        log.warning(
            "nanochat (%s) loaded from %s on %s in %s in %.1f s",
            checkpoint.state_summary(model),
            model_dir,
            args.device,
            args.dtype,
            time.monotonic() - started,
        )
    except BaseException as exc:  # nothing to serve: end, so the supervisor reports why
        log.error("nanochat could not load: %s: %s", type(exc).__name__, exc)
        logging.shutdown()
        os._exit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m openai_api_simulator.engines.nanochat.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-dir", required=True, help="converted (or Hugging Face layout) model folder")
    parser.add_argument("--raw-model", help="model_<step>.pt to convert into --model-dir on first start")
    parser.add_argument("--raw-meta")
    parser.add_argument("--raw-tokenizer")
    parser.add_argument("--served-name", default="nanochat")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max-waiting", type=int, default=MAX_WAITING, help="requests queued behind the current one")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(asctime)s nanochat: %(message)s")
    # stderr is the engine's log file: a carriage-return progress bar there is noise, the start-up lines say enough.
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    import uvicorn

    from openai_api_simulator.errors import StartupError
    from openai_api_simulator.server import Server, bind_socket

    engine = Engine(args.served_name, args.max_waiting)
    app = create_app(engine, lambda: _load(engine, args))
    try:
        sock = bind_socket(args.host, args.port)
    except StartupError as exc:  # the supervisor reads "address already in use" and picks another port
        print(f"nanochat: address already in use: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    with contextlib.closing(sock):
        Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
