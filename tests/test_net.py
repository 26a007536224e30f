"""Socket facts: URL host forms, free ports, and naming who holds a port."""

from __future__ import annotations

import os
import socket
import sys

from openai_api_simulator import net


def test_hosts_in_urls() -> None:
    assert net.url_host("127.0.0.1") == "127.0.0.1"
    assert net.url_host("::1") == "[::1]" and net.url_host("[::1]") == "[::1]"
    assert net.connect_host("0.0.0.0") == "127.0.0.1" and net.connect_host("::") == "::1"
    assert net.base_url("0.0.0.0", 3080) == "http://127.0.0.1:3080"
    assert net.base_url("::", 80) == "http://[::1]:80"
    assert net.base_url("example.lan", 1) == "http://example.lan:1"


def test_a_free_port_is_free_until_someone_listens_and_the_holder_is_named() -> None:
    port = net.free_port()
    assert net.port_is_free("127.0.0.1", port)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        assert not net.port_is_free("127.0.0.1", port)
        if sys.platform.startswith("linux"):  # other systems may hide other processes' sockets
            held = net.port_holder(port)
            assert held is not None and held.startswith(f"pid {os.getpid()} (")
    assert net.port_holder(port) is None
