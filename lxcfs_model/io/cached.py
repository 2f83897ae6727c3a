"""CachingReader: a SystemReader that lets requests arriving together share their reads.

Rules:
1. Same answers as ``SystemReader``, at most ``max_age`` seconds old. A node's monitoring
   agents, top and runtimes read the same few files of the same containers in bursts; the
   host texts and a container's cgroup values read for one request serve the others that
   arrive within ``max_age`` (default ``DEFAULT_MAX_AGE`` = 10 ms: one scheduler tick at
   HZ=100, the resolution the kernel's own CPU counters advance at; /proc/uptime prints
   centiseconds). The age counts from *before* the read started, so nothing served is
   older than ``max_age`` plus one read.
2. What is shared: ``host_snapshot()`` (one for everybody) and ``view_for_container()``,
   keyed by the container's target pid, init pid and every cgroup path. A container whose
   init moves to another cgroup, or a new container on a recycled pid, has another key and
   is read afresh at once; only a limit changed in place can take up to ``max_age`` to show.
3. Never shared: the clock (uptime and /proc/stat advance on every read, so their
   monotonicity is exactly the uncached reader's), pid resolution (the FUSE adapter
   validates every caller on every request), failures (an exception is never cached, the
   next request reads again).
4. Bounded: at most ``capacity`` views; entries are kept in insertion order, expired ones are
   dropped from the front at every insert, the oldest go first beyond ``capacity``. So the
   memory held is the views of the containers read during the last ``max_age`` seconds.
5. Thread-safe: one lock guards the view map (held for dict operations only, never during
   a read); the host snapshot is swapped in as one tuple. Two threads missing together both
   read; the later one's result is kept, both are correct.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from lxcfs_model.io.reader import Container, SystemReader
from lxcfs_model.values import CgroupView, HostSnapshot

__all__ = ["DEFAULT_MAX_AGE", "CachingReader"]

DEFAULT_MAX_AGE = 0.010
DEFAULT_CAPACITY = 4096


class CachingReader(SystemReader):
    """``SystemReader`` with the short-lived sharing of rules 1-5."""

    def __init__(
        self,
        root: str = "/",
        *,
        max_age: float = DEFAULT_MAX_AGE,
        capacity: int = DEFAULT_CAPACITY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(root)
        self.max_age = max_age
        self.capacity = capacity
        self._monotonic = monotonic
        self._host: tuple[float, HostSnapshot] | None = None
        self._views: OrderedDict[Hashable, tuple[float, CgroupView]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many views are held (tests check the bound)."""
        with self._lock:
            return len(self._views)

    def _fresh(self, made: float, now: float) -> bool:
        return 0.0 <= now - made < self.max_age

    def host_snapshot(self) -> HostSnapshot:
        """The host texts, shared for ``max_age`` (rule 1)."""
        now = self._monotonic()
        cached = self._host
        if cached is not None and self._fresh(cached[0], now):
            return cached[1]
        snapshot = super().host_snapshot()
        self._host = (now, snapshot)
        return snapshot

    def view_for_container(self, container: Container) -> CgroupView:
        """The container's view, shared for ``max_age`` by requests with the same key
        (rule 2)."""
        key = (
            container.target_pid,
            container.init_pid,
            tuple(sorted(container.cgroup_paths.items())),
        )
        now = self._monotonic()
        with self._lock:
            cached = self._views.get(key)
        if cached is not None and self._fresh(cached[0], now):
            return cached[1]
        view = super().view_for_container(container)
        with self._lock:
            self._views[key] = (now, view)
            self._views.move_to_end(key)
            self._evict_locked(self._monotonic())
        return view

    def _evict_locked(self, now: float) -> None:
        while self._views:
            made = next(iter(self._views.values()))[0]
            if len(self._views) <= self.capacity and self._fresh(made, now):
                break
            self._views.popitem(last=False)
