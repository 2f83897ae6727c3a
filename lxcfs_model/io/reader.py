"""SystemReader: a live system (root ``/``) or a fixture tree read into the model's values.

Rules:
1. Everything is read below ``root`` (``<root>/proc``, ``<root>/sys``), so a fixture tree
   laid out like / is read exactly like the live machine. Only the clock and ``clk_tck``
   differ: live they come from the kernel, for a tree from ``proc/uptime`` and 100.
2. Bad cgroup data never raises: a missing or malformed file makes its controller None (or
   the field its documented default) and adds one line, ``<file>: <reason>``, to
   ``CgroupView.problems``; renderers then fall back (spec 3.12). What does raise is a bad
   *request*: a cgroup or process that does not exist or vanished while being read
   (``NoSuchCgroup``/``NoSuchProcess``), an unreadable root (``LxcfsModelError``). A
   container's cgroup missing from one hierarchy before any file of it was read is that
   controller's problem (``<directory>: no such cgroup``); the controller's first read
   finds it out, no probe of the directory comes before (it was one path lookup per
   controller on every read); once a file of it was read, its absence is NoSuchCgroup.
3. No caching and no fork: each call reads what it needs (a view is ~30 small reads, about
   2 ms). ``CachingReader`` (``cached.py``) shares results between requests for a few ms;
   the FUSE adapter caches pid -> Container, validated with ``process_start_ticks`` and
   ``pid_namespace_inode``. A reader holds no mutable state after construction, so one
   instance may serve many threads.

Theory: ``resolve_pid`` answers spec section 2 (whose cgroups a caller sees) as a
``Container``; ``view_for_container`` reads each controller at the container's path in the
controller's own hierarchy. ``view_for_cgroup`` is the same with one path everywhere.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from typing import NoReturn, TypeVar

import attrs

from lxcfs_model import cgroup_parsers as parsers
from lxcfs_model.cpuset import parse_cpuset
from lxcfs_model.errors import LxcfsModelError, NoSuchCgroup, NoSuchProcess, ParseError
from lxcfs_model.files import KMEM_SLABINFO, VIEW_PARTS
from lxcfs_model.io.kernel_files import KernelFiles
from lxcfs_model.io.kernel_files import read_text as read_text
from lxcfs_model.io.layout import CgroupLayout, Hierarchy, discover_layout
from lxcfs_model.values import (
    CgroupView,
    Clock,
    CpuCgroup,
    CpusetCgroup,
    CpuTime,
    CpuUsage,
    HostSnapshot,
    InitProcess,
    IoCgroup,
    IoDeviceStats,
    LimitLevel,
    MemoryCgroup,
    PressureCgroup,
    QuotaLevel,
    SwapAccounting,
)

__all__ = ["HOST_PARTS", "VIEW_PARTS", "Container", "SystemReader", "prune_init_scope"]

#: HostSnapshot text -> (file below the root, whether the host must have it).
_HOST_FILES: dict[str, tuple[str, bool]] = {
    "meminfo": ("proc/meminfo", True),
    "cpuinfo": ("proc/cpuinfo", True),
    "stat": ("proc/stat", True),
    "uptime": ("proc/uptime", True),
    "loadavg": ("proc/loadavg", True),
    "diskstats": ("proc/diskstats", True),
    "swaps": ("proc/swaps", True),
    "online": ("sys/devices/system/cpu/online", True),
    "slabinfo": ("proc/slabinfo", False),
    "pressure_cpu": ("proc/pressure/cpu", False),
    "pressure_io": ("proc/pressure/io", False),
    "pressure_memory": ("proc/pressure/memory", False),
}
#: The ``HostSnapshot`` texts a reader fills (all but ``clk_tck``), by name.
HOST_PARTS = frozenset(_HOST_FILES)

T = TypeVar("T")
R = TypeVar("R")

# /proc/<pid>/cgroup names the cgroup2 hierarchy with an empty controller list (``0::/x``).
UNIFIED = ""

# What a fixture tree's /proc/stat and /proc/<pid>/stat are counted in (USER_HZ on every
# mainstream architecture).
FIXTURE_CLK_TCK = 100

_INIT_SCOPE = "/init.scope"


def prune_init_scope(path: str) -> str:
    """Drop one trailing ``/init.scope`` (spec 2.1 step 5): ``/ct/init.scope`` -> ``/ct``,
    ``/init.scope`` -> ``/``."""
    if path.endswith(_INIT_SCOPE):
        return path[: -len(_INIT_SCOPE)] or "/"
    return path


def _ancestors(path: str) -> list[str]:
    """``/a/b`` -> ``["/a/b", "/a", "/"]``: the cgroup and each ancestor, innermost first."""
    levels = [path]
    while path != "/":
        path = path.rsplit("/", 1)[0] or "/"
        levels.append(path)
    return levels


def _normalise_cgroup_path(path: str) -> str:
    parts = [part for part in path.strip().split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise NoSuchCgroup(f"cgroup path {path!r} must not contain '.' or '..'")
    return "/" + "/".join(parts)


@attrs.frozen
class Container:
    """Whose cgroups a caller sees (spec 2.1).

    ``target_pid``: the process whose cgroups are read, the init of the caller's pid
    namespace, or the caller itself when that is the reader's own namespace (or no init can
    be found). ``init_pid``: host pid of the caller's namespace init, host pid 1 for host
    callers (what uptime's age uses); None if the namespace has no init any more.
    ``pid_namespace``: inode of the caller's pid namespace. ``cgroup_paths``: controller ->
    cgroup path of ``target_pid`` with ``/init.scope`` pruned; the cgroup2 path is under
    the key ``""``; named v1 hierarchies keep their ``name=`` prefix. ``init_start_ticks``:
    the init's start time when whoever resolved the container read it already (the FUSE
    adapter's caller cache does, to validate it), so a view's ``init`` part need not read
    /proc/<init>/stat and /proc/<init>/cgroup again; None when not known.
    """

    caller_pid: int
    target_pid: int
    init_pid: int | None
    pid_namespace: int
    cgroup_paths: Mapping[str, str] = attrs.field(hash=False)
    init_start_ticks: int | None = attrs.field(default=None, eq=False)

    def path_in(self, hierarchy: Hierarchy) -> str | None:
        """The container's cgroup path in ``hierarchy``, if it is listed there."""
        if hierarchy.version == "v2":
            return self.cgroup_paths.get(UNIFIED)
        for controller in sorted(hierarchy.controllers):
            if controller in self.cgroup_paths:
                return self.cgroup_paths[controller]
        return None


class _Missing(Exception):
    """A cgroup file that does not exist (its cgroup still does)."""


class _NotLocated(Exception):
    """The first read of a controller found its cgroup directory missing: what ``locate``
    would have found had it probed the directory first."""


class _ViewReader:
    """Reads one view, collecting problems. One instance per view; not shared."""

    def __init__(self, reader: SystemReader, path_in: Callable[[Hierarchy], str | None]):
        self.reader = reader
        self.layout = reader.layout
        self.path_in = path_in
        self.problems: list[str] = []
        # The cgroup ``locate`` found for the controller being read, until a read of one
        # of its files succeeds: (hierarchy, path).
        self.unconfirmed: tuple[Hierarchy, str] | None = None

    # ------------------------------------------------------------------------- plumbing

    def display(self, hierarchy: Hierarchy, path: str, file: str) -> str:
        """How problems name a cgroup file: its path as seen from the root."""
        return self.reader.shown(self.reader.cgroup_location(hierarchy, path, file))

    def read(
        self, hierarchy: Hierarchy, path: str, location: str, *, ancestor: bool = False
    ) -> str:
        """The text of the file at ``location`` (``cgroup_location``) of cgroup ``path``;
        ``_Missing`` if absent, NoSuchCgroup if the cgroup vanished, ``ParseError`` (with
        the file name) if unreadable for another reason. ``ancestor``: a limit of a cgroup
        above the container's own (``SystemReader.read_cgroup_file``)."""
        files = self.reader.files
        try:
            text = self.reader.read_cgroup_file(location, ancestor=ancestor)
        except FileNotFoundError:
            if not files.is_directory(os.path.dirname(location)):
                self.raise_vanished(hierarchy, path, " while being read")
            self.confirm(hierarchy, path)
            raise _Missing from None
        except OSError as error:
            if error.errno == errno.ENODEV and not files.is_directory(os.path.dirname(location)):
                self.raise_vanished(hierarchy, path, "")
            self.confirm(hierarchy, path)
            display = self.reader.shown(location)
            raise ParseError(f"{display}: unreadable ({error.strerror})") from None
        self.confirm(hierarchy, path)
        return text

    def confirm(self, hierarchy: Hierarchy, path: str) -> None:
        """Cgroup ``path`` was there when one of its files was read."""
        unconfirmed = self.unconfirmed
        if unconfirmed is not None and unconfirmed[0] is hierarchy and unconfirmed[1] == path:
            self.unconfirmed = None

    def raise_vanished(self, hierarchy: Hierarchy, path: str, when: str) -> NoReturn:
        """The directory of cgroup ``path`` is missing: ``_NotLocated`` if it is the
        located cgroup and none of its files was read yet, else NoSuchCgroup."""
        unconfirmed = self.unconfirmed
        if unconfirmed is not None and unconfirmed[0] is hierarchy and unconfirmed[1] == path:
            raise _NotLocated
        raise NoSuchCgroup(f"cgroup {path} vanished from {hierarchy.directory}{when}")

    def parsed(
        self,
        hierarchy: Hierarchy,
        path: str,
        file: str,
        parse: Callable[[str, str], T],
        *,
        ancestor: bool = False,
    ) -> T:
        """Read and parse; ``_Missing`` passes through, other failures are ParseError."""
        location = self.reader.cgroup_location(hierarchy, path, file)
        text = self.read(hierarchy, path, location, ancestor=ancestor)
        return parse(text, self.reader.shown(location))

    def required(
        self, hierarchy: Hierarchy, path: str, file: str, parse: Callable[[str, str], T]
    ) -> T | None:
        """Like ``parsed``; a missing or bad file is a problem and yields None."""
        try:
            return self.parsed(hierarchy, path, file, parse)
        except _Missing:
            self.problems.append(f"{self.display(hierarchy, path, file)}: missing")
        except ParseError as error:
            self.problems.append(str(error))
        return None

    def optional(
        self, hierarchy: Hierarchy, path: str, file: str, parse: Callable[[str, str], T]
    ) -> T | None:
        """Like ``required`` but a missing file (a kernel without it) is no problem."""
        try:
            return self.parsed(hierarchy, path, file, parse)
        except _Missing:
            return None
        except ParseError as error:
            self.problems.append(str(error))
            return None

    def exists(self, hierarchy: Hierarchy, path: str, file: str) -> bool:
        return self.reader.files.exists(self.reader.cgroup_location(hierarchy, path, file))

    def locate(self, controller: str) -> tuple[Hierarchy, str] | None:
        """The hierarchy of ``controller`` and the container's path in it, or None (with a
        problem if the hierarchy exists but the container has no cgroup there). Whether
        the cgroup's directory exists is not probed here (a path lookup on every miss):
        the controller's first read of one of its files tells (``located``)."""
        hierarchy = self.layout.hierarchy_for(controller)
        if hierarchy is None:
            return None
        path = self.path_in(hierarchy)
        if path is None:
            self.problems.append(f"{controller}: the process is in no cgroup of this hierarchy")
            return None
        self.unconfirmed = (hierarchy, path)
        return hierarchy, path

    def located(self, read: Callable[[], R | None]) -> R | None:
        """``read()``, one controller's field; if its first read of the located cgroup
        finds the directory missing, None with the problem a probe before reading would
        have given (``<cgroup>: no such cgroup``, and nothing else of that controller)."""
        mark = len(self.problems)
        try:
            return read()
        except _NotLocated:
            assert self.unconfirmed is not None
            hierarchy, path = self.unconfirmed
            del self.problems[mark:]
            self.problems.append(f"{self.display(hierarchy, path, '')}: no such cgroup")
            return None
        finally:
            self.unconfirmed = None

    # ------------------------------------------------------------------------ controllers

    def view(self, init: InitProcess | None, parts: Collection[str] = VIEW_PARTS) -> CgroupView:
        """The view with the fields named in ``parts`` read (the others None); the memory
        field carries ``kmem_slabinfo`` only if ``KMEM_SLABINFO`` is asked for too."""
        with_slabinfo = KMEM_SLABINFO in parts
        located = self.located
        return CgroupView(
            memory=located(lambda: self.memory(with_slabinfo)) if "memory" in parts else None,
            cpuset=located(self.cpuset) if "cpuset" in parts else None,
            cpu=located(self.cpu) if "cpu" in parts else None,
            cpu_usage=located(self.cpu_usage) if "cpu_usage" in parts else None,
            io=located(self.io) if "io" in parts else None,
            pressure=located(self.pressure) if "pressure" in parts else None,
            init=init,
            problems=tuple(self.problems),
        )

    def memory(self, with_slabinfo: bool = True) -> MemoryCgroup | None:
        found = self.locate("memory")
        if found is None:
            return None
        hierarchy, path = found
        if hierarchy.version == "v1":
            return self.memory_v1(hierarchy, path, with_slabinfo)
        return self.memory_v2(hierarchy, path)

    def limit_chain(
        self,
        hierarchy: Hierarchy,
        levels: list[str],
        file: str,
        parse: Callable[[str, str], int | None],
        *,
        missing_is_unlimited: bool,
    ) -> tuple[LimitLevel, ...] | None:
        """The limit in ``file`` at each of ``levels`` (the cgroup first, then the
        ancestors), or None with a problem. Made of setting files alone, so the reader
        may keep it whole (``SystemReader.setting_value``)."""
        return self.reader.setting_value(
            (hierarchy.directory, file, levels[0], len(levels)),
            lambda: self._read_limit_chain(
                hierarchy, levels, file, parse, missing_is_unlimited=missing_is_unlimited
            ),
        )

    def _read_limit_chain(
        self,
        hierarchy: Hierarchy,
        levels: list[str],
        file: str,
        parse: Callable[[str, str], int | None],
        *,
        missing_is_unlimited: bool,
    ) -> tuple[tuple[LimitLevel, ...] | None, bool]:
        """``limit_chain`` read level by level, and whether it may be kept: only a chain
        of files that were all there (a failure, a problem or an absence is never kept)."""
        chain = []
        complete = True
        for level in levels:
            try:
                limit = self.parsed(hierarchy, level, file, parse, ancestor=level != levels[0])
            except _Missing:
                if not missing_is_unlimited:
                    self.problems.append(f"{self.display(hierarchy, level, file)}: missing")
                    return None, False
                limit = None
                complete = False
            except ParseError as error:
                self.problems.append(str(error))
                return None, False
            chain.append(LimitLevel(path=level, limit=limit))
        return tuple(chain), complete

    def memory_v1(
        self, hierarchy: Hierarchy, path: str, with_slabinfo: bool = True
    ) -> MemoryCgroup | None:
        usage = self.required(hierarchy, path, "memory.usage_in_bytes", parsers.parse_integer)
        stat = self.required(hierarchy, path, "memory.stat", parsers.parse_flat_keyed)
        # v1 reports the limit at every level including the root (where it is "unlimited").
        levels = _ancestors(path)
        limits = self.limit_chain(
            hierarchy,
            levels,
            "memory.limit_in_bytes",
            parsers.parse_v1_limit,
            missing_is_unlimited=False,
        )
        if usage is None or stat is None or limits is None:
            return None
        swap = None
        # Read, not probed first: a missing memsw usage (swapaccount=0) means no swap
        # accounting, and the probe was one more path lookup on every miss.
        memsw_usage = self.optional(
            hierarchy, path, "memory.memsw.usage_in_bytes", parsers.parse_integer
        )
        if memsw_usage is not None:
            memsw_limits = self.limit_chain(
                hierarchy,
                levels,
                "memory.memsw.limit_in_bytes",
                parsers.parse_v1_limit,
                missing_is_unlimited=False,
            )
            if memsw_limits is not None:
                swap = SwapAccounting(limits=memsw_limits, usage=memsw_usage)
        slabinfo = None
        # spec 3.10: the per-cgroup slabinfo is used only if the hierarchy root has one.
        if with_slabinfo and self.exists(hierarchy, "/", "memory.kmem.slabinfo"):
            slabinfo = self.optional(hierarchy, path, "memory.kmem.slabinfo", _verbatim)
        return MemoryCgroup(
            version="v1",
            path=path,
            usage=usage,
            limits=limits,
            stat=stat,
            swap=swap,
            swappiness=self.optional(hierarchy, path, "memory.swappiness", parsers.parse_integer),
            kmem_slabinfo=slabinfo,
        )

    def nearest_with(self, hierarchy: Hierarchy, path: str, file: str) -> str | None:
        """Spec 3.1 walk-up: the innermost of ``path`` and its non-root ancestors having
        ``file`` (the root only when ``path`` is the root); at the root, any first-level
        child having it (spec 8.6: cgroup2 keeps no swap files at the root)."""
        levels = _ancestors(path)
        if path != "/":
            levels = levels[:-1]
        for level in levels:
            if self.exists(hierarchy, level, file):
                return level
        if path == "/":
            directory = self.reader.path(hierarchy.directory)
            try:
                children = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
            except OSError:
                return None
            for child in children:
                if self.exists(hierarchy, "/" + child, file):
                    return "/" + child
        return None

    def memory_v2(self, hierarchy: Hierarchy, path: str) -> MemoryCgroup | None:
        stat = self.required(hierarchy, path, "memory.stat", parsers.parse_flat_keyed)
        if stat is None:
            return None
        if path == "/":
            # The root has no memory.current, memory.max or memory.swap.*.
            usage = _root_usage_from_stat(stat)
            self.problems.append(
                f"{self.display(hierarchy, path, 'memory.current')}: absent at the cgroup2 "
                "root; usage = anon + file + kernel from memory.stat"
            )
            limits: tuple[LimitLevel, ...] | None = (LimitLevel(path="/", limit=None),)
        else:
            found_usage = self.required(hierarchy, path, "memory.current", parsers.parse_integer)
            if found_usage is None:
                return None
            usage = found_usage
            limits = self.limit_chain(
                hierarchy,
                _ancestors(path)[:-1],
                "memory.max",
                parsers.parse_v2_limit,
                missing_is_unlimited=True,
            )
        if limits is None:
            return None
        return MemoryCgroup(
            version="v2",
            path=path,
            usage=usage,
            limits=limits,
            stat=stat,
            swap=self.swap_v2(hierarchy, path),
            swappiness=None,
            zswap_accounting=self.nearest_with(hierarchy, path, "memory.zswap.current") is not None,
        )

    def swap_v2(self, hierarchy: Hierarchy, path: str) -> SwapAccounting | None:
        accounted_at = self.nearest_with(hierarchy, path, "memory.swap.current")
        if accounted_at is None:
            return None  # the kernel does no swap accounting (swapaccount=0 or no swap)
        if path == "/":
            self.problems.append(
                f"{self.display(hierarchy, path, 'memory.swap.current')}: absent at the "
                "cgroup2 root; swap usage taken as 0"
            )
            return SwapAccounting(limits=(LimitLevel(path="/", limit=None),), usage=0)
        limits = self.limit_chain(
            hierarchy,
            _ancestors(path)[:-1],
            "memory.swap.max",
            parsers.parse_v2_limit,
            missing_is_unlimited=True,
        )
        usage = self.required(hierarchy, accounted_at, "memory.swap.current", parsers.parse_integer)
        if limits is None or usage is None:
            return None
        return SwapAccounting(limits=limits, usage=usage)

    def cpuset(self) -> CpusetCgroup | None:
        found = self.locate("cpuset")
        if found is None:
            return None
        hierarchy, path = found
        names = (
            ("cpuset.effective_cpus", "cpuset.cpus")
            if hierarchy.version == "v1"
            else ("cpuset.cpus.effective", "cpuset.cpus")
        )
        for level in _ancestors(path):
            for name in names:
                try:
                    cpus = self.parsed(hierarchy, level, name, _cpuset)
                except _Missing:
                    continue
                except ParseError as error:
                    self.problems.append(str(error))
                    return None
                if cpus:
                    return CpusetCgroup(path=path, cpus=cpus)
        self.problems.append(f"{self.display(hierarchy, path, names[0])}: no CPUs up to the root")
        return None

    def cpu(self) -> CpuCgroup | None:
        found = self.locate("cpu")
        if found is None:
            return None
        hierarchy, path = found
        quotas = []
        for level in _ancestors(path)[:-1]:  # the root cannot carry a quota
            if hierarchy.version == "v1":
                file = "cpu.cfs_quota_us"
                try:
                    quota = self.parsed(
                        hierarchy, level, file, parsers.parse_cfs_quota, ancestor=level != path
                    )
                    file = "cpu.cfs_period_us"
                    period = self.parsed(
                        hierarchy, level, file, parsers.parse_integer, ancestor=level != path
                    )
                except _Missing:
                    self.problems.append(f"{self.display(hierarchy, level, file)}: missing")
                    return None
                except ParseError as error:
                    self.problems.append(str(error))
                    return None
                quotas.append(QuotaLevel(path=level, quota_us=quota, period_us=period))
            else:
                try:
                    quota, period = self.parsed(
                        hierarchy, level, "cpu.max", parsers.parse_cpu_max, ancestor=level != path
                    )
                except _Missing:
                    continue  # cpu not enabled at this level: nothing to limit here
                except ParseError as error:
                    self.problems.append(str(error))
                    return None
                quotas.append(QuotaLevel(path=level, quota_us=quota, period_us=period))
        return CpuCgroup(version=hierarchy.version, path=path, quotas=tuple(quotas))

    def cpu_usage(self) -> CpuUsage | None:
        if self.layout.hierarchy_for("cpuacct") is not None:
            found = self.locate("cpuacct")
            if found is None:
                return None
            hierarchy, path = found
            try:
                per_cpu = self.parsed(
                    hierarchy, path, "cpuacct.usage_all", parsers.parse_cpuacct_usage_all
                )
            except ParseError as error:
                self.problems.append(str(error))
                return None
            except _Missing:
                per_cpu_or_none = self.required(
                    hierarchy, path, "cpuacct.usage_percpu", parsers.parse_cpuacct_usage_percpu
                )
                if per_cpu_or_none is None:
                    return None
                per_cpu = per_cpu_or_none
            total = CpuTime(
                user_ns=sum(t.user_ns for t in per_cpu.values()),
                system_ns=sum(t.system_ns for t in per_cpu.values()),
            )
            return CpuUsage(version="v1", path=path, total=total, per_cpu=per_cpu)
        unified = self.layout.unified
        if self.layout.kind != "v2" or unified is None:
            return None
        unified_path = self.path_in(unified)
        if unified_path is None:
            return None
        stat = self.required(unified, unified_path, "cpu.stat", parsers.parse_flat_keyed)
        if stat is None:
            return None
        if "user_usec" not in stat or "system_usec" not in stat:
            self.problems.append(
                f"{self.display(unified, unified_path, 'cpu.stat')}: no user_usec/system_usec"
            )
            return None
        total = CpuTime(user_ns=stat["user_usec"] * 1000, system_ns=stat["system_usec"] * 1000)
        return CpuUsage(version="v2", path=unified_path, total=total, per_cpu=None)

    def io(self) -> IoCgroup | None:
        if self.layout.hierarchy_for("blkio") is not None:
            return self.io_v1()
        found = self.locate("io")
        if found is None or found[0].version != "v2":
            return None
        hierarchy, path = found
        table = self.required(hierarchy, path, "io.stat", parsers.parse_io_stat)
        if table is None:
            return None
        return IoCgroup(
            version="v2",
            path=path,
            source="io.stat",
            devices=parsers.io_devices_from_io_stat(table),
        )

    def io_v1(self) -> IoCgroup | None:
        found = self.locate("blkio")
        if found is None:
            return None
        hierarchy, path = found
        cfq_files = (
            "blkio.io_serviced_recursive",
            "blkio.io_merged_recursive",
            "blkio.io_service_bytes_recursive",
            "blkio.io_service_time_recursive",
            "blkio.io_wait_time_recursive",
        )
        devices: tuple[IoDeviceStats, ...]
        if all(self.exists(hierarchy, path, name) for name in cfq_files):
            tables = [
                self.required(hierarchy, path, name, parsers.parse_blkio_recursive)
                for name in cfq_files
            ]
            serviced, merged, service_bytes, service_time, wait_time = tables
            if (
                serviced is None
                or merged is None
                or service_bytes is None
                or service_time is None
                or wait_time is None
            ):
                return None
            devices = parsers.io_devices_from_blkio_cfq(
                serviced, merged, service_bytes, service_time, wait_time
            )
            return IoCgroup(version="v1", path=path, source="blkio.cfq", devices=devices)
        serviced = self.required(
            hierarchy, path, "blkio.throttle.io_serviced_recursive", parsers.parse_blkio_recursive
        )
        service_bytes = self.required(
            hierarchy,
            path,
            "blkio.throttle.io_service_bytes_recursive",
            parsers.parse_blkio_recursive,
        )
        if serviced is None or service_bytes is None:
            return None
        devices = parsers.io_devices_from_blkio_throttle(serviced, service_bytes)
        return IoCgroup(version="v1", path=path, source="blkio.throttle", devices=devices)

    def pressure(self) -> PressureCgroup | None:
        # PSI files exist in every cgroup2 cgroup; on v1 (and for the v1 controllers of a
        # hybrid) there are none, so pressure files show the host's (spec 3.11).
        unified = self.layout.unified
        if self.layout.kind != "v2" or unified is None:
            return None
        path = self.path_in(unified)
        if path is None:
            return None
        texts = {
            name: self.optional(unified, path, f"{name}.pressure", _verbatim)
            for name in ("cpu", "io", "memory")
        }
        if all(text is None for text in texts.values()):
            return None
        return PressureCgroup(cpu=texts["cpu"], io=texts["io"], memory=texts["memory"], path=path)

    # ------------------------------------------------------------------------------ init

    def busy_ns(self, paths: Mapping[str, str] | None, path: str | None) -> int | None:
        """CPU time of a cgroup: v1 ``cpuacct.usage``, v2 ``cpu.stat`` usage_usec x 1000.
        ``paths`` (controller -> path) or one ``path`` for every hierarchy."""
        hierarchy = self.layout.hierarchy_for("cpuacct")
        if hierarchy is None and self.layout.kind == "v2":
            hierarchy = self.layout.unified
        if hierarchy is None:
            return None
        where = path
        if paths is not None:
            key = UNIFIED if hierarchy.version == "v2" else "cpuacct"
            where = paths.get(key)
        if where is None:
            return None
        try:
            if hierarchy.version == "v1":
                return self.parsed(hierarchy, where, "cpuacct.usage", parsers.parse_integer)
            stat = self.parsed(hierarchy, where, "cpu.stat", parsers.parse_flat_keyed)
        except (_Missing, ParseError, NoSuchCgroup):
            return None
        usage = stat.get("usage_usec")
        return None if usage is None else usage * 1000


def _verbatim(text: str, name: str) -> str:
    return text


def _cpuset(text: str, name: str) -> frozenset[int]:
    try:
        return parse_cpuset(text)
    except ParseError as error:
        raise ParseError(f"{name}: {error}") from None


def _root_usage_from_stat(stat: Mapping[str, int]) -> int:
    """The cgroup2 root's usage from its memory.stat: anon + file + kernel (``kernel`` is
    the sum of the kernel_stack/pagetables/percpu/sock/vmalloc/slab keys on 6.x kernels;
    older kernels lack it, then those are added)."""
    kernel = stat.get("kernel")
    if kernel is None:
        kernel = sum(
            stat.get(key, 0)
            for key in ("kernel_stack", "pagetables", "sec_pagetables", "percpu", "sock", "slab")
        )
    return stat.get("anon", 0) + stat.get("file", 0) + kernel


class SystemReader:
    """Reads host texts, the clock and containers' cgroups below ``root`` (rule 1)."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root)
        self._root_slash = self.root.rstrip("/") + "/"
        self._proc_slash = self._root_slash + "proc/"  # process_identity, once a read
        if not os.path.isdir(os.path.join(self.root, "proc")):
            raise LxcfsModelError(
                f"{self.root} cannot be read as a system root: it has no proc/ directory"
            )
        self.is_live = os.path.realpath(self.root) == "/"
        self.layout: CgroupLayout = discover_layout(self.root)
        self.clk_tck = int(os.sysconf("SC_CLK_TCK")) if self.is_live else FIXTURE_CLK_TCK
        self._hierarchy_roots = {
            h.directory: self.path(h.directory) for h in self.layout.hierarchies
        }
        # Where reads may keep the GIL (kernel_files rules 1-2): the kernel's own mounts.
        self.files = KernelFiles(
            [self.path("proc"), self.path("sys/devices/system/cpu")]
            + [self.path(hierarchy.directory) for hierarchy in self.layout.hierarchies],
            files=[self.path(relative) for relative, _ in _HOST_FILES.values()],
        )
        self.WouldBlock = self.files.WouldBlock
        self.only_kernel_files = self.files.only_kernel_files

    def path(self, *parts: str) -> str:
        """A path below the root (``path("proc", "meminfo")``). Every part is relative: a
        leading ``/`` does not leave the root (``os.path.join`` would), and empty parts are
        skipped. Called a dozen times a request, hence plain string joins."""
        relative = "/".join([part.strip("/") for part in parts if part.strip("/")])
        if not relative:
            return self.root
        return self._root_slash + relative

    def cgroup_location(self, hierarchy: Hierarchy, path: str, file: str = "") -> str:
        """``path(hierarchy.directory, path, file)``: where a cgroup's file (or, without
        ``file``, its directory) lies. A dozen calls a request, hence the hierarchy's
        directory joined once at start and two concatenations here."""
        base = self._hierarchy_roots.get(hierarchy.directory) or self.path(hierarchy.directory)
        cgroup = path.strip("/")
        if cgroup:
            base = f"{base}/{cgroup}"
        return f"{base}/{file}" if file else base

    def shown(self, location: str) -> str:
        """A path below the root as problems and errors name it: from the root, with a
        leading ``/`` (the live root's paths are unchanged)."""
        return "/" + location[len(self._root_slash) :]

    def setting_value(self, key: Hashable, read: Callable[[], tuple[T, bool]]) -> T:
        """What ``read()`` makes of setting files alone (a limit chain), ``key`` naming it
        among all such values; ``read`` also says whether the value may be kept (no
        failure, no problem, no file absent). Read every time here; ``CachingReader``
        keeps what may be kept for ``setting_max_age``."""
        return read()[0]

    def read_cgroup_file(self, location: str, *, ancestor: bool = False) -> str:
        """The text of one cgroup file (the path below the root). ``ancestor``: a limit or
        quota of a cgroup above the container's own, which the orchestrator sets and which
        every container below shares; ``CachingReader`` keeps those longer. Raises what
        ``os.open``/``os.read`` raise."""
        return self.files.read_text(location)

    # ---------------------------------------------------------------------------- host

    def _host_text(self, relative: str, *, required: bool) -> str | None:
        try:
            return self.files.read_text(self.path(relative))
        except OSError as error:
            if required:
                raise LxcfsModelError(
                    f"cannot read {self.path(relative)}: {error.strerror}"
                ) from None
            return None

    def host_snapshot(self, parts: Collection[str] = HOST_PARTS) -> HostSnapshot:
        """The host's procfs and sysfs texts (spec: as the daemon itself reads them).
        ``parts``: the texts to read (``HOST_PARTS`` names; a file's
        ``FileSpec.host_parts``); the others are left empty ("" or None) unread."""
        texts = {name: "" if required else None for name, (_, required) in _HOST_FILES.items()}
        for name in parts:
            relative, required = _HOST_FILES[name]
            texts[name] = self._host_text(relative, required=required)
        return HostSnapshot(**texts, clk_tck=self.clk_tck)  # type: ignore[arg-type]

    def clock(self) -> Clock:
        """Live: CLOCK_BOOTTIME. A fixture tree: the first number of its proc/uptime."""
        if self.is_live:
            return Clock(boottime=time.clock_gettime(time.CLOCK_BOOTTIME))
        text = self._host_text("proc/uptime", required=True) or ""
        try:
            return Clock(boottime=float(text.split()[0]))
        except (IndexError, ValueError):
            raise LxcfsModelError(f"{self.path('proc/uptime')}: no uptime number") from None

    # --------------------------------------------------------------------------- pids

    def _proc_text(self, pid: int, name: str) -> str:
        try:
            return self.files.read_text(f"{self._root_slash}proc/{pid}/{name}")
        except (FileNotFoundError, ProcessLookupError):
            raise NoSuchProcess(f"process {pid} does not exist") from None
        except OSError as error:
            if not self.files.is_directory(self.path("proc", str(pid))):
                raise NoSuchProcess(f"process {pid} does not exist") from None
            raise LxcfsModelError(
                f"cannot read {self.path('proc', str(pid), name)}: {error.strerror}"
            ) from None

    def _checked_pid(self, pid: int) -> int:
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise NoSuchProcess(f"{pid!r} is not a process id")
        return pid

    def pid_namespace_inode(self, pid: int | str) -> int:
        """Inode of the pid namespace of ``pid`` (``"self"``: the reader's own; in a fixture
        tree without proc/self, pid 1's). NoSuchProcess if it does not exist."""
        if pid == "self" and not os.path.lexists(self.path("proc/self/ns/pid")):
            pid = 1
        link = f"{self._root_slash}proc/{pid}/ns/pid"
        try:
            target = self.files.read_link(link)
        except FileNotFoundError:
            raise NoSuchProcess(f"process {pid} does not exist") from None
        except OSError as error:
            raise LxcfsModelError(f"cannot read {link}: {error.strerror}") from None
        return parsers.parse_pid_namespace_link(target, link)

    def process_identity(self, pid: int) -> int:
        """The inode of the /proc/<pid> directory: a new process on a recycled pid gets a
        new one (procfs makes a fresh inode for every process it shows), and it costs one
        stat, no read. NoSuchProcess if there is no such process now."""
        pid = self._checked_pid(pid)
        try:
            return os.stat(f"{self._proc_slash}{pid}").st_ino
        except FileNotFoundError:
            raise NoSuchProcess(f"process {pid} does not exist") from None
        except OSError as error:
            raise LxcfsModelError(f"cannot stat process {pid}: {error.strerror}") from None

    def process_start_ticks(self, pid: int) -> int:
        """Field 22 of /proc/<pid>/stat: start time in clock ticks after boot. With the pid
        it names one process for the life of the boot (pids are reused, start times not)."""
        pid = self._checked_pid(pid)
        text = self._proc_text(pid, "stat")
        try:
            return parsers.parse_proc_stat_start_ticks(text, self.path("proc", str(pid), "stat"))
        except ParseError as error:
            raise LxcfsModelError(str(error)) from None

    def _status(self, pid: int) -> Mapping[str, str]:
        return parsers.parse_proc_status(self._proc_text(pid, "status"))

    def _namespace_or_none(self, pid: int) -> int | None:
        try:
            return self.pid_namespace_inode(pid)
        except (LxcfsModelError, ParseError):
            return None

    def _is_namespace_init(self, pid: int) -> bool:
        try:
            return parsers.parse_status_nspid(self._status(pid))[-1] == 1
        except (NoSuchProcess, ParseError):
            return False

    def _numeric_pids(self) -> Iterator[int]:
        try:
            entries = os.listdir(self.path("proc"))
        except OSError:
            return
        for entry in entries:
            if entry.isdigit():
                yield int(entry)

    def find_namespace_init(self, pid: int) -> int | None:
        """Host pid of the init (pid 1) of ``pid``'s pid namespace (spec 2.3, the scan
        alternative): walk up PPid while the parent shares the namespace; if the top is not
        the init (a process that setns'd in), scan /proc for it. None if it is gone."""
        namespace = self.pid_namespace_inode(pid)
        current = pid
        for _ in range(4096):  # a PPid cycle is impossible; bound the walk anyway
            try:
                parent = parsers.parse_status_ppid(self._status(current))
            except ParseError:
                break
            if parent <= 0 or self._namespace_or_none(parent) != namespace:
                break
            current = parent
        if self._is_namespace_init(current):
            return current
        for candidate in self._numeric_pids():
            if self._namespace_or_none(candidate) == namespace and self._is_namespace_init(
                candidate
            ):
                return candidate
        return None

    def cgroup_paths(self, pid: int) -> dict[str, str]:
        """Controller -> cgroup path of ``pid`` (``""`` for cgroup2), ``/init.scope``
        pruned."""
        name = self.path("proc", str(pid), "cgroup")
        try:
            lines = parsers.parse_proc_cgroup(self._proc_text(pid, "cgroup"), name)
        except ParseError as error:
            raise LxcfsModelError(str(error)) from None
        paths: dict[str, str] = {}
        # One string per distinct path of this process, and one per controller name across
        # all containers (interned): these dicts live as long as the caller caches (a
        # thousand containers at once), and each copy was an object of its own, twelve per
        # container on a v1 host.
        distinct: dict[str, str] = {}
        for line in lines:
            path = prune_init_scope(line.path)
            path = distinct.setdefault(path, path)
            if not line.controllers:
                paths.setdefault(UNIFIED, path)
            for controller in line.controllers:
                paths.setdefault(sys.intern(controller), path)
        return paths

    def resolve_pid(self, pid: int) -> Container:
        """The container ``pid`` belongs to (spec 2.1): the init of its pid namespace, or
        itself when it shares the reader's namespace (or its namespace has no init)."""
        pid = self._checked_pid(pid)
        try:
            own = self.pid_namespace_inode("self")
        except LxcfsModelError as error:
            raise LxcfsModelError(f"cannot tell the reader's own pid namespace: {error}") from None
        try:
            namespace = self.pid_namespace_inode(pid)
        except NoSuchProcess:
            raise
        except LxcfsModelError:
            namespace = own  # spec 2.3: an unreadable ns link means "use the caller"
        if namespace == own:
            init: int | None = 1
            target = pid
        else:
            init = self.find_namespace_init(pid)
            target = init if init is not None and init > 1 else pid
        return Container(
            caller_pid=pid,
            target_pid=target,
            init_pid=init,
            pid_namespace=namespace,
            cgroup_paths=self.cgroup_paths(target),
        )

    # -------------------------------------------------------------------------- views

    def _init_process(
        self, reader: _ViewReader, pid: int, known: Container | None = None
    ) -> InitProcess | None:
        """The init's start and CPU time. ``known``: a container whose target is this init
        and whose start time its resolver read, so only the CPU time is read here (the
        target's exit is caught by ``view_for_container``'s final check)."""
        if known is not None and known.init_start_ticks is not None:
            return InitProcess(
                pid=pid,
                start_ticks=known.init_start_ticks,
                cpu_busy_ns=reader.busy_ns(known.cgroup_paths, None),
            )
        try:
            start = self.process_start_ticks(pid)
            paths = self.cgroup_paths(pid)
        except NoSuchProcess:
            return None
        except LxcfsModelError as error:
            reader.problems.append(str(error))
            return None
        return InitProcess(pid=pid, start_ticks=start, cpu_busy_ns=reader.busy_ns(paths, None))

    def view_for_container(
        self, container: Container, parts: Collection[str] = VIEW_PARTS
    ) -> CgroupView:
        """Each controller read at the container's path in its own hierarchy. ``parts``:
        the view fields to read (``VIEW_PARTS`` names; a file's ``FileSpec.view_parts``),
        the others are left None and cost nothing."""
        reader = _ViewReader(self, container.path_in)
        init = None
        if container.init_pid is not None and "init" in parts:
            known = container if container.target_pid == container.init_pid else None
            init = self._init_process(reader, container.init_pid, known)
            if init is None and container.init_pid != container.caller_pid:
                reader.problems.append(f"namespace init {container.init_pid} vanished")
        view = reader.view(init, parts)
        if not self._process_exists(container.target_pid):
            # Its cgroups may have gone with it: what was read is no longer anyone's view.
            raise NoSuchProcess(f"process {container.target_pid} exited while being read")
        return view

    def _process_exists(self, pid: int) -> bool:
        """Whether process ``pid`` exists now, as its /proc directory would say. On the live
        root signal 0 says it without a path walk through /proc (one per view read; such a
        walk measured 27 us in the daemon's cold path); a fixture tree is asked."""
        if self.root != "/":
            return self.files.is_directory(f"{self._proc_slash}{pid}")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # it exists; it is just not ours to signal
        return True

    def view_for_pid(self, pid: int) -> CgroupView:
        """``view_for_container(resolve_pid(pid))``."""
        return self.view_for_container(self.resolve_pid(pid))

    def view_for_cgroup(self, path: str) -> CgroupView:
        """The same cgroup path read in every hierarchy. NoSuchCgroup if it exists in
        none; a hierarchy lacking it makes that controller None (with a problem)."""
        path = _normalise_cgroup_path(path)
        hierarchies = [
            h
            for h in self.layout.hierarchies
            if os.path.isdir(self.path(h.directory, path.lstrip("/")))
        ]
        if not hierarchies:
            raise NoSuchCgroup(f"no cgroup {path} in any hierarchy under {self.root}")
        reader = _ViewReader(self, lambda hierarchy: path)
        view = reader.view(None)
        return attrs.evolve(view, init=self._oldest_process(reader, path, hierarchies))

    def _oldest_process(
        self, reader: _ViewReader, path: str, hierarchies: list[Hierarchy]
    ) -> InitProcess | None:
        """The cgroup's init: host pid 1 for the root cgroup (what host callers get, spec
        2.1), else the longest-running process in the cgroup or below it (a systemd
        container keeps its init in ``<ct>/init.scope``); None if it has no process."""
        pid = 1 if path == "/" else self._oldest_pid_below(path, hierarchies)
        if pid is None:
            return None
        try:
            start = self.process_start_ticks(pid)
        except LxcfsModelError:
            return None  # exited meanwhile
        return InitProcess(pid=pid, start_ticks=start, cpu_busy_ns=reader.busy_ns(None, path))

    def _oldest_pid_below(self, path: str, hierarchies: list[Hierarchy]) -> int | None:
        preferred = [self.layout.hierarchy_for(c) for c in ("cpuacct", "cpu", "memory")]
        hierarchy = next((h for h in preferred if h in hierarchies), hierarchies[0])
        top = self.path(hierarchy.directory, path.lstrip("/"))
        oldest: tuple[int, int] | None = None
        for directory, _, files in os.walk(top):
            if "cgroup.procs" not in files:
                continue
            try:
                tokens = read_text(os.path.join(directory, "cgroup.procs")).split()
            except OSError:
                continue  # removed while walking
            for token in tokens:
                if not (token.isascii() and token.isdigit()):
                    continue  # garbage: not a pid
                try:
                    candidate = (self.process_start_ticks(int(token)), int(token))
                except LxcfsModelError:
                    continue  # exited meanwhile
                if oldest is None or candidate < oldest:
                    oldest = candidate
        return None if oldest is None else oldest[1]
