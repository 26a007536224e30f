"""A least-recently-used map bounded by bytes, that threads may share.

Every cache of the simulator is one of these (whole responses by request bytes, stored Responses
conversations, generated answers, embedding word vectors, parsed schemas and patterns, routes by request
bytes). They are bounded by an estimate of the bytes they hold, not by a count of entries: entries differ in
size by a factor of a million (a 200-byte route against a 16 MB embeddings response), so any count that is
safe for the large ones is useless for the small ones. It is an `OrderedDict` behind a lock rather than
`cachetools.LRUCache`: that library's bookkeeping cost about 5 µs more per request the fake has not seen
before (adr/0007), and every request reads or writes these maps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# What an entry costs beyond what the caller weighs: its slot and link in the OrderedDict (about 75 bytes
# measured with tracemalloc, up to twice that just after the dict grows) and in the dict of weights. Counted so
# that many tiny entries are bounded too: a weight of 0 must not mean free.
ENTRY_OVERHEAD: Final = 200


class LRU(Generic[K, V]):
    """Entries whose weights sum to at most `max_bytes`; the least recently read or written goes first.

    A weight is the caller's estimate of the bytes an entry keeps alive (its key and value), computed once
    when it is put; `ENTRY_OVERHEAD` is added to each.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("an LRU's byte budget cannot be negative")
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[K, V] = OrderedDict()
        # Weights apart from the values, so that `get` (every request does two or three) costs what it did
        # before there were weights; only `put` and eviction read them.
        self._weights: dict[K, int] = {}
        self._lock = threading.Lock()

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def nbytes(self) -> int:
        """The weights held now, overheads included."""
        return self._bytes

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V, weight: int) -> bool:
        """Keep `value` under `key`, evicting the least recently used entries until the budget holds.

        False when the entry alone is larger than the whole budget: it is not kept (and whatever `key` held
        before is dropped, so a read never sees a stale value).
        """
        weight += ENTRY_OVERHEAD
        with self._lock:
            old = self._weights.pop(key, None)
            if old is not None:
                del self._items[key]
                self._bytes -= old
            if weight > self._max_bytes:
                return False
            self._items[key] = value
            self._weights[key] = weight
            self._bytes += weight
            self._evict()
            return True

    def resize(self, max_bytes: int) -> None:
        """A new budget; shrinking evicts the least recently used entries at once."""
        if max_bytes < 0:
            raise ValueError("an LRU's byte budget cannot be negative")
        with self._lock:
            self._max_bytes = max_bytes
            self._evict()

    def _evict(self) -> None:
        while self._bytes > self._max_bytes:
            key, _ = self._items.popitem(last=False)
            self._bytes -= self._weights.pop(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
