"""Binding the public socket before uvicorn starts: a busy port, a bad host and port 0, each said clearly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from openai_api_simulator.errors import StartupError
from openai_api_simulator.server import bind_socket


def test_port_0_binds_a_free_port_that_listens() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the backlog accepts a connection before anyone serves it
    finally:
        sock.close()


def test_a_busy_port_names_the_port_the_holder_and_the_way_out() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StartupError) as busy:
            bind_socket("127.0.0.1", port)
    message = str(busy.value)
    assert f"Port {port} on 127.0.0.1 is already in use" in message and "--port (or OAS_PORT)" in message
    if sys.platform.startswith("linux"):
        assert f"by pid {os.getpid()} (" in message


def test_a_host_that_does_not_resolve_says_to_use_an_address() -> None:
    with pytest.raises(StartupError, match=r"Cannot listen on host 'no-such-host\.invalid'.*127\.0\.0\.1"):
        bind_socket("no-such-host.invalid", 0)


# A server in a process of its own, its main thread taking the signals, with the counts lifted so that one
# request can keep a worker busy for far longer than the test waits.
_SERVE = r"""
from openai_api_simulator import limits
limits.MAX_SCHEMA_STEPS = 10**9
limits.MAX_SCHEMA_COUNT = 10**9
limits.WORK_DEADLINE_S = 3600
from openai_api_simulator.app import create_app
from openai_api_simulator.config import Settings
from openai_api_simulator.server import bind_socket, serve_forever
sock = bind_socket("127.0.0.1", 0)
print(sock.getsockname()[1], flush=True)
serve_forever(create_app(Settings()), sock, log_level="warning", access_log=False)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a POSIX signal")
def test_sigterm_stops_the_server_at_once_whatever_work_is_in_flight() -> None:
    with subprocess.Popen([sys.executable, "-c", _SERVE], stdout=subprocess.PIPE, text=True) as proc:
        try:
            answers = _sigterm_during_work(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert answers in ([503], [0])  # told the server stopped, or cut off by the shutdown


def _sigterm_during_work(proc: subprocess.Popen[str]) -> list[int]:
    """Send a long request, SIGTERM the server while it is worked on; what the client got."""
    assert proc.stdout is not None
    url = f"http://127.0.0.1:{proc.stdout.readline().strip()}"
    httpx.get(url + "/health", timeout=30).raise_for_status()
    # A million array items: minutes of generation, in a worker thread.
    schema = {"type": "object", "properties": {"xs": {"type": "array", "minItems": 10**6}}, "required": ["xs"]}
    body = {
        "model": "gpt-sim-1",
        "messages": [{"role": "user", "content": "go"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
    }
    answers: list[int] = []

    def fire() -> None:
        try:
            answers.append(httpx.post(url + "/v1/chat/completions", json=body, timeout=600).status_code)
        except httpx.TransportError:
            answers.append(0)

    sender = threading.Thread(target=fire, daemon=True)
    sender.start()
    time.sleep(1.0)  # well into the work
    assert sender.is_alive()
    proc.send_signal(signal.SIGTERM)
    # Generous: the point is that without stopping the work uvicorn would wait for the request to finish.
    assert proc.wait(timeout=5) == 0
    sender.join(timeout=30)
    return answers
