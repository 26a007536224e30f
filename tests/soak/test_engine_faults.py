"""llama-server killed under streaming load, and the orchestrator itself signalled, over and over.

`run` serves the rig's real llama-server and SmolLM2 (given with `--llama-server`/`--model`, as from a warm
cache). Streaming clients run the whole time; llama-server is killed with SIGKILL again and again. Every
request ends — a whole stream, a stream cut with an error, or a 503 with `Retry-After` while the engine is
down — never a hang and never a 502 that names the private port; the supervisor brings the model back each
time. Then `run` is stopped by SIGINT, SIGTERM and SIGKILL in turn: no llama-server outlives it.
"""

from __future__ import annotations

import json
import re
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.rig import Rig
from tests.support.soak import Instance, scale, start

pytestmark = pytest.mark.rig

MODEL = "smol"
CLIENTS = 3
REQUEST_DEADLINE_S = 30.0  # a request still open after this long has hung
# The supervisor calls a run READY this long "stable" and forgives earlier crashes (engines.supervisor);
# more kills in a row than its restart budget would, rightly, end the run.
STABLE_AFTER_S = 30.0
KILLS_IN_A_ROW = 4


def run_rig(rig: Rig, tmp_path: Path) -> Instance:
    instance = start(
        tmp_path, "run", "--llama-server", str(rig.server), "--model", str(rig.gguf), "--name", MODEL, "-t", "1"
    )
    instance.wait_ready(MODEL)
    return instance


def names_private_port(text: str, public_url: str) -> bool:
    public = public_url.rsplit(":", 1)[1]
    return any(port != public for port in re.findall(r"127\.0\.0\.1:(\d+)", text))


def stream_once(client: httpx.Client, url: str) -> str:
    """One streamed chat request; what became of it: ok, cut, 503, or the unexpected status/exception."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Count to twenty."}], "max_tokens": 24,
            "stream": True}  # fmt: skip
    try:
        with client.stream("POST", url + "/v1/chat/completions", json=body, timeout=REQUEST_DEADLINE_S) as r:
            if r.status_code == 503:
                retry = r.headers.get("retry-after", "")
                r.read()
                if names_private_port(r.text, url):
                    return f"503 naming a private address: {r.text[:160]}"
                return "503" if retry.isdigit() else f"503 without a whole-second Retry-After: {retry!r}"
            if r.status_code != 200:
                r.read()
                return f"{r.status_code}: {r.text[:120]}"
            done = errored = False
            for line in r.iter_lines():
                if line == "data: [DONE]":
                    done = True
                elif line.startswith("data: {") and "error" in json.loads(line[6:]):
                    errored = True
            return "ok" if done else "cut" if errored else "cut without an error event"
    except httpx.TimeoutException:
        return "hung"
    except httpx.TransportError:
        return "cut"  # the connection dropped mid-stream: the client sees an error at once, not a hang


def test_llama_server_killed_again_and_again_under_streaming_load(
    rig: Rig, tmp_path: Path, tally: Callable[[str], None]
) -> None:
    instance = run_rig(rig, tmp_path)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                outcome = stream_once(client, instance.url)
                with lock:
                    outcomes[outcome] += 1
                if outcome == "503":
                    time.sleep(0.05)

    workers = [threading.Thread(target=load, daemon=True) for _ in range(CLIENTS)]
    kills = scale(3, 20)
    recoveries: list[float] = []
    try:
        for worker in workers:
            worker.start()
        for n in range(kills):
            if n and n % KILLS_IN_A_ROW == 0:
                time.sleep(STABLE_AFTER_S + 1)  # let the supervisor call it stable before the next burst
            time.sleep(1.5)  # streams run (and finish) between kills
            [llama] = instance.children("llama-server")
            killed = time.monotonic()
            llama.kill()
            llama.wait(10)
            instance.wait_ready(MODEL, within=60)
            recoveries.append(time.monotonic() - killed)
            assert [p.pid for p in instance.children("llama-server")] != [llama.pid]
        time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join(REQUEST_DEADLINE_S + 5)
        hung_threads = sum(worker.is_alive() for worker in workers)
        instance.stop()
    tally(
        f"{kills} kill -9 of llama-server under {CLIENTS} streaming clients: recovery median "
        f"{statistics.median(recoveries):.2f} s, max {max(recoveries):.2f} s; outcomes {dict(outcomes)}; "
        f"hung clients {hung_threads + outcomes['hung']}"
    )
    assert hung_threads == 0 and outcomes["hung"] == 0
    unexpected = {k: v for k, v in outcomes.items() if k not in ("ok", "cut", "503")}
    assert unexpected == {}, f"answers other than whole streams, cut streams and 503s: {unexpected}"
    assert outcomes["ok"] >= kills  # the load really ran between the kills


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_llama_server_outlives_the_orchestrator(
    rig: Rig, tmp_path: Path, tally: Callable[[str], None], sig: signal.Signals
) -> None:
    rounds = scale(2, 20)
    orphans, codes = 0, Counter[int]()
    for _ in range(rounds):
        instance = run_rig(rig, tmp_path)
        [llama] = instance.children("llama-server")
        instance.proc.send_signal(sig)
        codes[instance.proc.wait(20)] += 1
        try:
            llama.wait(10)
        except psutil.TimeoutExpired:
            orphans += 1
            llama.kill()
    tally(f"{rounds} x {sig.name} of `run`: exit codes {dict(codes)}, orphaned llama-servers {orphans}")
    assert orphans == 0
    assert set(codes) == {0 if sig != signal.SIGKILL else -signal.SIGKILL}
