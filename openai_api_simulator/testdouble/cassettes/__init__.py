"""Record and replay: real exchanges written as cassette files, answered again offline, byte for byte.

Two ways in (docs/record-replay.md has the workflow)::

    serve --record DIR --record-upstream URL    replay what DIR holds, record the rest from URL ("new episodes")
    serve --replay DIR [--replay-miss M]         replay what DIR holds; a miss gets M:
                                                   fake    the fake model answers (routing as usual; default)
                                                   error   404 cassette_not_found naming the key
                                                   record  forwarded to --record-upstream and recorded

`--record DIR` is `--replay DIR --replay-miss record`: a suite run twice records each exchange once, and a
cassette is re-recorded by deleting its file.

The modules, one concern each:

* `key`: the request key (normalisation, digest, file name).
* `format`: the cassette file and the directory of them (`Library`).
* `record`: forwarding a miss through the relay and writing what it answered.
* `replay`: answering from a cassette at the recorded pace.
* `middleware`: the ASGI middleware that decides between them, installed only when the flags are given.
"""

from __future__ import annotations

from pathlib import Path

from openai_api_simulator.backends.remote import normalise_url
from openai_api_simulator.config import CASSETTE_MISSES, CassetteMiss, Cassettes
from openai_api_simulator.testdouble.cassettes.format import Cassette, CassetteError, Library
from openai_api_simulator.testdouble.cassettes.key import digest, normalise, request_key
from openai_api_simulator.testdouble.cassettes.middleware import CassetteMiddleware

__all__ = [
    "Cassette",
    "CassetteError",
    "CassetteMiddleware",
    "Library",
    "check",
    "digest",
    "from_flags",
    "normalise",
    "request_key",
]


def from_flags(
    *,
    record: Path | None,
    replay: Path | None,
    upstream: str | None,
    upstream_key: str | None,
    speed: float,
    miss: str | None,
) -> Cassettes | None:
    """The cassette settings of `serve`'s flags (None when neither --record nor --replay is given); a
    ValueError naming the flags that do not go together."""
    if record is None and replay is None:
        stray = [flag for flag, value in (("--record-upstream", upstream), ("--replay-miss", miss)) if value]
        if stray:
            raise ValueError(f"{' and '.join(stray)} need --record DIR or --replay DIR.")
        return None
    if record is not None and replay is not None:
        raise ValueError(
            "Give --record DIR (replay DIR, record what it lacks) or --replay DIR, not both: "
            "--record already replays what it has recorded."
        )
    if miss is not None and miss not in CASSETTE_MISSES:
        raise ValueError(f"--replay-miss must be {', '.join(CASSETTE_MISSES)}, not {miss!r}.")
    if record is not None and miss not in (None, "record"):
        raise ValueError(f"--record records every miss; --replay-miss {miss} goes with --replay DIR.")
    chosen: CassetteMiss = "record" if record is not None else miss or "fake"
    directory = record if record is not None else replay
    assert directory is not None
    if chosen == "record":
        if not upstream:
            flag = "--record DIR" if record is not None else "--replay-miss record"
            raise ValueError(
                f"{flag} needs --record-upstream URL: the OpenAI-compatible server to record from "
                "(https://api.openai.com/v1, or an `openai-api-simulator run` such as http://127.0.0.1:3080/v1)."
            )
        try:
            upstream = normalise_url(upstream)
        except ValueError as exc:
            raise ValueError(f"--record-upstream: {exc}.") from None
    elif upstream:
        raise ValueError("--record-upstream is only used when recording: add --replay-miss record, or use --record.")
    return Cassettes(directory=directory, miss=chosen, speed=speed, upstream=upstream, upstream_key=upstream_key)


def check(cassettes: Cassettes) -> None:
    """Before the server starts: the directory usable and every cassette in it readable; CassetteError
    (a `StartupError`) naming the path and what to do."""
    Library.open(cassettes.directory, writable=cassettes.records)
