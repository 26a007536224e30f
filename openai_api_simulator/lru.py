"""A bounded least-recently-used map that threads may share: `cachetools.LRUCache` behind a lock.

The fake model keeps three such maps (whole responses by request bytes, stored Responses conversations,
generated answers); `cachetools` does the bookkeeping (and can bound by weight instead of count), this class
adds only the lock its docs ask callers to provide.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

import cachetools

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `maxsize` entries; the least recently read or written goes first."""

    def __init__(self, maxsize: int) -> None:
        self._items: cachetools.LRUCache[K, V] = cachetools.LRUCache(maxsize)
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
