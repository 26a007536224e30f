"""gpt-sim-1 non-streaming requests/s ÷ a bare Starlette JSON endpoint's, same uvicorn settings, one run.

Both servers: one uvicorn worker, auto loop/http (uvloop + httptools when installed), log level warning.
Rounds alternate baseline and simulator so drift on the machine hits both. Also times `serve` start →
/health 200.  Run: python benchmarks/fake_throughput.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import wait_http, wrk_post
from openai_api_simulator.testing import free_port

BODY = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "Tell me about rivers and old bridges."}]}
VARIED = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "Request __N__: tell me about harbors."}]}
ROUNDS = 3


def _baseline(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.baseline_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-server-header",
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )


def _simulator(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "openai_api_simulator", "serve", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )


def measure(start: Callable[[int], subprocess.Popen[bytes]], body: object, *, vary: bool = False) -> float:
    port = free_port()
    proc = start(port)
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        wait_http(url, method="POST", body=body)
        wrk_post(url, body, seconds=2, vary=vary)  # warm-up
        return wrk_post(url, body, vary=vary)
    finally:
        proc.terminate()
        proc.wait(10)


def startup_seconds() -> float:
    times = []
    for _ in range(5):
        port = free_port()
        t0 = time.perf_counter()
        proc = _simulator(port)
        try:
            wait_http(f"http://127.0.0.1:{port}/health")
            times.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait(10)
    return statistics.median(times)


def main() -> None:
    base, sim, fresh = [], [], []
    for _ in range(ROUNDS):
        base.append(measure(_baseline, BODY))
        sim.append(measure(_simulator, BODY))
        # Every request new to the server (a counter in the prompt): generation is not served from the cache.
        fresh.append(measure(_simulator, VARIED, vary=True))
    b, s, f = statistics.median(base), statistics.median(sim), statistics.median(fresh)

    def rounds(xs: list[float]) -> str:
        return ", ".join(f"{x:,.0f}" for x in xs)

    print(f"baseline Starlette JSON endpoint:     {b:,.0f} req/s  (rounds: {rounds(base)})")
    print(f"gpt-sim-1, same request repeated:     {s:,.0f} req/s  (rounds: {rounds(sim)})")
    print(f"gpt-sim-1, every request different:   {f:,.0f} req/s  (rounds: {rounds(fresh)})")
    print(f"ratio repeated / baseline:            {s / b:.2f}  (goal >= 0.8)")
    print(f"ratio different / baseline:           {f / b:.2f}")
    print(f"serve start -> /health 200:           {startup_seconds() * 1000:.0f} ms (median of 5)")


if __name__ == "__main__":
    main()
