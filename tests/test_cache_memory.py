"""A served fake's memory stays bounded by --cache-mb however its caches are filled (a real `serve` process, its
RSS read with psutil).

Each workload is valid, distinct requests aimed at one cache (shaped to be cheap to answer: characters the fake's
text rules scan quickly). Before the caches were bounded by bytes, each of
these grew the server by 80 MB or more (the word vectors by 590 MB, from one request).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from openai_api_simulator.testing import free_port

CACHE_MB = 16
MIB = 1024 * 1024
# What a server may grow by beyond its caches: the working memory of the largest request that the allocator
# keeps for the next one. Measured at 0-17 MB.
SLACK_MB = 40
# The bound for a server at its defaults; a server at 16 MB must be far below it.
RSS_LIMIT_MB = 300

Request = tuple[str, dict[str, Any]]


def word_vectors() -> Iterator[Request]:
    # 5,000 distinct words, each drawn at 3,072 dimensions (590 MB of cached tuples before), in requests of 500
    # words: within the simulator's cap of words x dimensions per request.
    for start in range(0, 5000, 500):
        words = " ".join(f"w{k:010x}" for k in range(start, start + 500))
        yield "embeddings", {"model": "gpt-sim-1", "input": words, "dimensions": 3072}


def memo() -> Iterator[Request]:
    # 3.6 MB responses (a 28 KB prompt echoed in 128 choices) under distinct request bytes, each small enough
    # for the memo to keep. (Embeddings are never memoized: they have no `created` to fill in.)
    for i in range(24):
        body = {"model": "gpt-sim-1", "prompt": f"Note {i}:" + "é" * 14_000, "echo": True, "n": 128, "max_tokens": 1}
        yield "completions", body


def responses_store() -> Iterator[Request]:
    # 2 MB conversations (a million two-byte characters), stored (the default): the store keeps each until it
    # needs the room.
    for i in range(40):
        yield "responses", {"model": "gpt-sim-1", "input": f"Note {i}:" + "ā" * 1_000_000, "max_output_tokens": 16}


def matchers() -> Iterator[Request]:
    # Distinct patterns of ~6,300 automaton states each (1.7 MB apiece when checked for safe matching): 510 MB
    # kept by a cache bounded by its entry count.
    for i in range(300):
        schema = {
            "type": "object",
            "properties": {"code": {"type": "string", "pattern": f"^(ab|cd|[0-9]){{0,900}}x{i}$"}},
        }
        yield (
            "chat/completions",
            {
                "model": "gpt-sim-1",
                "messages": [{"role": "user", "content": "Code?"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
            },
        )


@pytest.fixture
def server() -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    args = ["serve", "--port", str(port), "--log-level", "warning", "--cache-mb", str(CACHE_MB)]
    proc = subprocess.Popen([sys.executable, "-m", "openai_api_simulator", *args], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base.removesuffix("/v1") + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield base, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("workload", [word_vectors, memo, responses_store, matchers], ids=lambda w: w.__name__)
def test_rss_stays_within_the_cache_budget(server: tuple[str, psutil.Process], workload: Any) -> None:
    base, process = server
    with httpx.Client(base_url=base, timeout=120) as client:
        # One ordinary request first, so what is measured is the workload and not the first request's imports.
        client.post("chat/completions", json={"model": "gpt-sim-1", "messages": [{"role": "user", "content": "Hi"}]})
        start = process.memory_info().rss
        for endpoint, body in workload():
            # Sent as UTF-8 (not \u escapes): the bodies stay within the memo's 64 KB key limit.
            raw = json.dumps(body, ensure_ascii=False).encode()
            r = client.post(endpoint, content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
        rss = process.memory_info().rss
    growth_mb = (rss - start) / MIB
    assert growth_mb < CACHE_MB + SLACK_MB, f"grew by {growth_mb:.0f} MB with --cache-mb {CACHE_MB}"
    assert rss / MIB < RSS_LIMIT_MB
