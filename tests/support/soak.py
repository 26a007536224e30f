"""Helpers of the soak suite (tests/soak): its scale, server processes, percentiles."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from openai_api_simulator.testing import free_port

FULL = os.environ.get("OAS_SOAK") == "full"


def scale(ci: int, full: int) -> int:
    """How many rounds: `ci` under `make test`, `full` under `make soak`."""
    return full if FULL else ci


def raise_fd_limit(wanted: int) -> int:
    """The soft limit on open files raised towards `wanted` (up to the hard limit); the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


@dataclass
class Instance:
    """An `openai-api-simulator` process started by a test."""

    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def children(self, name: str) -> list[psutil.Process]:
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [c for c in kids if name in c.name()]

    def wait_ready(self, model: str, within: float = 120.0) -> float:
        """Seconds until /health says `model` is ready."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            assert self.proc.poll() is None, f"exited with {self.proc.returncode}:\n{self.log.read_text()}"
            try:
                if httpx.get(self.url + "/health", timeout=2).json()["models"].get(model) == "ready":
                    return time.monotonic() - started
            except (httpx.TransportError, ValueError, KeyError):
                pass
            time.sleep(0.02)
        raise AssertionError(f"{model} not ready within {within} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        leftovers = self.children("llama-server")
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for child in leftovers:
            if child.is_running():
                child.kill()


def start(tmp_path: Path, *args: str) -> Instance:
    port = free_port()
    log = tmp_path / f"oas-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "openai_api_simulator", *args, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return Instance(proc, port, log)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
