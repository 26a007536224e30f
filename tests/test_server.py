"""Binding the public socket before uvicorn starts (a busy port, a bad host and port 0, each said clearly), and
stopping: SIGINT, SIGTERM and SIGHUP exit 0 within a second whatever is in flight, with nothing but the usual
lines logged."""

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

from openai_api_simulator.app import create_app
from openai_api_simulator.errors import StartupError
from openai_api_simulator.server import bind_socket
from openai_api_simulator.testing import serving
from tests.support.served import CHAT, closed_by_server, read_answer, request, serve_process


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


# -- stopping: every stop signal exits 0, promptly and quietly, whatever is in flight

QUIET_STOP = ("Traceback", "ASGI", "timeout graceful shutdown exceeded", "Exception")


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_stops_cleanly_with_exit_code_0() -> None:
    with serve_process() as served:
        _, err = served.stop(signal.SIGHUP)
    assert served.proc.returncode == 0  # not -1 (killed by SIGHUP)
    assert "Finished server process" in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_under_nohup_sighup_stays_ignored() -> None:
    """`nohup openai-api-simulator &` means: keep serving when the terminal closes."""
    with serve_process(ignore_sighup=True) as served:
        served.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert served.proc.poll() is None
        assert httpx.get(f"http://127.0.0.1:{served.port}/health").status_code == 200
        served.stop()
    assert served.proc.returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stream_in_flight_does_not_hold_the_stop(sig: signal.Signals) -> None:
    """A stream at one token a second (minutes of it): the server still exits 0 at once, with nothing logged
    but its usual lines, and the client sees the connection end (not a hang)."""
    stream = CHAT.replace(b'"max_tokens"', b'"stream": true, "max_tokens"')
    with serve_process() as served, served.connect() as sock:
        sock.sendall(request("POST", "/v1/chat/completions", stream, {"X-Simulator-Tokens-Per-Second": "1"}))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        _, err = served.stop(sig)
        took = time.monotonic() - started
        assert closed_by_server(sock)
    assert served.proc.returncode == 0
    assert took < 3, f"took {took:.1f} s to stop"  # generous: ~0.5 s here; uvicorn's own timeout was 5.5 s
    assert not [word for word in QUIET_STOP if word in err], err


def test_a_slow_non_streamed_answer_in_flight_does_not_hold_the_stop() -> None:
    """A request that is not listening for its client (a long latency): cancelled, quietly."""
    with serve_process() as served, served.connect() as sock:
        sock.sendall(request("POST", "/v1/chat/completions", CHAT, {"X-Simulator-Latency-Ms": "60000"}))
        time.sleep(0.3)  # the server has it
        started = time.monotonic()
        _, err = served.stop()
        took = time.monotonic() - started
        assert closed_by_server(sock)
    assert served.proc.returncode == 0 and took < 3, f"rc {served.proc.returncode}, {took:.1f} s"
    assert not [word for word in QUIET_STOP if word in err], err


def test_a_request_that_ends_within_the_grace_is_answered_whole() -> None:
    with serve_process() as served, served.connect() as sock:
        # Answered 0.2 s after it is sent, stopped 0.1 s after: the cut comes 0.3 s after the stop begins.
        sock.sendall(request("POST", "/v1/chat/completions", CHAT, {"X-Simulator-Latency-Ms": "200"}))
        time.sleep(0.1)
        served.proc.send_signal(signal.SIGTERM)
        answer = read_answer(sock)
        served.proc.communicate(timeout=15)
    assert answer.status == 200 and answer.json()["object"] == "chat.completion"
    assert answer.headers.get("connection") == "close"  # and no keep-alive past the stop


def test_a_server_in_a_thread_stopped_by_flag_cuts_its_streams_too() -> None:
    """`testing.serving` and the pytest plugin stop by flag, not signal: the same prompt, quiet stop."""
    with serving(create_app()) as url:
        port = int(url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        stream = CHAT.replace(b'"max_tokens"', b'"stream": true, "max_tokens"')
        sock.sendall(request("POST", "/v1/chat/completions", stream, {"X-Simulator-Tokens-Per-Second": "1"}))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
    took = time.monotonic() - started  # `serving` joins the server thread on exit
    with sock:
        assert closed_by_server(sock)
    assert took < 3, f"took {took:.1f} s to stop"
