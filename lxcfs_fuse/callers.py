"""Whose container a FUSE caller is in: pid -> ``Container``, cached per pid namespace.

Rules:
1. The answer is the I/O layer's (``SystemReader.resolve_pid``, spec 2.1); this module only
   saves its expensive part, finding the init of the caller's pid namespace, which may scan
   /proc. No fork, ever (upstream forks a helper per cache miss).
2. The cache maps a pid-namespace inode to that namespace's init, named by (pid, start time).
   A hit is used only if the init is still that process (same start time, same namespace):
   a recycled pid never maps a new caller to a dead container's cgroups.
3. cgroup paths are not kept in the namespace cache: they are re-read from
   /proc/<init>/cgroup whenever the caller is resolved (at most every 100 ms per caller with
   rule 5), so a container whose init moves to another cgroup is seen there within 100 ms.
4. Bounded: at most ``capacity`` namespaces; entries idle for ``idle_seconds`` are dropped
   (checked at most every ``PRUNE_INTERVAL`` seconds), so containers coming and going leave
   nothing behind.
5. Recent answers: with ``recent_seconds`` > 0 (the daemon passes ``RECENT_SECONDS``,
   100 ms) the answer for a caller pid is reused for that long, which saves the 4 /proc
   reads of a revalidation (rules 2-3) on the hot path, but only while the pid still names
   the very process it was resolved for: the /proc/<pid> directory's inode, taken before
   resolving, must be the same (one stat; procfs gives every process a fresh inode). A pid
   can be handed to a new process within milliseconds (ns_last_pid, as CRIU and the
   reliability tests set it), so a pid alone was not enough: that served a new container
   the answer of the dead one it replaced. What may be up to 100 ms late is an init moving
   to another cgroup (rule 3; runtimes place an init once, before it runs) or exiting
   (rule 2; its cgroups are then being removed, and a read of a removed cgroup falls back
   to the host's file).
   It was 10 ms, the I/O layer's window, until profiles under eight concurrent readers
   showed revalidations taking a sixth of the daemon's time (docs/performance.md, third
   round). Bounded: expired answers leave at every insert, never more than ``capacity``.
5a. Looking ahead (``looking_ahead(seconds)``, this thread only, as ``CachingReader``
   rule 5): a recent answer that would be too old ``seconds`` from now is resolved again
   now, stamped with the real time; ``fresh_until(pid)`` says when it expires. The daemon
   renews a steady reader's answer this way while idle (``lxcfs_fuse.ahead``).
6. A live reload (``reload``) builds a resolver on the new library's reader and hands it the
   old one's namespace cache (``adopt``), each answer converted to the new library's
   ``Container`` (one that does not convert is resolved afresh). ``errors`` are the library's
   error classes, so a new library's errors are recognised as its own.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Protocol

import attrs

from lxcfs_model.errors import LxcfsModelError
from lxcfs_model.io import Container

__all__ = ["RECENT_SECONDS", "CallerResolver", "ProcessReader"]

PRUNE_INTERVAL = 5.0
RECENT_SECONDS = 0.100


class ProcessReader(Protocol):
    """What the resolver needs from ``SystemReader``."""

    def resolve_pid(self, pid: int) -> Container: ...
    def pid_namespace_inode(self, pid: int | str) -> int: ...
    def process_start_ticks(self, pid: int) -> int: ...
    def process_identity(self, pid: int) -> int: ...
    def cgroup_paths(self, pid: int) -> dict[str, str]: ...


@attrs.frozen
class _Init:
    """A namespace's init as the cache remembers it, and the Container it resolved to,
    kept without its cgroup paths (``_NO_PATHS``): every use reads them afresh
    (``_revalidated``), and a thousand containers' paths held for the idle minute were
    what a burst of them left behind in the heap."""

    pid: int
    start_ticks: int
    container: Container


#: The cgroup paths of a cached init's Container: never read (shared, never mutated).
_NO_PATHS: dict[str, str] = {}


def _with_start(container: Container, start_ticks: int) -> Container:
    """The container carrying its init's start time, just read to validate it, so the view's
    ``init`` part does not read it again (a library generation whose Container has no such
    field gets the container unchanged)."""
    if "init_start_ticks" not in attrs.fields_dict(type(container)):
        return container
    return attrs.evolve(container, init_start_ticks=start_ticks)


class CallerResolver:
    """Thread-safe pid -> Container with the namespace-init cache of rule 2."""

    def __init__(
        self,
        reader: ProcessReader,
        *,
        capacity: int = 4096,
        idle_seconds: float = 60.0,
        recent_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        errors: type[Exception] = LxcfsModelError,
    ) -> None:
        self._reader = reader
        self._errors = errors
        self._capacity = capacity
        self._idle_seconds = idle_seconds
        self._monotonic = monotonic
        self._own_namespace = reader.pid_namespace_inode("self")
        self._lock = threading.Lock()
        # namespace inode -> (init, last use); least recently used first.
        self._cache: OrderedDict[int, tuple[_Init, float]] = OrderedDict()
        self._last_prune = monotonic()
        self._recent_seconds = recent_seconds
        # caller pid -> (when resolved, /proc/<pid> inode, answer), oldest first (rule 5).
        self._recent: OrderedDict[int, tuple[float, int, Container]] = OrderedDict()
        self.misses = 0  # namespaces resolved the slow way (read by tests and --debug logs)
        self._thread = threading.local()  # how far this thread looks ahead (rule 5a)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def recent(self, pid: int) -> Container | None:
        """The answer for ``pid`` if one is still within ``recent_seconds`` and ``pid`` is
        still that process (rule 5), else None; reads nothing (one stat of /proc/<pid>), so
        it cannot stall."""
        if self._recent_seconds <= 0:
            return None
        return self._recent_answer(pid, self._monotonic())

    @contextlib.contextmanager
    def looking_ahead(self, seconds: float) -> Iterator[None]:
        """On this thread, resolve again what would be too old ``seconds`` from now (rule
        5a)."""
        outer: float = getattr(self._thread, "ahead", 0.0)
        self._thread.ahead = max(outer, seconds)
        try:
            yield
        finally:
            self._thread.ahead = outer

    def ahead_seconds(self) -> float:
        """How far this thread looks ahead (rule 5a), to carry to another thread."""
        seconds: float = getattr(self._thread, "ahead", 0.0)
        return seconds

    def fresh_until(self, pid: int) -> float:
        """When the recent answer for ``pid`` expires (``monotonic`` time; 0: none is
        held). Reads nothing."""
        with self._lock:
            recent = self._recent.get(pid)
        return 0.0 if recent is None else recent[0] + self._recent_seconds

    def recent_identity(self, pid: int) -> int | None:
        """The /proc/<pid> inode the recent answer for ``pid`` was taken for (rule 5);
        None when none is held."""
        with self._lock:
            recent = self._recent.get(pid)
        return None if recent is None else recent[1]

    def _recent_answer(self, pid: int, now: float) -> Container | None:
        with self._lock:
            recent = self._recent.get(pid)
        checked = now + getattr(self._thread, "ahead", 0.0)
        if recent is None or not 0.0 <= checked - recent[0] < self._recent_seconds:
            return None
        try:
            same = self._reader.process_identity(pid) == recent[1]
        except self._errors:
            same = False
        return recent[2] if same else None

    def resolve(self, pid: int) -> Container:
        """The container of ``pid``. Raises ``NoSuchProcess`` if the caller is gone."""
        if self._recent_seconds <= 0:
            return self._resolve(pid)
        now = self._monotonic()
        recent = self._recent_answer(pid, now)
        if recent is not None:
            return recent
        # Taken before resolving: a process that replaces this one meanwhile has another.
        identity = self._reader.process_identity(pid)
        container = self._resolve(pid)
        with self._lock:
            self._recent[pid] = (now, identity, container)
            self._recent.move_to_end(pid)
            while self._recent:
                made = next(iter(self._recent.values()))[0]
                if len(self._recent) <= self._capacity and 0.0 <= now - made < self._recent_seconds:
                    break
                self._recent.popitem(last=False)
        return container

    def _resolve(self, pid: int) -> Container:
        namespace = self._reader.pid_namespace_inode(pid)
        if namespace == self._own_namespace:
            # A host caller: no init to find, the reader answers from the caller alone.
            return self._reader.resolve_pid(pid)
        cached = self._lookup(namespace)
        if cached is not None:
            container = self._revalidated(cached, namespace, pid)
            if container is not None:
                return container
        container = self._reader.resolve_pid(pid)
        self.misses += 1
        init = container.init_pid
        if init is not None and container.target_pid == init:
            # Only a found init is worth remembering; a fallback to the caller is not.
            try:
                start = self._reader.process_start_ticks(init)
            except self._errors:
                return container
            container = _with_start(container, start)
            self._store(
                namespace, _Init(init, start, attrs.evolve(container, cgroup_paths=_NO_PATHS))
            )
        return container

    def _revalidated(self, cached: _Init, namespace: int, pid: int) -> Container | None:
        """The cached container for ``pid`` with fresh cgroup paths, or None if the init is
        not the same process any more (rule 2)."""
        try:
            same_process = self._reader.process_start_ticks(cached.pid) == cached.start_ticks
            same_namespace = self._reader.pid_namespace_inode(cached.pid) == namespace
            if same_process and same_namespace:
                return _with_start(
                    attrs.evolve(
                        cached.container,
                        caller_pid=pid,
                        cgroup_paths=self._reader.cgroup_paths(cached.pid),
                    ),
                    cached.start_ticks,
                )
        except self._errors:
            pass
        with self._lock:
            self._cache.pop(namespace, None)
        return None

    def _lookup(self, namespace: int) -> _Init | None:
        now = self._monotonic()
        with self._lock:
            entry = self._cache.get(namespace)
            if entry is None:
                return None
            self._cache[namespace] = (entry[0], now)
            self._cache.move_to_end(namespace)
            return entry[0]

    def _store(self, namespace: int, init: _Init) -> None:
        now = self._monotonic()
        with self._lock:
            self._cache[namespace] = (init, now)
            self._cache.move_to_end(namespace)
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
            if now - self._last_prune >= PRUNE_INTERVAL:
                self._prune_locked(now)

    def adopt(self, other: CallerResolver, convert: Callable[[Container], Container | None]) -> int:
        """Take over ``other``'s namespace cache (rule 6); returns how many entries stayed."""
        with other._lock:
            entries = list(other._cache.items())
        kept = 0
        with self._lock:
            for namespace, (init, used) in entries:
                container = convert(init.container)
                if container is not None:
                    self._cache[namespace] = (attrs.evolve(init, container=container), used)
                    kept += 1
        return kept

    def prune(self) -> None:
        """Drop idle entries now (the sampler thread calls this; stores do it too)."""
        with self._lock:
            self._prune_locked(self._monotonic())

    def _prune_locked(self, now: float) -> None:
        self._last_prune = now
        idle = [key for key, (_, used) in self._cache.items() if now - used > self._idle_seconds]
        for key in idle:
            del self._cache[key]
        # Recent answers leave at inserts (rule 5); with no more callers there are none.
        window = self._recent_seconds
        expired = [pid for pid, (made, _, _) in self._recent.items() if now - made >= window]
        for pid in expired:
            del self._recent[pid]
        # Copies sized to what is left: a dict keeps the table of its largest size.
        self._cache = OrderedDict(self._cache)
        self._recent = OrderedDict(self._recent)
