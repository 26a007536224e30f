"""A served fake's RSS under requests that fill its caches: valid, distinct, and as large as each cache allows.

One `serve` process per checkout; each workload runs against it in turn and the RSS (psutil) is printed after
it, with the peak seen while it ran (sampled every 20 ms):

- word vectors: ~60 KB of distinct words at 3,072 dimensions, in 10 embeddings requests;
- memo: 8 completions echoing a 60 KB prompt in 128 choices (7.7 MB responses; embeddings are never memoized,
  having no `created` to fill in);
- Responses store: 40 Responses of 1 MB of distinct input each, stored (`store` defaults to true);
- validators: 20 chat requests with a distinct 450 KB `json_schema` response format each;
- small requests: 3,000 distinct short chat requests (memo, answers and routes, many small entries).

With `--against DIR`, a second checkout (e.g. `git worktree add /tmp/before <rev>`) is measured the same way.

Run: python benchmarks/cache_memory.py [--against DIR] [--cache-mb N]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import wait_http
from openai_api_simulator.testing import free_port

ROOT = Path(__file__).resolve().parent.parent

MIB = 1024 * 1024
Post = Callable[[str, dict[str, Any]], None]


def _words(rnd: random.Random, n: int) -> str:
    return " ".join(f"w{rnd.getrandbits(40):x}" for _ in range(n))


def word_vectors(post: Post) -> None:
    rnd = random.Random(1)
    for _ in range(10):  # 60 KB, 5,000 distinct words, in requests within the cap of words x dimensions
        post("embeddings", {"model": "gpt-sim-1", "input": _words(rnd, 500), "dimensions": 3072})


def memo(post: Post) -> None:
    for i in range(8):
        prompt = f"Note {i}: " + _words(random.Random(i), 5000)
        post("completions", {"model": "gpt-sim-1", "prompt": prompt, "echo": True, "n": 128, "max_tokens": 1})


def responses_store(post: Post) -> None:
    big = _words(random.Random(2), 1_000_000 // 12)
    for i in range(40):
        post("responses", {"model": "gpt-sim-1", "input": f"{i} {big}", "max_output_tokens": 16})


def validators(post: Post) -> None:
    for i in range(20):
        props = {f"p{i}_{k}": {"type": "string", "description": "x" * 100} for k in range(3000)}
        schema = {"type": "object", "properties": props, "required": [], "additionalProperties": False}
        fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
        messages = [{"role": "user", "content": "json"}]
        post("chat/completions", {"model": "gpt-sim-1", "messages": messages, "response_format": fmt})


def small_requests(post: Post) -> None:
    for i in range(3000):
        post("chat/completions", {"model": "gpt-sim-1", "messages": [{"role": "user", "content": f"Hi {i}"}]})


WORKLOADS: dict[str, Callable[[Post], None]] = {
    "word vectors": word_vectors,
    "memo": memo,
    "Responses store": responses_store,
    "validators": validators,
    "small requests": small_requests,
}


class Peak:
    """The highest RSS of `process` seen while the block runs."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.value = 0

    def __enter__(self) -> Peak:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.value = max(self.value, self.process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def served(tree: Path, cache_mb: float | None) -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    args = [sys.executable, "-m", "openai_api_simulator", "serve", "--port", str(port), "--log-level", "warning"]
    if cache_mb is not None:
        args += ["--cache-mb", str(cache_mb)]
    proc = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree, stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health")
        yield base, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def measure(tree: Path, cache_mb: float | None) -> None:
    with served(tree, cache_mb) as (base, process), httpx.Client(base_url=base + "/v1", timeout=600) as client:

        def post(endpoint: str, body: dict[str, Any]) -> None:
            r = client.post(endpoint, json=body)
            if r.status_code != 200:
                raise RuntimeError(f"{endpoint} answered {r.status_code}: {r.text[:300]}")

        print(f"  {'started':16} RSS {process.memory_info().rss / MIB:6.0f} MiB")
        for name, workload in WORKLOADS.items():
            start = time.perf_counter()
            with Peak(process) as peak:
                workload(post)
            rss = process.memory_info().rss / MIB
            took = time.perf_counter() - start
            print(f"  {name:16} RSS {rss:6.0f} MiB (peak {peak.value / MIB:4.0f}) in {took:5.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", type=Path, help="another checkout to measure the same way")
    parser.add_argument("--cache-mb", type=float, help="passed to this checkout's server [default: its default]")
    args = parser.parse_args()
    print(f"$ python benchmarks/cache_memory.py {' '.join(sys.argv[1:])}")
    if args.against:
        print(f"against ({args.against}):")
        measure(args.against.resolve(), None)
    print("this checkout:")
    measure(ROOT, args.cache_mb)


if __name__ == "__main__":
    main()
