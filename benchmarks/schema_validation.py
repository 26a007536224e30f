"""Tool-call requests with `jsonschema` validation ÷ the same requests with the hand-written validator.

Every request goes the full path through the Starlette app, called as uvicorn calls it (an ASGI call with
the body, no socket): body read, memo lookup, JSON parse, request validation (each tool schema is checked
and gets a trial generation), the tool-call answer, serialisation.  Every request is new to the server
(the prompt carries a counter), so neither the response memo nor the answer cache helps.

The hand-written validator is the generator as it was before `jsonschema` (commit `BEFORE`), read from
git into a temporary module at run time; the API layer is pointed at one implementation or the other
between rounds, which alternate so drift on the machine hits both.  Two workloads:

- same tools: four tool schemas sent with every request, as agents and test suites do (validators come
  from the cache after the first request);
- new tools: one property description carries the counter too, so every schema is new and every request
  builds its validators.

A second, instrumented pass times the validation alone (every call into the validator, timed where the
generator makes it), so the share of a request that checking takes can be read without the rest of the
changes between the two versions.

Run: python benchmarks/schema_validation.py [--rounds 9] [--requests 200]  (from a git checkout)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openai_api_simulator.api import tools as tools_api
from openai_api_simulator.app import create_app
from openai_api_simulator.config import Settings
from openai_api_simulator.fake import chat as fake_chat
from openai_api_simulator.fake import schema as current
from openai_api_simulator.fake.schema import validate

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "dde9cb2"  # the last commit with the hand-written validator (fake/schema.py)
PATH = "/v1/chat/completions"

WEATHER = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City and country"},
        "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "hourly": {"type": "boolean"},
    },
    "required": ["location", "unit", "days", "hourly"],
    "additionalProperties": False,
}
SEARCH = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1},
        "filters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"enum": ["author", "year", "tag"]},
                    "value": {"type": "string", "maxLength": 40},
                },
                "required": ["field", "value"],
                "additionalProperties": False,
            },
            "maxItems": 4,
        },
        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
    },
    "required": ["query"],
}
EVENT = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "start": {"type": "string", "format": "date-time"},
        "attendees": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 1},
        "room": {"type": "string", "pattern": "^[A-Z]-\\d{3}$"},
    },
    "required": ["title", "start", "attendees"],
}
ORDER = {  # the shape pydantic gives a model with a nested model and an optional field
    "$defs": {
        "Item": {
            "type": "object",
            "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
            "required": ["sku", "quantity"],
        }
    },
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
    },
    "required": ["items"],
}
TOOLS = {"get_weather": WEATHER, "search_documents": SEARCH, "create_event": EVENT, "place_order": ORDER}


def load_before() -> types.ModuleType:
    """The generator with the hand-written validator, from git, as a module that exists only in memory."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BEFORE}:openai_api_simulator/fake/schema.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("schema_before_jsonschema")
    sys.modules[module.__name__] = module  # dataclasses look their module up while the class is created
    exec(compile(source, f"{BEFORE}:openai_api_simulator/fake/schema.py", "exec"), module.__dict__)
    return module


def use(implementation: types.ModuleType) -> None:
    """Point the API layer (schema checks) and the fake (generation) at one implementation."""
    vars(tools_api)["schema"] = implementation
    vars(fake_chat)["schema_gen"] = implementation


def body(n: int, *, new_tools: bool) -> bytes:
    tools = []
    for name, parameters in TOOLS.items():
        if new_tools:
            parameters = json.loads(json.dumps(parameters))
            parameters["properties"][next(iter(parameters["properties"]))]["description"] = f"variant {n}"
        tools.append({"type": "function", "function": {"name": name, "parameters": parameters}})
    name = list(TOOLS)[n % len(TOOLS)]
    prompt = f"Request {n}: please {name.replace('_', ' ')} for the Lisbon office."
    request = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": prompt}], "tools": tools}
    return json.dumps(request).encode()


async def post(app: Any, payload: bytes) -> bytes:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 3080),
    }
    delivered = False
    status = 0
    out: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            out.append(message.get("body", b""))

    await app(scope, receive, send)
    if status != 200:
        raise RuntimeError(f"status {status}: {b''.join(out)[:300]!r}")
    return b"".join(out)


def seconds_per_request(app: Any, payloads: list[bytes]) -> float:
    async def run() -> float:
        start = time.process_time()  # CPU time: other work on a shared machine does not count
        for payload in payloads:
            await post(app, payload)
        return (time.process_time() - start) / len(payloads)

    return asyncio.run(run())


class Stopwatch:
    """Adds up the time spent in some methods of a class, counting nested calls once."""

    def __init__(self, cls: type, names: list[str]) -> None:
        self.total = 0.0
        self._cls = cls
        self._originals = {name: vars(cls)[name] for name in names}
        self._depth = 0

    def __enter__(self) -> Stopwatch:
        for name, original in self._originals.items():
            setattr(self._cls, name, self._timed(original))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._originals.items():
            setattr(self._cls, name, original)

    def _timed(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return function(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()  # not process_time: a system call per call would swamp short checks
            try:
                return function(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start
                self._depth -= 1

        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=200, help="requests per round and implementation")
    args = parser.parse_args()
    before = load_before()
    app = create_app(Settings(fixed_created=0))
    implementations = {"hand-written": before, "jsonschema": current}
    counter = iter(range(10**9))

    def payloads(new_tools: bool) -> list[bytes]:
        return [body(next(counter), new_tools=new_tools) for _ in range(args.requests)]

    # Warm up both (imports, the validator cache for the fixed tools) and check that they answer tool calls.
    for implementation in implementations.values():
        use(implementation)
        answer = json.loads(asyncio.run(post(app, body(next(counter), new_tools=False))))
        assert answer["choices"][0]["message"]["tool_calls"], answer
        seconds_per_request(app, payloads(False))

    results: dict[tuple[str, str], list[float]] = {}
    workloads: dict[str, Callable[[], list[bytes]]] = {
        "same tools": lambda: payloads(False),
        "new tools": lambda: payloads(True),
    }
    for round_index in range(args.rounds):
        names = list(implementations)
        if round_index % 2:
            names.reverse()
        for workload, make in workloads.items():
            for name in names:
                work = make()  # built outside the timed part: it is the client's work
                use(implementations[name])
                results.setdefault((workload, name), []).append(seconds_per_request(app, work))

    stopwatches: dict[str, Callable[[], Stopwatch]] = {
        "hand-written": lambda: Stopwatch(before._Generator, ["_error"]),
        "jsonschema": lambda: Stopwatch(validate.Checker, ["__init__", "error", "is_valid"]),
    }
    checking: dict[tuple[str, str], list[float]] = {}
    for _ in range(max(3, args.rounds // 3)):
        for workload, make in workloads.items():
            for name in implementations:
                work = make()
                use(implementations[name])
                with stopwatches[name]() as stopwatch:
                    seconds_per_request(app, work)
                checking.setdefault((workload, name), []).append(stopwatch.total / len(work))
    use(current)

    print(f"{args.rounds} rounds x {args.requests} distinct requests per implementation and workload (CPU time)")
    print(f"{'workload':<12} {'hand-written':>14} {'jsonschema':>12} {'ratio':>7}  per-round ratios")
    for workload in workloads:
        old, new = results[(workload, "hand-written")], results[(workload, "jsonschema")]
        ratios = sorted(n / o for n, o in zip(new, old, strict=True))
        print(
            f"{workload:<12} {statistics.median(old) * 1e6:>11.0f} µs {statistics.median(new) * 1e6:>9.0f} µs "
            f"{statistics.median(new) / statistics.median(old):>7.3f}  {ratios[0]:.3f}-{ratios[-1]:.3f}"
        )
    print("validation alone, per request (instrumented rounds), and the difference as a share of the request:")
    for workload in workloads:
        old_check = statistics.median(checking[(workload, "hand-written")])
        new_check = statistics.median(checking[(workload, "jsonschema")])
        request = statistics.median(results[(workload, "hand-written")])
        print(
            f"{workload:<12} {old_check * 1e6:>11.0f} µs {new_check * 1e6:>9.0f} µs "
            f"{(new_check - old_check) / request:>+7.1%}  of a hand-written request"
        )


if __name__ == "__main__":
    main()
