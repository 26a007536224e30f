"""What a cache really holds, to check that the weight it counts is an honest estimate."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable


def held_bytes(fill: Callable[[], object]) -> int:
    """The bytes Python still holds after `fill()` returns (what it kept alive, e.g. in a cache), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fill()  # what it returns is dropped: only what stays alive elsewhere counts
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
