"""The hardening issue's attacker run: every hostile request it lists, against a served fake, with `/health` watched.

One `serve` process; each request below is sent alone while another process asks `GET /health` every 10 ms,
then those of up to 64 KB all at once, `--rounds` times. Printed: each request's size, status, time, answer
size and the slowest `/health` while it was served; the same for the bursts; the server's RSS at the end;
whether any answer was a 5xx, not strict JSON, or slower than 5 s; the tracebacks in the server's log.

Run: python benchmarks/hostile.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import wait_http
from openai_api_simulator.testing import free_port

MIB = 1024 * 1024
# "A request of a few KB" (the issue): the burst sends these; the larger ones are measured one at a time.
SMALL = 64 * 1024
CHAT = "/v1/chat/completions"


def _tools(schema: dict[str, Any]) -> bytes:
    body = {
        "model": "gpt-sim-1",
        "messages": [{"role": "user", "content": "call it"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
        "tool_choice": "required",
    }
    return json.dumps(body).encode()


def _recursive_defs(size: int) -> dict[str, Any]:
    defs = {
        f"d{i}": {
            "type": "object",
            "properties": {
                f"p{j}": {"anyOf": [{"$ref": f"#/$defs/d{(i + j + 1) % size}"}, {"type": "null"}]} for j in range(3)
            },
            "required": ["p0", "p1", "p2"],
        }
        for i in range(size)
    }
    return {"type": "object", "$defs": defs, "properties": {"root": {"$ref": "#/$defs/d0"}}, "required": ["root"]}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


# (name, path, body bytes, extra headers): the issue's list, in its order.
HOSTILE: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("recursive $defs (4 KB)", CHAT, _tools(_recursive_defs(16)), {}),
    (
        "allOf fan-out through $ref",
        CHAT,
        _tools(
            {"$defs": {f"a{i}": {"allOf": [{"$ref": f"#/$defs/a{i + 1}"}] * 2} for i in range(24)} | {"a24": {}}}
            | {"type": "object", "properties": {"x": {"$ref": "#/$defs/a0"}}, "required": ["x"]}
        ),
        {},
    ),
    (
        "pattern ^(a+)+$ on 60 chars",
        CHAT,
        _tools({"type": "object", "properties": {"s": {"const": "a" * 60 + "!", "pattern": "^(a+)+$"}}}),
        {},
    ),
    ("minLength 10^7", CHAT, _tools({"type": "object", "properties": {"s": {"minLength": 10**7}}}), {}),
    ("multipleOf 1e-300", CHAT, _tools({"type": "object", "properties": {"x": {"multipleOf": 1e-300}}}), {}),
    (
        "const Infinity (as 1e999)",
        CHAT,
        _tools({"type": "object", "properties": {"x": {"const": 1}}}).replace(b'"const": 1', b'"const": 1e999'),
        {},
    ),
    ("embeddings of 15 MB", "/v1/embeddings", _json({"model": "gpt-sim-1", "input": "word " * 3_000_000}), {}),
    (
        "embeddings of 200k token ids",
        "/v1/embeddings",
        _json({"model": "gpt-sim-1", "input": list(range(200_000))}),
        {},
    ),
    (
        "completions 100 prompts x n=128 x logprobs",
        "/v1/completions",
        _json({"model": "gpt-sim-1", "prompt": ["hi"] * 100, "n": 128, "logprobs": 5}),
        {},
    ),
    (
        "chat n=128, top_logprobs 20",
        CHAT,
        _json(
            {
                "model": "gpt-sim-1",
                "messages": [{"role": "user", "content": "essay"}],
                "n": 128,
                "logprobs": True,
                "top_logprobs": 20,
            }
        ),
        {},
    ),
    ("lone surrogate", CHAT, b'{"model":"gpt-sim-1","messages":[{"role":"user","content":"\\ud800"}]}', {}),
    ("NaN in metadata", "/v1/responses", b'{"model":"gpt-sim-1","input":"hi","metadata":{"k":NaN}}', {}),
    ("duplicate keys", CHAT, b'{"model":"gpt-sim-1","model":"x","messages":[]}', {}),
    ("invalid UTF-8", CHAT, b'{"model":"gpt-sim-1","messages":[{"role":"user","content":"\xff"}]}', {}),
    (
        "8 MB of small JSON objects",
        "/v1/embeddings",
        _json({"model": "gpt-sim-1", "input": "x", "user": "u", "metadata": [{"a": [1, 2, {"b": "c"}]}] * 300_000}),
        {},
    ),
    ("nesting 100,000 deep", CHAT, b'{"model":"gpt-sim-1","messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}", {}),
    (
        "tokens per second 1e-9",
        CHAT,
        _json({"model": "gpt-sim-1", "messages": [{"role": "user", "content": "hi"}]}),
        {"X-Simulator-Tokens-Per-Second": "1e-9"},
    ),
    ("form post (text/plain)", CHAT, _json({"model": "gpt-sim-1", "messages": []}), {"content-type": "text/plain"}),
]


@contextmanager
def served() -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    args = [sys.executable, "-m", "openai_api_simulator", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health")
        yield base, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        tracebacks = err.count("Traceback")
        print(f"server log: {len(err.splitlines())} lines, {tracebacks} tracebacks")


def _watch_health(base: str, stop: Any, out: Any) -> None:
    waits: list[float] = []
    failures = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        while not stop.wait(0.01):
            start = time.perf_counter()
            if http.get("/health").status_code != 200:
                failures += 1
            waits.append(time.perf_counter() - start)
    out.put((waits, failures))


class HealthWatch:
    """GET /health every 10 ms while the block runs, from a process of its own (so that the senders' work on
    their side, in this process, does not count as the server's); the time of each."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.waits: list[float] = []
        self.failures = 0

    def __enter__(self) -> HealthWatch:
        self._stop = multiprocessing.Event()
        self._out: Any = multiprocessing.Queue()
        self._process = multiprocessing.Process(target=_watch_health, args=(self.base, self._stop, self._out))
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.waits, self.failures = self._out.get(timeout=60)
        self._process.join()


def send(base: str, path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, float, int, bool]:
    """Status, seconds, answer bytes, and whether the answer parsed as strict JSON."""
    sent = {"content-type": "application/json", **headers}
    start = time.perf_counter()
    with httpx.Client(base_url=base, timeout=120) as http:
        r = http.post(path, content=raw, headers=sent)
    took = time.perf_counter() - start
    try:
        json.loads(r.content, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
        valid = True
    except ValueError:
        valid = False
    return r.status_code, took, len(r.content), valid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="times the concurrent burst is sent [1]")
    args = parser.parse_args()
    print(f"$ python benchmarks/hostile.py {' '.join(sys.argv[1:])}")
    bad: list[str] = []
    small = [r for r in HOSTILE if len(r[2]) <= SMALL]
    with served() as (base, process):
        print(f"{'request':44} {'sent':>10} {'status':>6} {'time':>8} {'answer':>9} {'/health max':>12}")
        for name, path, raw, headers in HOSTILE:
            with HealthWatch(base) as alone:
                time.sleep(0.1)  # /health is watched before, during and after
                status, took, size, valid = send(base, path, raw, headers)
            worst = max(alone.waits) * 1000
            print(f"{name:44} {len(raw):10,} {status:6} {took * 1000:6.0f} ms {size:9,} {worst:9.1f} ms")
            if status >= 500 or not valid or took > 5:
                bad.append(name)
        burst_times: list[float] = []
        with HealthWatch(base) as watch:
            for _ in range(args.rounds):
                results: list[tuple[int, float, int, bool]] = []
                threads = [
                    threading.Thread(target=lambda r=r, out=results: out.append(send(base, *r[1:]))) for r in small
                ]
                start = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                burst_times.append(time.perf_counter() - start)
                bad += [f"burst: {s}" for s, took, _, valid in results if s >= 500 or not valid or took > 5]
        rss = process.memory_info().rss / MIB
    waits = sorted(watch.waits)
    print(
        f"the {len(small)} of up to {SMALL // 1024} KB at once, {args.rounds} times: "
        f"{', '.join(f'{t:.2f}' for t in burst_times)} s; /health meanwhile: {len(waits)} asked, "
        f"p50 {statistics.median(waits) * 1000:.1f} ms, max {waits[-1] * 1000:.1f} ms, {watch.failures} not 200"
    )
    print(f"RSS at the end {rss:.0f} MiB; 5xx, invalid JSON or slower than 5 s: {bad or 'none'}")


if __name__ == "__main__":
    main()
