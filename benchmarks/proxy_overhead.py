"""What the proxy costs in front of a real llama-server (the test rig: build 11434 + SmolLM2-135M), one run.

* Streaming: client-side tokens/s of a fixed-length generation (`ignore_eos`), through the proxy ÷ direct.
  Goal ≥ 0.98.
* Latency: p50 of a 1-token non-stream chat completion through the proxy minus direct. Goal ≤ 2 ms.

Direct and proxied requests alternate so drift on the machine hits both. The proxy runs in its own process
(uvicorn as `openai-api-simulator` serves it: one worker, uvloop + httptools when installed), in front of
one llama-server started here with as many threads as physical cores (as `run` starts it); both are
stopped at the end. With every core busy generating, each extra process wake-up per token costs llama-server
time, so on a small machine compare with `--llama-args "-t 1"` (a core left free) too.

Run: python benchmarks/proxy_overhead.py [--rounds 10] [--tokens 200] [--latency-requests 300] [--llama-args ARGS]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import wait_http
from openai_api_simulator.testing import free_port

ROOT = Path(__file__).resolve().parent.parent

MODEL = "smollm2-test"
KEY = "bench-internal"
PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def serve_proxy(port: int, upstream: str) -> None:
    """Child mode: serve the app on 127.0.0.1:port, relaying model MODEL to `upstream` (as `run` relays)."""
    from openai_api_simulator.app import create_app
    from openai_api_simulator.backends import Backend, FakeBackend, Relay, RemoteBackend
    from openai_api_simulator.config import Settings
    from openai_api_simulator.server import bind_socket, serve_forever

    settings = Settings()
    backends: list[Backend] = [FakeBackend(settings), RemoteBackend(MODEL, [upstream], Relay(), api_key=KEY)]
    app = create_app(settings, backends)
    serve_forever(app, bind_socket("127.0.0.1", port), log_level="warning", access_log=False)


@contextmanager
def process(args: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        try:
            wait_http(ready_url, timeout=60)
        except TimeoutError:
            raise SystemExit(f"{args[0]} did not start:\n{log.read_text()[-2000:]}") from None
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _post(client: httpx.Client, url: str, body: dict[str, object]) -> httpx.Response:
    for _ in range(3):  # llama-server drops some reused keep-alive connections unanswered; so can a client
        try:
            return client.post(url, json=body)
        except httpx.RemoteProtocolError:
            continue
    raise RuntimeError(f"{url}: no answer in 3 attempts")


def stream_rate(client: httpx.Client, url: str, tokens: int) -> float:
    """Tokens/s the client receives, first content event to last."""
    body = {
        "model": MODEL,
        "messages": PROMPT,
        "max_tokens": tokens,
        "ignore_eos": True,
        "temperature": 0,
        "seed": 1,
        "stream": True,
    }
    for _ in range(3):
        try:
            times: list[float] = []
            with client.stream("POST", url, json=body) as r:
                r.raise_for_status()
                for line in r.iter_lines():
                    if line.startswith("data: {"):
                        choices = json.loads(line[6:]).get("choices") or [{}]
                        if choices[0].get("delta", {}).get("content"):
                            times.append(time.perf_counter())
            if len(times) < tokens * 0.9:
                raise RuntimeError(f"{url}: only {len(times)} of {tokens} tokens streamed")
            return (len(times) - 1) / (times[-1] - times[0])
        except httpx.RemoteProtocolError:
            continue
    raise RuntimeError(f"{url}: no stream in 3 attempts")


def one_token_latency(client: httpx.Client, url: str) -> float:
    body = {"model": MODEL, "messages": PROMPT, "max_tokens": 1, "temperature": 0}
    start = time.perf_counter()
    r = _post(client, url, body)
    elapsed = time.perf_counter() - start
    r.raise_for_status()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="streams of each kind (alternating)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per stream")
    parser.add_argument("--latency-requests", type=int, default=300, help="1-token requests of each kind")
    parser.add_argument("--llama-args", default="", help="extra llama-server arguments, e.g. '--poll 0'")
    parser.add_argument("--serve-proxy", nargs=2, metavar=("PORT", "UPSTREAM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_proxy:
        serve_proxy(int(args.serve_proxy[0]), args.serve_proxy[1])
        return

    from tests.support.rig import locate_rig

    rig = locate_rig()
    if isinstance(rig, str):
        raise SystemExit(f"The test rig is needed ({rig}): make rig")
    threads = psutil.cpu_count(logical=False) or 1
    logs = Path(tempfile.mkdtemp(prefix="proxy-overhead-"))  # kept: the servers' output, if one fails
    llama_port, proxy_port = free_port(), free_port()
    llama_url, proxy_url = f"http://127.0.0.1:{llama_port}", f"http://127.0.0.1:{proxy_port}"
    llama_cmd = [str(rig.server), "--host", "127.0.0.1", "--port", str(llama_port), "-m", str(rig.gguf)]
    llama_cmd += ["--ctx-size", "2048", "--alias", MODEL, "--api-key", KEY, "--no-webui", "-t", str(threads)]
    llama_cmd += ["--parallel", "1", *shlex.split(args.llama_args)]
    proxy_cmd = [sys.executable, __file__, "--serve-proxy", str(proxy_port), llama_url]
    print(f"$ python {Path(__file__).relative_to(ROOT)} " + " ".join(sys.argv[1:]))
    print(f"llama-server: {shlex.join(llama_cmd)}")
    print(f"machine: {psutil.cpu_count()} logical CPUs, {threads} physical; load {psutil.getloadavg()}")

    with (
        process(llama_cmd, f"{llama_url}/health", logs / "llama-server.log"),
        process(proxy_cmd, f"{proxy_url}/health", logs / "proxy.log"),
        httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as direct,
        httpx.Client(timeout=120) as proxied,
    ):
        targets = [(direct, f"{llama_url}/v1/chat/completions"), (proxied, f"{proxy_url}/v1/chat/completions")]
        for client, url in targets:  # warm-up: prompt cache, connections, code paths
            stream_rate(client, url, 32)
            for _ in range(20):
                one_token_latency(client, url)

        rates: tuple[list[float], list[float]] = ([], [])
        for n in range(args.rounds):
            order = targets if n % 2 == 0 else targets[::-1]
            for client, url in order:
                rates[targets.index((client, url))].append(stream_rate(client, url, args.tokens))
        latencies: tuple[list[float], list[float]] = ([], [])
        for n in range(args.latency_requests):
            order = targets if n % 2 == 0 else targets[::-1]
            for client, url in order:
                latencies[targets.index((client, url))].append(one_token_latency(client, url))

    direct_rate, proxy_rate = (statistics.median(r) for r in rates)
    direct_p50, proxy_p50 = (statistics.median(x) * 1000 for x in latencies)
    ratio = proxy_rate / direct_rate
    added = proxy_p50 - direct_p50
    # Paired estimates (each proxied measurement against the direct one next to it in time) resist drift
    # from other work on the machine better than the medians do.
    paired_ratio = statistics.median(p / d for d, p in zip(*rates, strict=True))
    paired_added = statistics.median((p - d) * 1000 for d, p in zip(*latencies, strict=True))
    print(f"streaming, {args.rounds} x {args.tokens} tokens each way (median client tok/s):")
    print(f"  direct {direct_rate:.1f} tok/s, through the proxy {proxy_rate:.1f} tok/s")
    print("  rounds (direct/proxied): " + ", ".join(f"{d:.0f}/{p:.0f}" for d, p in zip(*rates, strict=True)))
    print(f"  ratio {ratio:.3f} (goal >= 0.98): {'ok' if ratio >= 0.98 else 'MISSED'}; paired {paired_ratio:.3f}")
    print(f"1-token non-stream, {args.latency_requests} each way (p50):")
    print(f"  direct {direct_p50:.2f} ms, through the proxy {proxy_p50:.2f} ms")
    print(f"  added {added:.2f} ms (goal <= 2 ms): {'ok' if added <= 2 else 'MISSED'}; paired {paired_added:.2f} ms")
    p90 = [statistics.quantiles(x, n=10)[-1] * 1000 for x in latencies]
    print(f"  (p90: direct {p90[0]:.2f} ms, through the proxy {p90[1]:.2f} ms)")
    print(f"load average at the end: {psutil.getloadavg()} (other work on the machine skews both ways)")


if __name__ == "__main__":
    main()
