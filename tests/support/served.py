"""`openai-api-simulator` in a process of its own, for tests about sockets and signals, and raw HTTP over them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from openai_api_simulator.testing import free_port
from tests.support.server import wait_healthy

CHAT: bytes = json.dumps(
    {"model": "gpt-sim-1", "max_tokens": 200, "messages": [{"role": "user", "content": "Tell me a long story."}]}
).encode()


@dataclass
class Served:
    port: int
    proc: subprocess.Popen[str]
    output: tuple[str, str] = ("", "")  # (stdout, stderr) once stopped

    def connect(self, timeout: float = 10) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[str, str]:
        """Send `sig`, wait for the exit; (stdout, stderr)."""
        self.proc.send_signal(sig)
        self.output = self.proc.communicate(timeout=timeout)
        return self.output


@contextmanager
def serve_process(
    *args: str, env: dict[str, str] | None = None, open_files: int | None = None, ignore_sighup: bool = False
) -> Iterator[Served]:
    """`python -m openai_api_simulator --port N ARGS` started and answering /health; stopped afterwards.

    `open_files`: the process's open-file limit, soft and hard (so it cannot raise it). `ignore_sighup`: started
    as `nohup` starts it.
    """
    port = free_port()

    def before_exec() -> None:
        if open_files is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
        if ignore_sighup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, "-m", "openai_api_simulator", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=before_exec if open_files is not None or ignore_sighup else None,
    )
    served = Served(port, proc)  # before the wait: the `finally` below stops it whatever happens
    try:
        wait_healthy(proc, port)
        yield served
    finally:
        if proc.poll() is None:
            proc.terminate()
            served.output = proc.communicate(timeout=15)


def request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> bytes:
    """An HTTP/1.1 request's bytes (Content-Length set when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    all_headers = {**({"Content-Type": "application/json"} if body else {}), **(headers or {})}
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def read_answer(sock: socket.socket) -> Answer:
    """One response read from `sock` (Content-Length bodies only, which is what these tests get)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return Answer(int(status_line.split()[1]), headers, body[:length])


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes `sock` (reading and dropping anything it sends first) before its timeout."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True
