"""Cached `openai-api-simulator run` → first completion of the real model, and the orchestrator's memory.

Uses the test rig's llama-server and SmolLM2 GGUF through `--llama-server`/`--model` (nothing to download,
as with a warm cache). Run: python benchmarks/run_startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openai_api_simulator.testing import free_port

ROUNDS = 5


def one_round(server: Path, gguf: Path) -> tuple[float, float, float]:
    """(seconds to the first completion, orchestrator RSS MiB, llama-server RSS MiB)."""
    port = free_port()
    body = {"model": "bench", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openai_api_simulator",
            "run",
            "--llama-server",
            str(server),
            "--model",
            str(gguf),
            "--name",
            "bench",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(timeout=10) as client:
            while True:
                try:
                    if client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise RuntimeError("run did not answer")
                time.sleep(0.01)
            first = time.perf_counter() - t0
            for _ in range(20):
                client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={**body, "model": "gpt-sim-1"})
        me = psutil.Process(proc.pid)
        llama = [c for c in me.children(recursive=True) if "llama-server" in c.name()]
        mib = 1024 * 1024
        return first, me.memory_info().rss / mib, sum(c.memory_info().rss for c in llama) / mib
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    from tests.support.rig import locate_rig

    found = locate_rig()
    if isinstance(found, str):
        raise SystemExit(f"The test rig is needed ({found}): make rig")
    server, gguf = found.server, found.gguf
    results = [one_round(server, gguf) for _ in range(ROUNDS)]
    first = [r[0] for r in results]
    print(
        f"cached run -> first completion: median {statistics.median(first):.2f} s "
        f"(rounds: {', '.join(f'{x:.2f}' for x in first)})"
    )
    print(
        f"orchestrator RSS: {statistics.median(r[1] for r in results):.0f} MiB; "
        f"llama-server RSS: {statistics.median(r[2] for r in results):.0f} MiB"
    )


if __name__ == "__main__":
    main()
