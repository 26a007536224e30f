"""A bounded least-recently-used map that threads may share.

The fake model keeps three such maps (whole responses by request bytes, stored Responses conversations,
generated answers) and the app one (routes by request bytes); all are this class. It is an `OrderedDict`
behind a lock rather than `cachetools.LRUCache`: that library's bookkeeping cost about 5 µs more per request
the fake has not seen before (adr/0007), and every request reads or writes these maps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `maxsize` entries; the least recently read or written goes first."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("an LRU needs room for at least one entry")
        self._maxsize = maxsize
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            if len(self._items) > self._maxsize:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
