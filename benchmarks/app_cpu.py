"""CPU per request through the app, called in process as uvicorn calls it (no sockets, no wrk noise).

Two workloads on `gpt-sim-1` chat completions: the same request repeated (answered from the memo) and a new
request each time (parse, validate, generate). With `--against DIR`, a second checkout of this project (an
older commit, e.g. `git worktree add /tmp/before <rev>`) is measured in the same run, rounds interleaved, and
the ratio printed: this is how a change to the request path is compared with what came before it.

Run: python benchmarks/app_cpu.py [--against DIR] [--rounds 5] [--requests 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a child process with the checkout to measure first on sys.path; prints one JSON line.
_CHILD = r"""
import asyncio, json, sys, time
try:
    from openai_api_simulator.app import create_app
except ImportError:  # checkouts from before the one-app redesign
    from openai_api_simulator.api.app import create_app
from openai_api_simulator.config import Settings

requests, offset = int(sys.argv[1]), int(sys.argv[2])
app = create_app(Settings())


def scope(body):
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {},
        "headers": [(b"host", b"127.0.0.1:2"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }


def chat(text):
    return json.dumps({"model": "gpt-sim-1", "messages": [{"role": "user", "content": text}]}).encode()


async def send(message):
    pass


async def per_request(bodies):
    start = time.process_time()
    for body in bodies:
        async def receive(body=body):
            return {"type": "http.request", "body": body, "more_body": False}
        await app(scope(body), receive, send)
    return (time.process_time() - start) / len(bodies) * 1e6


async def main():
    repeated = [chat("Tell me about rivers and old bridges.")] * requests
    distinct = [chat(f"Request {offset}-{i}: tell me about harbors.") for i in range(requests)]
    await per_request(repeated[:500])  # warm-up: imports, the memo entry, caches
    print(json.dumps({"repeated": await per_request(repeated), "distinct": await per_request(distinct)}))


asyncio.run(main())
"""


def measure(tree: Path, requests: int, offset: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(requests), str(offset)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", type=Path, help="another checkout to measure in the same run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000, help="requests per workload per round")
    args = parser.parse_args()
    trees = {"this checkout": ROOT}
    if args.against:
        trees = {f"against ({args.against})": args.against.resolve(), **trees}
    results: dict[str, dict[str, list[float]]] = {name: {"repeated": [], "distinct": []} for name in trees}
    for round_ in range(args.rounds):
        order = list(trees.items()) if round_ % 2 == 0 else list(trees.items())[::-1]
        for name, tree in order:
            for workload, value in measure(tree, args.requests, round_).items():
                results[name][workload].append(value)
    print(f"$ python benchmarks/app_cpu.py {' '.join(sys.argv[1:])}")
    print(f"CPU µs per request, median of {args.rounds} interleaved rounds of {args.requests}:")
    for name, workloads in results.items():
        cells = ", ".join(f"{w} {statistics.median(v):.1f}" for w, v in workloads.items())
        print(f"  {name}: {cells}")
    if args.against:
        before, after = (results[name] for name in trees)
        for workload in ("repeated", "distinct"):
            ratio = statistics.median(after[workload]) / statistics.median(before[workload])
            print(f"  {workload}: this checkout / against = {ratio:.3f}")


if __name__ == "__main__":
    main()
