"""The nanochat engine against bare transformers, on random weights of the real d20 shape, in one run.

Weights: nanochat d20 (20 layers, 1280 wide, 10 heads, vocab 65,536: 561M parameters), random, written in the
raw layout and converted once as the engine does. Measured, with rounds alternating so drift hits both sides:

* engine tokens/s (a streaming request through its HTTP server, seen by the client: request sent to the finish
  chunk) ÷ a bare `model.generate` call on the same weights, device, dtype and threads, both for the same
  short prompt and token count (goal >= 0.95: the server adds nothing); and ÷ the engine's loop in process;
* after a 100-token prompt, the engine's loop with its KV cache ÷ the same loop recomputing every token;
* time to first token for a 100-token prompt, through the server;
* cached start → ready (the conversion already done: safetensors memory-mapped) and the engine's RSS;
* bf16 against fp32 for the bare loop (what `--dtype auto` decides on this CPU);
* the memory-bandwidth bound: bytes of weights read per token ÷ measured copy bandwidth, and how close the
  engine gets to it.

Run: python benchmarks/nanochat.py [--tokens 48] [--rounds 3] [--dtype auto]   (needs the [nanochat] extra)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import torch
from transformers.utils import logging as transformers_logging

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openai_api_simulator.engines.base import physical_cores
from openai_api_simulator.engines.nanochat import checkpoint
from openai_api_simulator.engines.nanochat.device import place, probe
from openai_api_simulator.engines.nanochat.generate import Finish, Generator, Sampling
from openai_api_simulator.engines.nanochat.tokenizer import Turn
from openai_api_simulator.testing import free_port
from tests.support.nanochat import write_checkpoint

KEY = "bench"
PROMPT_TOKENS = 100


def prompt_of(tokenizer: Any, tokens: int) -> str:
    """A user message whose rendered prompt is `tokens` tokens long (or one short of it)."""
    text = "Tell me about the history of bridges, and why the Romans built theirs of stone. " * 20
    while len(tokenizer.render([Turn("user", text)])) > tokens:
        text = text[:-1]
    return text


def bandwidth_gb_s(size_mb: int = 512, repeats: int = 5) -> float:
    """Memory copy bandwidth (read + write counted) on this machine, best of `repeats`."""
    src = torch.empty(size_mb * 1024 * 1024 // 4, dtype=torch.float32).fill_(1)
    dst = torch.empty_like(src)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        best = max(best, 2 * src.numel() * 4 / (time.perf_counter() - start) / 1e9)
    return best


def bare_generate(model: Any, prompt: list[int], tokens: int) -> float:
    """Tokens/s of transformers' own generate loop (greedy, exactly `tokens` new tokens, KV cache on), the whole
    call: the short prompt's prefill included, as it is in a request."""
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        start = time.perf_counter()
        model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, use_cache=True)
        return tokens / (time.perf_counter() - start)


def loop_rate(generator: Generator, prompt: list[int], tokens: int) -> float:
    """Tokens/s of the engine's loop in this process, the whole call as above."""
    sampling = Sampling(temperature=0, max_tokens=tokens)
    start = time.perf_counter()
    finish = list(generator.stream(prompt, sampling))[-1]
    assert isinstance(finish, Finish)
    return finish.completion_tokens / (time.perf_counter() - start)


def no_cache_rate(model: Any, prompt: list[int], tokens: int) -> float:
    """The same greedy loop recomputing the whole sequence for every token (what a KV cache saves)."""
    ids = list(prompt)
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(tokens):  # the first token costs a prefill here as with the cache: both rates include it
            logits = model(input_ids=torch.tensor([ids]), use_cache=False, logits_to_keep=1).logits[0, -1]
            ids.append(int(logits.argmax()))
        return tokens / (time.perf_counter() - start)


class EngineProcess:
    def __init__(self, model_dir: Path, device: str, dtype: str, threads: int, log: Path) -> None:
        self.port = free_port()
        argv = [
            sys.executable, "-m", "openai_api_simulator.engines.nanochat.server", "--port", str(self.port),
            "--model-dir", str(model_dir), "--device", device, "--dtype", dtype, "--threads", str(threads),
        ]  # fmt: skip
        self.started = time.perf_counter()
        with log.open("wb") as out:
            env = {**os.environ, "OAS_ENGINE_API_KEY": KEY}
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log

    def wait_ready(self) -> float:
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the engine exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            time.sleep(0.05)

    def stream(self, messages: list[dict[str, str]], tokens: int) -> tuple[float, float, int]:
        """(time to first content, tokens/s over the whole request, completion tokens), seen by the client.

        Tokens are counted from `usage`, not from content events: a token that ends inside a multi-byte character
        sends no event of its own.
        """
        body = {
            "messages": messages, "temperature": 0, "max_tokens": tokens, "stream": True,
            "stream_options": {"include_usage": True},
        }  # fmt: skip
        headers = {"Authorization": f"Bearer {KEY}"}
        start = time.perf_counter()
        first = last = 0.0
        used = 0
        with httpx.stream("POST", f"{self.url}/v1/chat/completions", json=body, headers=headers, timeout=600) as r:
            for line in r.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[6:])
                choices = chunk.get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    first = first or time.perf_counter()
                if choices[0].get("finish_reason"):
                    last = time.perf_counter()
                if chunk.get("usage"):
                    used = int(chunk["usage"]["completion_tokens"])
        if not first or not used or not last:
            raise RuntimeError(f"the engine answered no text, no finish or no usage; see {self.log}")
        return first - start, used / (last - start), used

    def rss_mib(self) -> float:
        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def listed(rates: list[float]) -> str:
    return ", ".join(f"{r:.2f}" for r in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=48, help="tokens generated per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    args = parser.parse_args()
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    placement = place("cpu", args.dtype, probe())
    threads = physical_cores()
    torch.set_num_threads(threads)
    dtype = getattr(torch, placement.dtype)
    print(f"$ python benchmarks/nanochat.py {' '.join(sys.argv[1:])}")
    print(f"machine: {psutil.cpu_count()} logical CPUs, {threads} physical; device cpu, {placement.dtype}")

    with tempfile.TemporaryDirectory(prefix="nanochat-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        ckpt = write_checkpoint(
            folder / "raw",
            seed=1,
            n_layer=20,
            n_embd=1280,
            n_head=10,
            n_kv_head=10,
            sequence_len=2048,
            vocab_size=65536,
        )
        written = time.perf_counter() - started
        started = time.perf_counter()
        model_dir = checkpoint.convert(checkpoint.RawCheckpoint(ckpt.model, ckpt.meta, ckpt.tokenizer), folder / "hf")
        converted = time.perf_counter() - started
        del ckpt  # the state dict: 2.2 GB the rest of the run does not need
        print(f"d20 random checkpoint written in {written:.1f} s, converted once in {converted:.1f} s")

        model, tokenizer = checkpoint.load(model_dir, device="cpu", dtype=dtype)
        params = sum(p.numel() for p in model.parameters())
        embedding = model.model.embed_tokens.weight.numel()
        bytes_per_token = (params - embedding) * dtype.itemsize  # the embedding is a row lookup, not a full read
        generator = Generator(model, tokenizer, "cpu")
        question = prompt_of(tokenizer, PROMPT_TOKENS)
        messages = [{"role": "user", "content": question}]
        prompt = tokenizer.render([Turn("user", question)])
        short_prompt = tokenizer.render([Turn("user", "Hello!")])

        bare, engine_rates, loop, nocache, ttft, starts, rss = [], [], [], [], [], [], []
        counts: list[int] = []
        cached: list[float] = []
        for n in range(args.rounds):
            engine = EngineProcess(model_dir, "cpu", placement.dtype, threads, folder / f"engine-{n}.log")
            try:
                starts.append(engine.wait_ready())
                engine.stream([{"role": "user", "content": "warm up"}], 4)
                first, _, _ = engine.stream(messages, 1)
                ttft.append(first)
                _, rate, used = engine.stream([{"role": "user", "content": "Hello!"}], args.tokens)
                engine_rates.append(rate)
                counts.append(used)
                rss.append(engine.rss_mib())
            finally:
                engine.stop()
            bare.append(bare_generate(model, short_prompt, args.tokens))
            loop.append(loop_rate(generator, short_prompt, args.tokens))
            # After the 100-token prompt, where recomputing costs what it would in a conversation.
            cached.append(loop_rate(generator, prompt, 16))
            nocache.append(no_cache_rate(model, prompt, 16))

        other = torch.float32 if dtype == torch.bfloat16 else torch.bfloat16
        model_other, _ = checkpoint.load(model_dir, device="cpu", dtype=other)
        other_rate = statistics.median(bare_generate(model_other, short_prompt, args.tokens) for _ in range(2))
        del model_other
        gb_s = bandwidth_gb_s()

    med = statistics.median
    print(
        f"prompt of {len(prompt)} tokens for time to first token; {args.tokens} tokens per rate; {args.rounds} rounds"
    )
    print(
        f"engine through HTTP:       {med(engine_rates):6.2f} tok/s   (rounds {listed(engine_rates)}; "
        f"{min(counts)}-{max(counts)} tokens)"
    )
    print(f"bare model.generate:       {med(bare):6.2f} tok/s   (rounds {listed(bare)})")
    ratio = med(engine_rates) / med(bare)
    print(f"  engine / bare generate:  {ratio:.3f} (goal >= 0.95): {'ok' if ratio >= 0.95 else 'MISSED'}")
    print(f"  engine / its own loop in process ({med(loop):.2f} tok/s): {med(engine_rates) / med(loop):.3f}")
    print(f"after the {len(prompt)}-token prompt: KV cache {med(cached):.2f} tok/s, recomputing everything "
          f"{med(nocache):.2f} tok/s -> cache x{med(cached) / med(nocache):.1f}")  # fmt: skip
    print(f"time to first token ({len(prompt)}-token prompt): {med(ttft) * 1000:.0f} ms")
    print(f"cached start -> ready:     {med(starts):.1f} s;  engine RSS {med(rss):.0f} MiB")
    print(f"bare generate in {other}: {other_rate:.2f} tok/s (vs {med(bare):.2f} in {dtype})")
    limit = gb_s * 1e9 / bytes_per_token
    print(f"memory bandwidth {gb_s:.1f} GB/s (copy); {bytes_per_token / 1e9:.2f} GB of weights read per token "
          f"-> at most {limit:.1f} tok/s; the engine reaches {med(engine_rates) / limit:.0%} of it")  # fmt: skip


if __name__ == "__main__":
    main()
