"""Request ids: the client's own `x-request-id` when it is sane, else a new one shaped like OpenAI's.

Echoed as the `x-request-id` response header, which the OpenAI SDKs expose (`response._request_id`), so a
client's failure can be found in the server's log by that id.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Final

HEADER: Final = b"x-request-id"
# Ids made per read of the system's randomness: one `os.urandom` call costs about as much as the rest of
# observing a request (a system call), so it is made for a batch.
_BATCH: Final = 256
# Printable ASCII, at most 128 characters: anything else (control bytes, a megabyte of header) is not
# echoed or logged; the request gets an id of its own instead.
_SANE: Final = re.compile(rb"[\x20-\x7e]{1,128}")


RequestId = tuple[str, bytes]  # the id, and as the header's value
_made: list[RequestId] = []


def new() -> RequestId:
    """`req_` and 32 random hex digits, as OpenAI's ids look."""
    if not _made:
        digits = os.urandom(16 * _BATCH).hex()
        _made.extend(
            (rid, rid.encode("ascii")) for rid in ("req_" + digits[i : i + 32] for i in range(0, 32 * _BATCH, 32))
        )
    return _made.pop()


def from_headers(headers: Iterable[tuple[bytes, bytes]]) -> RequestId:
    """The client's `x-request-id` (ASGI header pairs) if it sent a sane one, else a new one."""
    for name, value in headers:
        if name == HEADER:
            value = value.strip()
            if _SANE.fullmatch(value):
                return value.decode("ascii"), value
            break
    return new()
