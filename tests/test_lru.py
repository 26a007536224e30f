"""The byte-bounded LRU map every cache shares."""

from __future__ import annotations

import threading

import pytest

from openai_api_simulator.lru import ENTRY_OVERHEAD, LRU

# Weights below are chosen so that each entry costs exactly 1,000 bytes, overhead included.
KB = 1000 - ENTRY_OVERHEAD


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LRU[str, int] = LRU(2000)
    cache.put("a", 1, KB)
    cache.put("b", 2, KB)
    assert cache.get("a") == 1  # a read makes "a" recent
    cache.put("c", 3, KB)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2 and cache.nbytes == 2000
    cache.put("a", 10, KB)  # writing an existing key replaces it without growing
    assert cache.get("a") == 10 and len(cache) == 2 and cache.nbytes == 2000


def test_eviction_is_by_bytes_not_entries() -> None:
    cache: LRU[str, str] = LRU(10_000)
    for i in range(9):
        cache.put(f"small{i}", "s", KB)
    cache.put("big", "B", 5000 - ENTRY_OVERHEAD)  # 9 + 5 KB: the four oldest small ones make room
    assert [cache.get(f"small{i}") for i in range(9)] == [None] * 4 + ["s"] * 5
    assert cache.get("big") == "B" and cache.nbytes == 10_000
    # Replacing an entry with a heavier value accounts the difference.
    cache.put("big", "B", 1000 - ENTRY_OVERHEAD)
    assert cache.nbytes == 6000


def test_an_entry_larger_than_the_budget_is_not_kept_and_drops_the_old_value() -> None:
    cache: LRU[str, str] = LRU(3000)
    cache.put("a", "old", KB)
    cache.put("b", "kept", KB)
    assert cache.put("a", "huge", 3001 - ENTRY_OVERHEAD) is False
    assert cache.get("a") is None  # never the stale value
    assert cache.get("b") == "kept" and cache.nbytes == 1000


def test_every_entry_costs_at_least_its_overhead() -> None:
    cache: LRU[int, int] = LRU(100 * ENTRY_OVERHEAD)
    for i in range(1000):
        cache.put(i, i, 0)  # weightless values still fill the budget
    assert len(cache) == 100 and cache.get(999) == 999 and cache.get(899) is None


def test_resize_evicts_down_to_the_new_budget() -> None:
    cache: LRU[str, int] = LRU(5000)
    for i in range(5):
        cache.put(str(i), i, KB)
    cache.resize(2000)
    assert [cache.get(str(i)) for i in range(5)] == [None, None, None, 3, 4]
    cache.resize(0)
    assert len(cache) == 0 and cache.nbytes == 0
    assert cache.put("x", 1, 0) is False
    with pytest.raises(ValueError, match="cannot be negative"):
        cache.resize(-1)
    with pytest.raises(ValueError, match="cannot be negative"):
        LRU(-1)


def test_threads_can_share_it() -> None:
    cache: LRU[int, int] = LRU(64 * 1000)

    def work(offset: int) -> None:
        for i in range(2000):
            cache.put(offset + i % 100, i, KB)
            cache.get(offset + (i * 7) % 100)

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 64 and cache.nbytes == 64 * 1000
