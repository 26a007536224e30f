"""Small socket facts every layer needs: who holds a port, which ports are free, how a host goes in a URL.

The public server (`server`), the engine supervisor and the command line all ask these questions; they are
answered once here.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Final

import psutil

# Long command lines are cut in messages: the program and its first arguments identify it.
_CMDLINE_MAX: Final = 120


def url_host(host: str) -> str:
    """`host` as it goes in a URL: an IPv6 address in brackets (RFC 3986), anything else as it is."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def connect_host(host: str) -> str:
    """The address a client uses to reach a server listening on `host` (a wildcard is reached over loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def base_url(host: str, port: int) -> str:
    """`http://HOST:PORT` for a server listening on host:port, reachable from this machine."""
    return f"http://{url_host(connect_host(host))}:{port}"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now on `host` (another program may still take it before you bind it)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        if os.name == "posix":
            # As servers do: a port in TIME_WAIT is free to listen on again; a listening socket still is not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_holder(port: int) -> str | None:
    """`pid N (command line)` of the process listening on `port`, when the OS lets us see it.

    macOS needs root to list other users' sockets, and some containers hide them: then None.
    """
    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.Error, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            with contextlib.suppress(psutil.Error):
                cmdline = " ".join(psutil.Process(conn.pid).cmdline())
                if cmdline:
                    if len(cmdline) > _CMDLINE_MAX:
                        cmdline = cmdline[: _CMDLINE_MAX - 3] + "..."
                    return f"pid {conn.pid} ({cmdline})"
            return f"pid {conn.pid}"
    return None
