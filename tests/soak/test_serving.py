"""The public server under load and against a stalled upstream, as separate processes on real sockets.

* Many concurrent fake streams (1,000 under `make soak`): every one completes, with the time to its first
  chunk recorded (p50/p99) — a figure, not an assertion.
* An `--upstream` that accepts connections and never answers: every request ends in an OpenAI-shaped 504
  after `--request-timeout`, and afterwards the server holds no connection to it (nothing leaks), while the
  fake answers throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.rig import Rig
from tests.support.soak import percentile, raise_fd_limit, scale, start

BODY = {"model": "gpt-sim-1", "messages": [{"role": "user", "content": "Tell me about the sea."}], "stream": True}


async def one_stream(client: httpx.AsyncClient, url: str, n: int) -> tuple[float, bool]:
    """(seconds to the first chunk, whether it ended with [DONE]) for one stream."""
    started = time.perf_counter()
    first = 0.0
    body = {**BODY, "seed": n}  # distinct requests, not answers from the memo
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        done = False
        async for line in response.aiter_lines():
            if not first and line.startswith("data: "):
                first = time.perf_counter() - started
            done = done or line == "data: [DONE]"
    return first, done


def test_many_concurrent_fake_streams_all_complete(tmp_path: Path, tally: Callable[[str], None]) -> None:
    streams = scale(200, 1000)
    raise_fd_limit(streams * 2 + 256)  # this process holds one socket per stream
    instance = start(tmp_path, "--log-level", "warning")
    try:
        instance.wait_ready("gpt-sim-1")

        async def main() -> list[tuple[float, bool] | BaseException]:
            limits = httpx.Limits(max_connections=streams, max_keepalive_connections=0)
            async with httpx.AsyncClient(limits=limits, timeout=60) as client:
                return await asyncio.gather(
                    *(one_stream(client, instance.url, n) for n in range(streams)), return_exceptions=True
                )

        started = time.perf_counter()
        results = asyncio.run(main())
        wall = time.perf_counter() - started
    finally:
        instance.stop()
    errors = [r for r in results if isinstance(r, BaseException)]
    firsts = [r[0] for r in results if not isinstance(r, BaseException)]
    unfinished = sum(1 for r in results if not isinstance(r, BaseException) and not r[1])
    tally(
        f"{streams} concurrent fake streams: {len(errors)} errors, {unfinished} without [DONE]; time to first "
        f"chunk p50 {percentile(firsts, 0.5) * 1000:.0f} ms, p99 {percentile(firsts, 0.99) * 1000:.0f} ms; "
        f"all done in {wall:.1f} s"
    )
    assert errors == [], f"{len(errors)} streams failed, e.g. {errors[0]!r}"
    assert unfinished == 0


@contextlib.contextmanager
def stalled_upstream() -> Iterator[tuple[int, list[socket.socket]]]:
    """A server that accepts connections, reads nothing and never answers (a hung upstream)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    closing = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not closing.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        closing.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def connections_to(pid: int, port: int) -> int:
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp") if c.raddr and c.raddr.port == port)


@pytest.mark.rig
def test_a_stalled_upstream_times_out_and_leaks_nothing(rig: Rig, tmp_path: Path, tally: Callable[[str], None]) -> None:
    rounds = scale(4, 20)
    with stalled_upstream() as (port, accepted):
        instance = start(
            tmp_path, "run", "--llama-server", str(rig.server), "--model", str(rig.gguf), "--name", "smol",
            "--upstream", f"stalled=http://127.0.0.1:{port}", "--request-timeout", "1",
        )  # fmt: skip
        try:
            instance.wait_ready("smol")
            statuses, elapsed = [], []
            with httpx.Client(base_url=instance.url, timeout=30) as client:
                for _ in range(rounds):
                    started = time.monotonic()
                    r = client.post("/v1/chat/completions", json={**BODY, "model": "stalled", "stream": False})
                    elapsed.append(time.monotonic() - started)
                    statuses.append(r.status_code)
                    assert set(r.json()["error"]) >= {"message", "type", "param", "code"}
                    fake = client.post("/v1/chat/completions", json={**BODY, "stream": False})
                    assert fake.status_code == 200  # the fake is not held up by the stalled upstream
            time.sleep(0.5)
            leaked = connections_to(instance.proc.pid, port)
        finally:
            instance.stop()
    tally(
        f"{rounds} requests to a stalled upstream with --request-timeout 1: statuses {sorted(set(statuses))}, "
        f"{min(elapsed):.2f}-{max(elapsed):.2f} s each; {len(accepted)} connections it accepted, "
        f"{leaked} still open afterwards"
    )
    assert set(statuses) == {504}
    assert max(elapsed) < 10
    assert leaked == 0
