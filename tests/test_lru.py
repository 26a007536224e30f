"""The bounded LRU map the fake's caches share."""

from __future__ import annotations

import threading

from openai_api_simulator.lru import LRU


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a read makes "a" recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2
    cache.put("a", 10)  # writing an existing key replaces it without growing
    assert cache.get("a") == 10 and len(cache) == 2


def test_threads_can_share_it() -> None:
    cache: LRU[int, int] = LRU(64)

    def work(offset: int) -> None:
        for i in range(2000):
            cache.put(offset + i % 100, i)
            cache.get(offset + (i * 7) % 100)

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 64
