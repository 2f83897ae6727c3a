"""State the daemon keeps between reads: a bounded, thread-safe map of per-container values.

Rules:
1. The model is pure: history (``StatHistory`` for /proc/stat) is handed in and the next
   value comes back. This store holds it, keyed by the container's cgroup paths.
2. Thread-safe per key: ``update`` runs read -> render -> store under that key's own lock,
   so two concurrent readers of one container's /proc/stat never both start from the same
   history (their CPU-view deltas would be counted twice or lost), while readers of other
   containers are not held up.
3. Bounded: at most ``capacity`` keys (least recently used go first), keys idle for
   ``idle_seconds`` are dropped, and ``prune(gone)`` drops keys whose cgroup disappeared
   (the housekeeping thread calls it), so containers coming and going leave nothing behind.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["KeyedStore"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")


class KeyedStore(Generic[K, V]):
    """key -> value with per-key serialisation (rule 2) and bounds (rule 3)."""

    def __init__(
        self,
        *,
        capacity: int = 4096,
        idle_seconds: float = 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._idle_seconds = idle_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # key -> (value, last use, lock of the key); least recently used first.
        self._entries: OrderedDict[K, tuple[V | None, float, threading.Lock]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: K) -> V | None:
        """The stored value (no serialisation; for readers that do not write back)."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else entry[0]

    def snapshot_keys(self) -> list[K]:
        """The keys holding a value, least recently used first (a copy)."""
        with self._lock:
            return [key for key, entry in self._entries.items() if entry[0] is not None]

    def discard(self, key: K) -> None:
        """Forget ``key``."""
        with self._lock:
            self._entries.pop(key, None)

    def set(self, key: K, value: V) -> None:
        """Store ``value`` (outside any ``update`` of the same key)."""
        with self._key_lock(key):
            self._put(key, value)

    def current(self, key: K) -> V | None:
        """The value stored for ``key`` now (None: none), without waiting for an update of
        it in progress."""
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def update(self, key: K, compute: Callable[[V | None], tuple[R, V | None]]) -> R:
        """Run ``compute(current)`` under the key's lock; store the value it returns (None:
        keep nothing) and return its result."""
        with self._key_lock(key):
            with self._lock:
                entry = self._entries.get(key)
                current = None if entry is None else entry[0]
            result, new_value = compute(current)
            self._put(key, new_value)
            return result

    def prune(self, gone: Callable[[K], bool] | None = None) -> int:
        """Drop idle keys, and keys for which ``gone(key)`` is true. Returns how many went.
        ``gone`` runs without the store's lock (it may read the filesystem)."""
        now = self._monotonic()
        with self._lock:
            keys = list(self._entries)
        doomed = set()
        for key in keys:
            with self._lock:
                entry = self._entries.get(key)
            if entry is None:
                continue
            if now - entry[1] > self._idle_seconds or (gone is not None and gone(key)):
                doomed.add(key)
        with self._lock:
            for key in doomed:
                entry = self._entries.get(key)
                if entry is not None and not entry[2].locked():
                    del self._entries[key]
            # A copy sized to what is left: a dict keeps the table of its largest size.
            self._entries = OrderedDict(self._entries)
        return len(doomed)

    def _key_lock(self, key: K) -> threading.Lock:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = (None, self._monotonic(), threading.Lock())
                self._entries[key] = entry
                self._evict_locked()
            return entry[2]

    def _put(self, key: K, value: V | None) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if value is None:
                self._entries.pop(key, None)
                return
            lock = entry[2] if entry is not None else threading.Lock()
            self._entries[key] = (value, self._monotonic(), lock)
            self._entries.move_to_end(key)
            self._evict_locked()

    def _evict_locked(self) -> None:
        excess = len(self._entries) - self._capacity
        if excess <= 0:
            return
        # Oldest first; a key in use right now is skipped (the store then exceeds its
        # capacity by at most the number of requests in flight).
        idle = [key for key, entry in self._entries.items() if not entry[2].locked()]
        for key in idle[:excess]:
            del self._entries[key]
