"""KeyedStore: per-key serialisation, bounds and pruning of per-container history."""

from __future__ import annotations

import threading
import time

from lxcfs_fuse.state import KeyedStore


def test_update_serialises_one_key() -> None:
    """Concurrent updates of one key each start from the previous one's result."""
    store: KeyedStore[str, int] = KeyedStore()

    def bump(current: int | None) -> tuple[None, int]:
        value = current or 0
        time.sleep(0.0005)  # widen the window a lost update would need
        return None, value + 1

    threads = [
        threading.Thread(target=lambda: [store.update("ct", bump) for _ in range(25)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("ct") == 100


def test_capacity_evicts_least_recently_used() -> None:
    """Beyond capacity the least recently used keys go first."""
    store: KeyedStore[int, str] = KeyedStore(capacity=3)
    for key in range(3):
        store.set(key, str(key))
    store.update(0, lambda current: (None, current))  # 0 is now the most recent
    store.set(3, "3")
    assert store.snapshot_keys() == [2, 0, 3] and store.get(1) is None


def test_prune_drops_idle_and_gone_keys() -> None:
    """prune() forgets keys idle too long and keys whose cgroup is gone."""
    now = [0.0]
    store: KeyedStore[str, int] = KeyedStore(idle_seconds=100, monotonic=lambda: now[0])
    store.set("old", 1)
    now[0] = 50.0
    store.set("gone", 2)
    store.set("alive", 3)
    now[0] = 120.0
    assert store.prune(lambda key: key == "gone") == 2
    assert store.snapshot_keys() == ["alive"]


def test_returning_none_forgets_the_key() -> None:
    """An update that returns no value leaves no entry behind."""
    store: KeyedStore[str, int] = KeyedStore()
    store.set("ct", 1)
    store.update("ct", lambda current: (None, None))
    assert len(store) == 0
