"""Who may reach the server from a browser: the Host header, the Origin header, and CORS for those let in.

With no API key the server does what any request asks, so a web page must not be able to drive it:

- **DNS rebinding**: a page on ``evil.example`` points its name at 127.0.0.1 and calls the server as if it
  were its own site, reading the answers. The browser then sends ``Host: evil.example``. A rebinding needs a
  DNS name, so a Host that is an IP address, ``localhost`` (or ``*.localhost``, which browsers resolve to
  loopback) or a name the server was told about is safe; any other name is refused with 421. Bound to a
  wildcard address (0.0.0.0, ``::``: containers, a LAN), every Host is accepted unless ``--allowed-hosts``
  is given, because clients there use service names (``sim`` in docker-compose) and the machine's names, and
  anyone on the network can reach the port anyway.
- **Cross-site requests**: any page can POST to ``http://127.0.0.1:3080`` (it cannot read the answer, but
  the work is done: `run`'s engines generate, `previous_response_id` state is stored). Browsers send
  ``Origin`` with every such request, and with every request made by a rebound page, so a request whose
  Origin is neither a page on this machine (a loopback origin, any port: your own dev server, or its proxy
  forwarding the Origin) nor listed in ``--cors-origins`` is refused with 403. Clients outside browsers
  (SDKs, curl) send no Origin and are not affected.
- **CORS** (``--cors-origins``, off by default): Starlette's `CORSMiddleware` answers preflights and adds the
  ``Access-Control-*`` headers for the listed origins; `app.create_app` wires it inside this guard and
  outside the API key check, so preflights (which carry no key) are answered and a 401 is readable.

Every check works on the raw ASGI headers, and each distinct Host/Origin value is judged once (remembered).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from openai_api_simulator.errors import APIError

# Addresses that mean "every interface": the default then accepts any Host (see the module docstring).
WILDCARD_BINDS: Final = frozenset({"", "0.0.0.0", "::", "[::]"})
ANY: Final = "*"
# Response headers a browser page may read (CORS hides all but a few by default): the ones OpenAI sends and
# SDKs use (request ids for bug reports, Retry-After and the rate-limit state for backing off).
EXPOSED_HEADERS: Final = (
    "x-request-id",
    "openai-processing-ms",
    "openai-version",
    "openai-organization",
    "retry-after",
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
)
_ORIGIN: Final = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#\s]+")
_SHOWN: Final = 100  # characters of a refused value quoted back in the error message
_DECISIONS: Final = 256  # distinct Host (or Origin) values remembered


def _split_host(value: str) -> str:
    """The host name of a Host header value or `--allowed-hosts` entry: no port, no brackets, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:  # name:port (a bare IPv6 address has several colons and no port)
        value = value.partition(":")[0]
    return value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_allowed_hosts(values: Iterable[str]) -> tuple[str, ...]:
    """`--allowed-hosts` entries normalised (`name`, `*.domain` or `*`); ValueError naming a URL given instead."""
    out: list[str] = []
    for value in values:
        if "/" in value:
            raise ValueError(f"--allowed-hosts takes host names such as sim or myhost.lan (or *), not URLs: {value!r}.")
        if value.strip() == ANY:
            out.append(ANY)
        elif value.strip().startswith("*."):
            out.append("*." + _split_host(value.strip()[2:]))
        elif name := _split_host(value):
            out.append(name)
    return tuple(out)


def parse_origins(values: Iterable[str]) -> tuple[str, ...]:
    """`--cors-origins` entries normalised (`scheme://host[:port]`, `null` or `*`); ValueError for anything else."""
    out: list[str] = []
    for value in values:
        origin = value.strip().lower().rstrip("/")
        # Browsers leave the scheme's default port out of the Origin they send.
        origin = origin.removesuffix(":80") if origin.startswith("http://") else origin
        origin = origin.removesuffix(":443") if origin.startswith("https://") else origin
        if origin not in (ANY, "null") and not _ORIGIN.fullmatch(origin):
            raise ValueError(
                f"--cors-origins takes web origins such as http://localhost:5173 (scheme://host[:port], no path) "
                f"or *, not {value!r}."
            )
        out.append(origin)
    return tuple(out)


@dataclass(frozen=True)
class Access:
    """The Host and Origin values a server accepts."""

    any_host: bool
    host_names: frozenset[str]
    host_suffixes: tuple[str, ...]  # from `*.domain` entries, as `.domain`
    any_origin: bool
    origins: frozenset[str]

    @classmethod
    def of(cls, bind_host: str, allowed_hosts: Iterable[str] = (), cors_origins: Iterable[str] = ()) -> Access:
        hosts = parse_allowed_hosts(allowed_hosts)
        origins = parse_origins(cors_origins)
        names = {h for h in hosts if not h.startswith("*")}
        bound = _split_host(bind_host)
        if bound and bound not in WILDCARD_BINDS:
            names.add(bound)  # `--host myhost.lan`: clients use that name
        return cls(
            any_host=ANY in hosts or (not hosts and bind_host.strip() in WILDCARD_BINDS),
            host_names=frozenset(names),
            host_suffixes=tuple(h[1:] for h in hosts if h.startswith("*.")),
            any_origin=ANY in origins,
            origins=frozenset(origins),
        )

    def allows_host(self, name: str, server: str | None) -> bool:
        """Whether a request with Host `name` (already split) to a connection accepted on `server` is answered.

        `server` is the address the connection reached (an IP for real sockets, so nothing a rebinding page
        controls); in-process ASGI clients such as Starlette's TestClient name it after the Host they send.
        """
        return (
            self.any_host
            or not name  # an empty Host is no browser's
            or _is_ip(name)
            or _is_loopback_name(name)
            or name in self.host_names
            or name == server
            or name.endswith(self.host_suffixes)
        )

    def allows_origin(self, origin: str) -> bool:
        if self.any_origin or origin in self.origins:
            return True
        if not _ORIGIN.fullmatch(origin):
            return False  # `null` (sandboxed frames, file:// pages) unless listed
        return _is_loopback_name(_split_host(origin.partition("://")[2]))


def _shown(raw: bytes) -> str:
    text = raw.decode("latin-1")
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def host_refused(raw: bytes) -> APIError:
    name = _split_host(raw.decode("latin-1"))
    return APIError(
        421,
        f"Host {_shown(raw)!r} is not allowed: this server answers to localhost, IP addresses and the names "
        "it is given, so that a web page cannot reach it through a DNS name pointed at this machine (DNS "
        f"rebinding). To use this name, start the server with --allowed-hosts {name or ANY} "
        "(or OAS_ALLOWED_HOSTS).",
        type="invalid_request_error",
        code="host_not_allowed",
    )


def origin_refused(raw: bytes) -> APIError:
    origin = _shown(raw.strip())
    return APIError(
        403,
        f"Requests from the web page origin {origin!r} are refused: only pages on this machine may call this "
        "server from a browser, so that other sites cannot make it do work. To let that page call it, start "
        f"the server with --cors-origins {origin or 'ORIGIN'} (or OAS_CORS_ORIGINS).",
        type="permission_error",
        code="origin_not_allowed",
    )


class HostOriginGuard:
    """Refuses requests whose Host or Origin header `access` does not accept (pure ASGI, every path)."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access
        # Decisions by raw header value: a server sees a handful of distinct ones, so the check costs a dict
        # lookup. Emptied when full, so a client sending a new Host each time cannot grow it.
        self._hosts: dict[tuple[bytes, str | None], bool] = {}
        self._origins: dict[bytes, bool] = {}

    def _decide_host(self, key: tuple[bytes, str | None]) -> bool:
        if len(self._hosts) >= _DECISIONS:
            self._hosts.clear()
        ok = self._hosts[key] = self.access.allows_host(_split_host(key[0].decode("latin-1")), key[1])
        return ok

    def _decide_origin(self, raw: bytes) -> bool:
        if len(self._origins) >= _DECISIONS:
            self._origins.clear()
        ok = self._origins[raw] = self.access.allows_origin(raw.decode("latin-1").strip().lower())
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        # Clients send Host first (HTTP/1.1 clients, browsers, the SDKs' httpx); the loop then looks for one
        # header only. This is on every request's path: about half a microsecond.
        host = headers[0][1] if headers and headers[0][0] == b"host" else None
        origin = None
        for name, value in headers:
            if name == b"origin":
                origin = value
            elif host is None and name == b"host":
                host = value
        error = None
        if host is not None:
            server = scope.get("server")
            key = (host, server[0] if server else None)
            ok = self._hosts.get(key)
            if not (self._decide_host(key) if ok is None else ok):
                error = host_refused(host)
        if error is None and origin is not None:
            ok = self._origins.get(origin)
            if not (self._decide_origin(origin) if ok is None else ok):
                error = origin_refused(origin)
        if error is None:
            await self.app(scope, receive, send)
            return
        response = Response(error.json_bytes(), status_code=error.status, media_type="application/json")
        await response(scope, receive, send)
