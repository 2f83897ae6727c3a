"""CachingReader: a SystemReader that lets requests arriving together share their reads.

Rules:
1. Same answers as ``SystemReader``, at most ``max_age`` seconds old. A node's monitoring
   agents, top and runtimes read the same few files of the same containers in bursts; the
   host texts and a container's cgroup values read for one request serve the others that
   arrive within ``max_age`` (default ``DEFAULT_MAX_AGE`` = 10 ms: one scheduler tick at
   HZ=100, the resolution the kernel's own CPU counters advance at; /proc/uptime prints
   centiseconds). The age counts from *before* the read started, so nothing served is
   older than ``max_age`` plus one read.
2. What is shared: ``host_snapshot(parts)`` (one snapshot per set of texts asked for, for
   everybody; re-read with every text unchanged, it is the same object again, so what was
   parsed and rendered from it keeps serving) and, per container, each view field
   (``memory``, ``cpuset``, ...) keyed by the container's target pid, init pid and every
   cgroup path. A request names what it needs (a file's ``FileSpec.host_parts`` and
   ``view_parts``); only missing or expired fields are read, together. A container whose
   init moves to another cgroup, or a new container on a recycled pid, has another key and
   is read afresh at once; only a value changed in place can take up to ``max_age`` to show
   (a setting: ``setting_max_age``, rule 3a). ``problems`` are those of the reads the fields
   came from. The sub-part ``KMEM_SLABINFO`` is kept as its own field (the memory field is
   kept without it) and is read together with ``memory``, so a /proc/slabinfo request never
   gets a slabinfo text older than its memory values.
3. Never shared: the clock (uptime and /proc/stat advance on every read, so their
   monotonicity is exactly the uncached reader's), pid resolution (the FUSE adapter's
   business, ``lxcfs_fuse.callers``), failures (an exception is never cached, the
   next request reads again).
3a. Settings are shared longer: the files that hold what a runtime or orchestrator sets,
   not what the workload does (``SETTING_FILES``: memory and swap limits, CPU quotas and
   periods, CPU sets, swappiness), of a container's own cgroup and of every cgroup above
   it (a pod, a slice, the node's ``/lxc``), are kept for ``setting_max_age`` (default
   ``SETTING_MAX_AGE`` = 100 ms), keyed by file, so every container below an ancestor
   shares its files. A container never sets its own limits (its runtime does, rarely:
   ``docker update``); a change made in place shows within 100 ms, usage, counters and
   statistics within ``max_age``. Under load each container's reads come more than 10 ms
   apart, so with ``max_age`` alone every read re-read every limit: with this a meminfo
   miss reads the usage files and memory.stat, a cpuinfo miss no cgroup file at all.
   (First only ancestors' settings were kept this way, then profiles under eight
   concurrent readers showed the container's own settings were half of a miss's reads.)
   The view fields made of settings alone (``SETTING_PARTS``: the CPU set and the CPU
   quotas) are kept as long, counted from the oldest setting file they were made from, so
   a file that counts CPUs reads nothing for 100 ms and no value is older than 100 ms.
   Read again unchanged, such a field is the same object again (as a host snapshot,
   rule 2), so cpuinfo's text, made from these and unchanging host texts, is not made
   again. A host snapshot of ``SETTING_HOST_PARTS`` alone (the online CPU list and
   /proc/cpuinfo, what cpuinfo and the sys cpu files read) is shared as long: those texts
   change when a CPU is plugged in or out, an act of the operator like a CPU set's, and
   otherwise only in cpuinfo's "cpu MHz", a rate the kernel samples, whose age within a
   tenth of a second nobody can tell. Read afresh every 10 ms, /proc/cpuinfo (the
   kernel prints every CPU's flags) was most of a cpuinfo read's cost, and what it found
   was the same text (tenth round).
   Likewise what the reader makes of setting files alone inside a field (a memory or swap
   limit chain, ``SystemReader.setting_value``) is kept whole, keyed by hierarchy, file and
   cgroup, for ``setting_max_age`` counted from its oldest file: a meminfo miss then
   neither looks up nor parses the limits of every level again (a third of its profile).
   Failures are never kept: neither a file that could not be read nor a value made with a
   problem or with a file absent. A container's cgroup removed after its settings were
   read can thus show those settings (the CPU set, quotas) for up to ``setting_max_age``
   before it shows as gone, as the fields of rule 3a could already.
3b. What is read afresh is read through kept descriptors: a cgroup file that is not kept
   as a setting (usage files, memory.stat, cpuacct.usage_all) is opened once and held for
   ``kept_file_max_age`` (default ``setting_max_age``), at most ``kept_files`` (256) of
   them. Each read is a ``pread`` from offset 0, which makes the kernel print the values
   of that moment (kernel_files rule 4b): values as fresh as an open's, without the open
   and close (a path lookup through every level, about a third of a meminfo miss's
   reads). A descriptor of a removed cgroup reads ENODEV: it is closed and the path opened
   afresh, so a cgroup made again under the same name is read as the new one, and one
   gone for good fails as the plain read does. The one thing a descriptor can have wrong
   for up to ``kept_file_max_age`` is which cgroup a path names after a v1 cgroup was
   renamed (v1 allows renaming in place), as a kept setting can. No failure is kept.
   Expired descriptors are closed at an insert, at ``drop_expired``, and by a closer
   thread (one per reader, started at its first kept descriptor) that runs a round every
   ``kept_file_max_age`` while any is kept and sleeps while none is, so a reader that
   goes idle holds none after twice that (the daemon's descriptor count comes back to
   where it was; its housekeeping runs every 30 s); all are closed, and the closer ends,
   when the reader is collected.
4. Bounded: at most ``capacity`` containers' views, setting files and setting values;
   entries are kept in insertion order, expired ones are dropped from the front at every
   insert, the oldest go first beyond ``capacity``; ``drop_expired`` also copies each map
   to one sized for what is left (a dict never shrinks its table by itself). So the memory
   held is the views of the containers read during the last ``max_age`` seconds, the
   setting files and values read during the last ``setting_max_age``, plus one host
   snapshot per distinct set of host texts (a dozen at most).
5. Looking ahead (``looking_ahead(seconds)``, on this thread only): a value that would be
   stale ``seconds`` from now counts as stale already and is read now. Only the check
   moves: what is read is stamped with the real time, so nothing served is ever older
   than the limits above; a value is merely replaced sooner. A daemon uses it while idle
   to re-read, just before they expire, the values a steady reader is about to ask for
   (``lxcfs_fuse.ahead``); ``fresh_until`` says when a request's values expire, so it
   knows which are due without reading anything.
5a. Measuring (``measuring()``, on this thread only): when the first view field or host
   snapshot served inside expires, and how many views were served. A text made from
   them is exactly what a request would make until then (the daemon keeps a caller's
   last text that long, ``lxcfs_fuse.content`` rule 9). A view read on another thread is
   not seen; the daemon then keeps nothing.
6. Thread-safe: one lock guards the view and setting maps (held for dict operations only,
   never during a read); a host snapshot is stored with one dict assignment. The kept
   descriptors have their own lock, held through each read of one, so none is closed
   while read (its number could be reused by another open at once). Two threads
   missing together both read; the later one's result is kept, both are correct.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterator
from typing import Any, TypeVar

import attrs

from lxcfs_model.files import KMEM_SLABINFO
from lxcfs_model.io.kernel_files import KernelFiles
from lxcfs_model.io.reader import HOST_PARTS, VIEW_PARTS, Container, SystemReader
from lxcfs_model.values import CgroupView, HostSnapshot

__all__ = [
    "DEFAULT_MAX_AGE",
    "SETTING_FILES",
    "SETTING_HOST_PARTS",
    "SETTING_MAX_AGE",
    "SETTING_PARTS",
    "CachingReader",
    "Measured",
]

DEFAULT_MAX_AGE = 0.010
SETTING_MAX_AGE = 0.100

#: View fields made of setting files alone (rule 3a).
SETTING_PARTS = frozenset({"cpuset", "cpu"})
#: Host texts that change only when a CPU is plugged in or out, but for a sampled clock
#: rate (rule 3a): a snapshot of these alone is shared as long as a setting.
SETTING_HOST_PARTS = frozenset({"cpuinfo", "online"})

#: What a runtime sets rather than what the workload does (rule 3a), by file name.
SETTING_FILES = frozenset(
    {
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.swappiness",
        "memory.max",
        "memory.swap.max",
        "cpu.cfs_quota_us",
        "cpu.cfs_period_us",
        "cpu.max",
        "cpuset.cpus",
        "cpuset.effective_cpus",
        "cpuset.cpus.effective",
    }
)
DEFAULT_CAPACITY = 4096
#: Rule 3b: cgroup files held open at most, well below a 1,024-descriptor soft limit.
DEFAULT_KEPT_FILES = 256

_Field = tuple[float, Any, tuple[str, ...]]


class Measured:
    """What ``measuring`` found: when the first value served expires, and how many views
    were served (rule 5a)."""

    def __init__(self) -> None:
        self.until = float("inf")
        self.views = 0

    def served(self, until: float, *, views: int = 0) -> None:
        self.until = min(self.until, until)
        self.views += views


class _Measuring:
    """``CachingReader.measuring``'s context: a class, not a generator context manager,
    since every render of a kept file enters one (the generator's machinery cost a
    microsecond more)."""

    __slots__ = ("_measured", "_outer", "_reading")

    def __init__(self, reading: threading.local) -> None:
        self._reading = reading

    def __enter__(self) -> Measured:
        self._outer: Measured | None = getattr(self._reading, "measured", None)
        self._measured = Measured()
        self._reading.measured = self._measured
        return self._measured

    def __exit__(self, *exception: object) -> None:
        self._reading.measured = self._outer
        if self._outer is not None:
            self._outer.served(self._measured.until, views=self._measured.views)


T = TypeVar("T")


class CachingReader(SystemReader):
    """``SystemReader`` with the short-lived sharing of rules 1-5."""

    def __init__(
        self,
        root: str = "/",
        *,
        max_age: float = DEFAULT_MAX_AGE,
        setting_max_age: float = SETTING_MAX_AGE,
        capacity: int = DEFAULT_CAPACITY,
        kept_files: int = DEFAULT_KEPT_FILES,
        kept_file_max_age: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(root)
        # location -> (when opened, descriptor); oldest first (rule 3b). Its own lock:
        # held through each read of a kept descriptor, so none is closed while read.
        self._kept: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._kept_lock = threading.Lock()
        # The closer (rule 3b): started at the first kept descriptor; ``_closer_wake`` is
        # set while any is kept (it then runs a round every ``kept_file_max_age``).
        self._closer: threading.Thread | None = None
        self._closer_wake = threading.Event()
        self.kept_files = kept_files
        self.kept_file_max_age = setting_max_age if kept_file_max_age is None else kept_file_max_age
        weakref.finalize(self, _close_kept, self.files, self._kept)
        weakref.finalize(self, self._closer_wake.set)  # its closer then finds it gone, and ends
        self.max_age = max_age
        self.setting_max_age = setting_max_age
        # location -> (when read, text); oldest first (rule 3a).
        self._settings: OrderedDict[str, tuple[float, str]] = OrderedDict()
        # setting_value key -> (when its oldest file was read, value); oldest first.
        self._setting_values: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self.capacity = capacity
        self._monotonic = monotonic
        # set of host texts -> (when read, snapshot); as many entries as files differ in
        # the texts they need (a dozen at most), each replaced whole (one dict store).
        self._hosts: dict[frozenset[str], tuple[float, HostSnapshot]] = {}
        # key -> view field -> (when read, value, problems of that read); oldest key first.
        self._views: OrderedDict[Hashable, dict[str, _Field]] = OrderedDict()
        self._lock = threading.Lock()
        # This thread's read in progress: when the oldest setting it was served was read,
        # and how far it looks ahead (rule 5).
        self._reading = threading.local()

    def __len__(self) -> int:
        """How many views are held (tests check the bound)."""
        with self._lock:
            return len(self._views)

    def _max_age_of(self, part: str) -> float:
        """How long a view field is shared: settings longer (rule 3a)."""
        return self.setting_max_age if part in SETTING_PARTS else self.max_age

    def _host_max_age(self, parts: frozenset[str]) -> float:
        """How long a host snapshot of ``parts`` is shared: of setting-like texts alone,
        as long as a setting (rule 3a), never shorter than any other."""
        if parts <= SETTING_HOST_PARTS:
            return max(self.max_age, self.setting_max_age)
        return self.max_age

    def monotonic(self) -> float:
        """This reader's clock, which ``fresh_until`` answers in."""
        return self._monotonic()

    def _checked_at(self, now: float) -> float:
        """The moment freshness is judged at: now, or later while looking ahead (rule 5)."""
        ahead: float = getattr(self._reading, "ahead", 0.0)
        return now + ahead

    def measuring(self) -> contextlib.AbstractContextManager[Measured]:
        """On this thread, note when the first view field or host snapshot served inside
        expires (rule 5a): a text made from them is current until then."""
        return _Measuring(self._reading)

    def carried(self, read: Callable[[], T]) -> tuple[Callable[[], T], Callable[[], None]]:
        """``read`` made ready to run on another thread as if on this one (rules 5, 5a),
        and what to call on this thread once it has returned: this thread's look-ahead
        applies there, and what it serves there counts in this thread's measuring (not
        before ``done``: a read given up on, at a deadline, counts for nothing)."""
        ahead: float = getattr(self._reading, "ahead", 0.0)
        found = Measured()

        def run() -> T:
            with self.looking_ahead(ahead), self.measuring() as measured:
                try:
                    return read()
                finally:
                    found.served(measured.until, views=measured.views)

        def done() -> None:
            self._measure(found.until, 0.0, views=found.views)

        return run, done

    def _measure(self, made: float, limit: float, *, views: int = 0) -> None:
        measured: Measured | None = getattr(self._reading, "measured", None)
        if measured is not None:
            measured.served(made + limit, views=views)

    @contextlib.contextmanager
    def looking_ahead(self, seconds: float) -> Iterator[None]:
        """On this thread, read now what would be stale ``seconds`` from now (rule 5)."""
        outer = getattr(self._reading, "ahead", 0.0)
        self._reading.ahead = max(outer, seconds)
        try:
            yield
        finally:
            self._reading.ahead = outer

    def fresh_until(
        self,
        container: Container,
        parts: Collection[str] = VIEW_PARTS,
        host_parts: Collection[str] | None = HOST_PARTS,
    ) -> float:
        """When the first of the shared values a request for these view fields and host
        texts would use expires (``monotonic`` time); at once (0) when one is not held.
        Reads nothing (rule 5)."""
        with self._lock:
            fields = self._views.get(_key(container))
            made_parts = [] if fields is None else [(part, fields.get(part)) for part in parts]
        if fields is None:
            return 0.0
        until = float("inf")
        for part, field in made_parts:
            if field is None:
                return 0.0
            until = min(until, field[0] + self._max_age_of(part))
        if host_parts is not None:
            key = frozenset(host_parts)
            host = self._hosts.get(key)
            if host is None:
                return 0.0
            until = min(until, host[0] + self._host_max_age(key))
        return until

    def read_cgroup_file(self, location: str, *, ancestor: bool = False) -> str:
        """A setting (an ancestor's limit, or a file in ``SETTING_FILES``) shared for
        ``setting_max_age`` (rule 3a); any other file read afresh."""
        setting = ancestor or location.rpartition("/")[2] in SETTING_FILES
        if not setting or self.setting_max_age <= 0:
            return self._read_kept_file(location)
        now = self._monotonic()
        held = self._settings.get(location)
        if held is not None and 0.0 <= self._checked_at(now) - held[0] < self.setting_max_age:
            self._served_setting(held[0])
            return held[1]
        text = super().read_cgroup_file(location)
        with self._lock:
            self._keep_setting_locked(self._settings, location, (now, text), now)
        return text

    def _read_kept_file(self, location: str) -> str:
        """A cgroup file read afresh through a descriptor kept for ``kept_file_max_age``
        (rule 3b); what cannot be kept, and every failure, through ``SystemReader``."""
        if self.kept_files <= 0 or self.kept_file_max_age <= 0:
            return super().read_cgroup_file(location)
        now = self._monotonic()
        with self._kept_lock:
            kept = self._kept.get(location)
            if kept is not None:
                if 0.0 <= now - kept[0] < self.kept_file_max_age:
                    try:
                        return self.files.read_kept(kept[1], location)
                    except OSError:
                        pass  # removed since (ENODEV): the path says what it names now
                del self._kept[location]
                self.files.close_kept(kept[1])
        try:
            descriptor = self.files.open_kept(location)
        except OSError:
            descriptor = None  # let the plain read raise what it raises
        if descriptor is None:
            return super().read_cgroup_file(location)
        try:
            text = self.files.read_kept(descriptor, location)
        except OSError:
            self.files.close_kept(descriptor)
            return super().read_cgroup_file(location)
        with self._kept_lock:
            replaced = self._kept.pop(location, None)
            if replaced is not None:
                self.files.close_kept(replaced[1])  # kept by another thread meanwhile
            self._kept[location] = (now, descriptor)
            self._drop_kept_locked(now)
            if not self._closer_wake.is_set():
                self._closer_wake.set()
                if self._closer is None:
                    self._closer = _start_closer(
                        weakref.ref(self), self._closer_wake, self.kept_file_max_age
                    )
        return text

    def _drop_kept_locked(self, now: float) -> None:
        while self._kept:
            opened, descriptor = next(iter(self._kept.values()))
            if 0.0 <= now - opened < self.kept_file_max_age and len(self._kept) <= self.kept_files:
                break
            self._kept.popitem(last=False)
            self.files.close_kept(descriptor)

    def _close_expired_descriptors(self) -> None:
        """The closer's round (rule 3b): expired descriptors closed; with none left, the
        closer sleeps until the next is kept."""
        with self._kept_lock:
            self._drop_kept_locked(self._monotonic())
            if not self._kept:
                self._closer_wake.clear()

    def kept_descriptors(self) -> int:
        """How many cgroup files are held open (tests check the bound)."""
        with self._kept_lock:
            return len(self._kept)

    def setting_value(self, key: Hashable, read: Callable[[], tuple[T, bool]]) -> T:
        """A value made of setting files alone (a limit chain) kept whole for
        ``setting_max_age`` counted from the oldest file it was made from, so a miss
        neither looks up nor parses its files again (rule 3a); what ``read`` says may
        not be kept (a failure, a problem, an absent file) is read again next time."""
        if self.setting_max_age <= 0:
            return read()[0]
        now = self._monotonic()
        held = self._setting_values.get(key)
        if held is not None and 0.0 <= self._checked_at(now) - held[0] < self.setting_max_age:
            self._served_setting(held[0])
            value: T = held[1]
            return value
        outer = getattr(self._reading, "oldest", None)
        self._reading.oldest = now
        try:
            value, keep = read()
            made: float = self._reading.oldest
        finally:
            inner = self._reading.oldest
            self._reading.oldest = outer if outer is None or inner is None else min(outer, inner)
        if keep:
            with self._lock:
                self._keep_setting_locked(self._setting_values, key, (made, value), now)
        return value

    def _served_setting(self, made: float) -> None:
        """The read in progress on this thread was served a setting read at ``made``."""
        oldest = getattr(self._reading, "oldest", None)
        if oldest is not None and made < oldest:
            self._reading.oldest = made

    def _keep_setting_locked(
        self, store: OrderedDict[Any, Any], key: Hashable, entry: tuple[float, Any], now: float
    ) -> None:
        """Keep ``entry`` under ``key``, newest last; drop expired ones and the oldest
        beyond ``capacity`` (rule 4)."""
        store[key] = entry
        store.move_to_end(key)
        self._drop_settings_locked(store, now)

    def _drop_settings_locked(self, store: OrderedDict[Any, Any], now: float) -> None:
        while store:
            made = next(iter(store.values()))[0]
            if 0.0 <= now - made < self.setting_max_age and len(store) <= self.capacity:
                break
            store.popitem(last=False)

    def setting_files(self) -> int:
        """How many setting files are held (tests check the bound)."""
        with self._lock:
            return len(self._settings)

    def host_snapshot(self, parts: Collection[str] = HOST_PARTS) -> HostSnapshot:
        """The host texts in ``parts``, one snapshot per set of parts shared for ``max_age``
        (rule 1); a shared snapshot keeps its parsed layouts, so a burst parses once."""
        key = frozenset(parts)
        now = self._monotonic()
        max_age = self._host_max_age(key)
        cached = self._hosts.get(key)
        if cached is not None and 0.0 <= self._checked_at(now) - cached[0] < max_age:
            self._measure(cached[0], max_age)
            return cached[1]
        snapshot = super().host_snapshot(key)
        if cached is not None and cached[1] == snapshot:
            # The same texts as the expired one (the CPU list, often /proc/cpuinfo): that
            # object again, so its parsed layouts and the texts made from it still serve.
            snapshot = cached[1]
        self._hosts[key] = (now, snapshot)
        self._measure(now, max_age)
        return snapshot

    def cached_view(
        self, container: Container, parts: Collection[str] = VIEW_PARTS
    ) -> CgroupView | None:
        """The view ``view_for_container`` would return if every field in ``parts`` is
        still fresh, else None. Reads nothing, so it cannot block on a stalled file."""
        fresh, missing, known = self._fresh_fields(
            _key(container), parts, self._checked_at(self._monotonic())
        )
        if missing or not known:
            return None
        self._measure_fields(fresh)
        return _assemble(fresh)

    def _fresh_fields(
        self, key: Hashable, parts: Collection[str], checked: float
    ) -> tuple[dict[str, _Field], list[str], bool]:
        """The fields of ``key`` among ``parts`` still fresh at ``checked``, the parts that
        are not, and whether ``key`` is held at all: one pass under the lock (a request
        asks this once or twice, the cached answer's whole cost)."""
        fresh: dict[str, _Field] = {}
        missing: list[str] = []
        max_age_of = self._max_age_of
        with self._lock:
            held = self._views.get(key)
            for part in parts:
                field = None if held is None else held.get(part)
                if field is not None and 0.0 <= checked - field[0] < max_age_of(part):
                    fresh[part] = field
                else:
                    missing.append(part)
        return fresh, missing, held is not None

    def view_for_container(
        self, container: Container, parts: Collection[str] = VIEW_PARTS
    ) -> CgroupView:
        """The container's view with the fields in ``parts``; each field is shared for
        ``max_age`` by requests with the same key, and only stale ones are read (rule 2)."""
        key = _key(container)
        now = self._monotonic()
        fresh, missing, _ = self._fresh_fields(key, parts, self._checked_at(now))
        if KMEM_SLABINFO in missing and "memory" not in missing:
            missing.append("memory")  # the slabinfo text is read with the memory values
        if missing:
            # Every field read now, together, with no slabinfo to split: that view is the
            # answer as it stands, not taken apart and made again.
            whole = not fresh and KMEM_SLABINFO not in missing
            self._reading.oldest = now
            try:
                view = super().view_for_container(container, missing)
                oldest = self._reading.oldest
            finally:
                self._reading.oldest = None
            held = self._views.get(key)
            for part, value in _fields(view, missing):
                made = oldest if part in SETTING_PARTS else now
                if part in SETTING_PARTS and held is not None:
                    before = held.get(part)
                    if before is not None and before[1] is not value and before[1] == value:
                        # Settings read again unchanged: the same object, so the texts
                        # made from it still serve (cpuinfo's; host snapshots alike).
                        value = before[1]
                        whole = False
                fresh[part] = (made, value, view.problems)
            with self._lock:
                merged = self._views.get(key, {})
                merged.update((part, fresh[part]) for part in missing)
                self._views[key] = merged
                self._views.move_to_end(key)
                self._evict_locked(self._monotonic())
            if whole:
                self._measure_fields(fresh)
                return view
        self._measure_fields(fresh)
        return _assemble(fresh)

    def _measure_fields(self, fields: dict[str, _Field]) -> None:
        if getattr(self._reading, "measured", None) is None:
            return
        until = min(
            (made + self._max_age_of(part) for part, (made, _, _) in fields.items()),
            default=float("inf"),
        )
        self._measure(until, 0.0, views=1)

    def drop_expired(self) -> None:
        """Drop every expired view, setting file and host snapshot now (rule 4: they
        otherwise leave at the next insert, and after the last container is gone there is
        none; the FUSE daemon calls this from its housekeeping)."""
        now = self._monotonic()
        with self._lock:
            self._evict_locked(now)
            self._drop_settings_locked(self._settings, now)
            self._drop_settings_locked(self._setting_values, now)
            for key, (made, _) in list(self._hosts.items()):
                if not 0.0 <= now - made < self._host_max_age(key):
                    del self._hosts[key]
            # A dict keeps the table of its largest size: after a thousand containers came
            # and went, about 50 KiB each, for nothing. Copies are sized to what is left.
            self._views = OrderedDict(self._views)
            self._settings = OrderedDict(self._settings)
            self._setting_values = OrderedDict(self._setting_values)
        with self._kept_lock:
            self._drop_kept_locked(now)  # at most 256: not worth copying

    def _evict_locked(self, now: float) -> None:
        # Oldest container first; one is expired when all its fields are.
        views = self._views
        while views:
            if len(views) <= self.capacity:
                for part, (made, _, _) in next(iter(views.values())).items():
                    if 0.0 <= now - made < self._max_age_of(part):
                        return  # the oldest is alive: newer ones wait their turn (rule 4)
            views.popitem(last=False)


def _key(container: Container) -> Hashable:
    """What makes two requests' views the same (rule 2)."""
    return (
        container.target_pid,
        container.init_pid,
        tuple(sorted(container.cgroup_paths.items())),
    )


def _fields(view: CgroupView, parts: list[str]) -> list[tuple[str, Any]]:
    """The view's value of each part. The memory field is kept without the slabinfo text;
    the ``KMEM_SLABINFO`` field keeps the pair (memory without it, memory with it), so a
    view asking for both gets the very object read, request after request."""
    memory = view.memory
    without = memory
    if memory is not None and memory.kmem_slabinfo is not None:
        without = attrs.evolve(memory, kmem_slabinfo=None)
    split = {"memory": without, KMEM_SLABINFO: (without, memory)}
    return [(part, split[part] if part in split else getattr(view, part)) for part in parts]


def _assemble(fields: dict[str, _Field]) -> CgroupView:
    """A view of the given fields, with the problems of the reads they came from (each
    read's list once)."""
    problems: list[str] = []
    seen: list[tuple[str, ...]] = []
    values: dict[str, Any] = {}
    for part, (_, value, read_problems) in fields.items():
        values[part] = value
        # Most reads have none: an empty list adds nothing, so it needs no identity check.
        if read_problems and not any(read_problems is other for other in seen):
            seen.append(read_problems)
            problems.extend(read_problems)
    pair = values.pop(KMEM_SLABINFO, None)
    if pair is not None:
        without, with_slabinfo = pair
        memory = values.get("memory")
        if memory is without:
            values["memory"] = with_slabinfo
        elif memory is not None and with_slabinfo is not None:
            # memory read again on its own since: today's values, that read's text
            values["memory"] = attrs.evolve(memory, kmem_slabinfo=with_slabinfo.kmem_slabinfo)
    return CgroupView(**values, problems=tuple(problems))


def _start_closer(
    reader: weakref.ref[CachingReader], wake: threading.Event, delay: float
) -> threading.Thread:
    """The daemon thread that closes ``reader``'s expired descriptors (rule 3b): a round
    every ``delay`` seconds while ``wake`` is set, asleep while it is not. One thread for
    the reader's life, not one per round: starting a thread made the request that kept a
    descriptor wait for it to run, ten times a second under steady reads (tenth round).
    It holds the reader weakly and ends once the reader is collected (whose finalizer
    sets ``wake``)."""

    def closing() -> None:
        while wake.wait():
            time.sleep(delay)
            alive = reader()
            if alive is None:
                return
            alive._close_expired_descriptors()
            del alive  # not held while asleep: the reader can be collected meanwhile

    thread = threading.Thread(target=closing, name="lxcfs-kept-files", daemon=True)
    # Started with every signal blocked, which it keeps: a process-directed signal (the
    # daemon's SIGTERM) must reach the thread that waits for it, never this one, which
    # would take it and leave that thread asleep.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return thread


def _close_kept(files: KernelFiles, kept: dict[str, tuple[float, int]]) -> None:
    """Close the descriptors a collected reader still held (rule 3b)."""
    for _, descriptor in kept.values():
        files.close_kept(descriptor)
