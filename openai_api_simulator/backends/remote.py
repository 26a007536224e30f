"""A model served by OpenAI-compatible servers elsewhere (`--upstream NAME=URL`), balanced and failing over.

Several URLs for one NAME are tried round-robin. A URL that refuses a connection is marked down for
`down_for` seconds: while another is up it is tried only as a last resort. The model is "ready" while any URL
is up and "failed" while all are down (they are still tried then, so a server that comes back is used at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

from openai_api_simulator.api import endpoints
from openai_api_simulator.backends.relay import Relay, RelayedBackend

_FLAG_FORM: Final = "NAME=URL (for example llama3=http://192.168.1.20:8080/v1)"


def normalise_url(url: str) -> str:
    """`http://host:8080/v1/` → `http://host:8080`; ValueError unless it is an absolute http(s) URL."""
    text = url.strip().rstrip("/").removesuffix("/v1").rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not an http:// or https:// base URL (such as http://127.0.0.1:8080/v1)")
    return text


def parse_upstream_flags(values: Sequence[str]) -> dict[str, list[str]]:
    """`--upstream NAME=URL` values → the base URLs of each NAME; a NAME given again adds a URL to balance over."""
    urls: dict[str, list[str]] = {}
    for value in values:
        name, sep, url = value.partition("=")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name) or not url.strip():
            raise ValueError(f"--upstream {value!r}: expected {_FLAG_FORM}")
        try:
            base = normalise_url(url)
        except ValueError as exc:
            raise ValueError(f"--upstream {value!r}: {exc}; expected {_FLAG_FORM}") from None
        found = urls.setdefault(name, [])
        if base not in found:
            found.append(base)
    return urls


class RemoteBackend(RelayedBackend):
    """One model id served by one or more remote servers, through the shared `relay`."""

    # What a remote server answers is not known in advance: every endpoint is relayed, and the server says no.
    capabilities = endpoints.NAMES

    def __init__(
        self,
        model: str,
        urls: Sequence[str],
        relay: Relay,
        *,
        api_key: str | None = None,
        owned_by: str = "upstream",
        created: int | None = None,
        down_for: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        normalised: list[str] = []
        for url in urls:
            base = normalise_url(url)
            if base not in normalised:
                normalised.append(base)
        if not normalised:
            raise ValueError(f"the upstream model {model!r} needs at least one URL")
        super().__init__(model, relay, owned_by=owned_by, created=created)
        self._urls: Final = tuple(normalised)
        self._api_key = api_key
        self._down_for = down_for
        self._clock = clock
        self._down_until: dict[str, float] = {}
        self._turn = 0

    @property
    def name(self) -> str:
        return f"the upstream {', '.join(self._urls)}"

    # -- where the model is served: the up URLs, round-robin

    @property
    def state(self) -> str:
        now = self._clock()
        return "ready" if any(self._down_until.get(u, 0.0) <= now for u in self._urls) else "failed"

    @property
    def api_key(self) -> str | None:
        return self._api_key

    @property
    def retry_after(self) -> float:
        return self._down_for

    def urls(self) -> list[str]:
        """Up URLs, starting one further on each call (round-robin), then the down ones, soonest back first."""
        now = self._clock()
        up = [u for u in self._urls if self._down_until.get(u, 0.0) <= now]
        down = sorted((u for u in self._urls if u not in up), key=self._down_until.__getitem__)
        turn, self._turn = self._turn, self._turn + 1
        if up:
            start = turn % len(up)
            up = up[start:] + up[:start]
        return up + down

    def mark_down(self, url: str) -> None:
        if url in self._urls:
            self._down_until[url] = self._clock() + self._down_for

    def mark_up(self, url: str) -> None:
        self._down_until.pop(url, None)

    def __repr__(self) -> str:
        return f"RemoteBackend({self.model!r}, {list(self._urls)!r})"
