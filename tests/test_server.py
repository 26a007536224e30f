"""Binding the public socket before uvicorn starts: a busy port, a bad host and port 0, each said clearly."""

from __future__ import annotations

import os
import socket
import sys

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
