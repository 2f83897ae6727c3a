"""The values every renderer works from: one container's cgroups, the host's procfs, the clock.

Rules:
1. Plain, frozen, slotted attrs classes. They hold *parsed* cgroup values (numbers, sets,
   per-device records) and the host's procfs *texts* (host lines pass through verbatim, so
   the text is the value; parsed forms are derived lazily and cached on the snapshot).
2. ``None`` for a controller means "not resolvable for this container" (no such hierarchy,
   unreadable, malformed). Renderers then fall back as spec 3.12 says, usually to the host
   file. The reader records what went wrong in ``CgroupView.problems``.
3. Nothing here reads a file or a clock. The I/O layer (``lxcfs_model.io``) builds these from
   a live system or a fixture tree; tests and snapshots build them directly.
4. Paths are cgroup paths as /proc/<pid>/cgroup prints them (``/``, ``/a/b``), with a
   trailing ``/init.scope`` already pruned by whoever resolved the container.

Theory: a *level* is one cgroup on the way from the container's cgroup up to the root.
Limits are kept per level (innermost first) rather than pre-reduced, so ``--explain`` can name
the level a limit came from and the hierarchical-minimum rule lives in one place
(``effective_limit``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Literal

import attrs

from lxcfs_model.cpuset import parse_cpuset
from lxcfs_model.errors import ParseError
from lxcfs_model.host_cpu import CpuinfoLayout, StatLayout, parse_cpuinfo, parse_stat
from lxcfs_model.host_memory import HostMeminfoNumbers, MeminfoLayout, parse_meminfo

__all__ = [
    "CgroupVersion",
    "CgroupView",
    "Clock",
    "CpuCgroup",
    "CpuTime",
    "CpuUsage",
    "CpusetCgroup",
    "HostSnapshot",
    "InitProcess",
    "IoCgroup",
    "IoDeviceStats",
    "LimitLevel",
    "MemoryCgroup",
    "PressureCgroup",
    "QuotaLevel",
    "RenderOptions",
    "SwapAccounting",
    "effective_limit",
]

CgroupVersion = Literal["v1", "v2"]


# ----------------------------------------------------------------------------------- memory


@attrs.frozen
class LimitLevel:
    """One cgroup's limit on the way to the root; ``limit`` None means unlimited there."""

    path: str
    limit: int | None


def effective_limit(levels: tuple[LimitLevel, ...]) -> LimitLevel | None:
    """The level with the smallest finite limit (innermost wins ties); None if none is set.

    This is the hierarchical-minimum rule (spec 3.1 ``get_min_memlimit``). A limit of 0 is a
    real limit (spec 8.5), never "unlimited".
    """
    best: LimitLevel | None = None
    for level in levels:
        if level.limit is not None and (
            best is None or best.limit is None or level.limit < best.limit
        ):
            best = level
    return best


@attrs.frozen
class SwapAccounting:
    """Swap accounting of a memory cgroup.

    v1: ``limits`` are ``memory.memsw.limit_in_bytes`` (memory + swap) and ``usage`` is
    ``memory.memsw.usage_in_bytes``. v2: ``memory.swap.max`` and ``memory.swap.current``
    (swap alone).
    """

    limits: tuple[LimitLevel, ...]
    usage: int


@attrs.frozen
class MemoryCgroup:
    """The memory controller's values for one container.

    ``limits``: ``memory.limit_in_bytes`` (v1) or ``memory.max`` (v2) of the cgroup and each
    ancestor, innermost first. On v2 the root level is absent (it has no memory.max), except
    when the container *is* the root. ``stat``: ``memory.stat`` as key -> integer, verbatim
    keys (v1 keeps both the local and the ``total_*`` keys). ``swap`` None: the kernel does
    no swap accounting for this hierarchy. ``zswap_accounting``: v2 ``memory.zswap.current``
    exists. ``kmem_slabinfo``: v1 ``memory.kmem.slabinfo`` text, if the kernel has it.
    """

    version: CgroupVersion
    path: str
    usage: int
    limits: tuple[LimitLevel, ...]
    stat: Mapping[str, int] = attrs.field(factory=dict, hash=False)
    swap: SwapAccounting | None = None
    swappiness: int | None = None
    zswap_accounting: bool = False
    kmem_slabinfo: str | None = None


# -------------------------------------------------------------------------------------- cpu


@attrs.frozen
class CpusetCgroup:
    """The container's effective cpuset (v1 ``cpuset.effective_cpus`` / v2
    ``cpuset.cpus.effective``, else ``cpuset.cpus``, else the nearest ancestor's), as host CPU
    numbers. The effective set comes first because it is what the kernel enforces."""

    path: str
    cpus: frozenset[int]


@attrs.frozen
class QuotaLevel:
    """One cgroup's CFS bandwidth: ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` (v1) or
    ``cpu.max`` (v2). ``quota_us`` None means no quota at this level."""

    path: str
    quota_us: int | None
    period_us: int

    @property
    def ratio(self) -> float | None:
        """CPUs' worth of time per period, or None when this level sets no quota."""
        if self.quota_us is None or self.quota_us < 0 or self.period_us <= 0:
            return None
        return self.quota_us / self.period_us


@attrs.frozen
class CpuCgroup:
    """The cpu controller's bandwidth limits of the container's cgroup and its ancestors
    (innermost first, the root excluded: it cannot carry a quota)."""

    version: CgroupVersion
    path: str
    quotas: tuple[QuotaLevel, ...]


@attrs.frozen
class CpuTime:
    """CPU time in nanoseconds."""

    user_ns: int
    system_ns: int


@attrs.frozen
class CpuUsage:
    """CPU time the container consumed.

    v1: ``cpuacct.usage_all`` (or ``cpuacct.usage_percpu``, then user = total and system = 0)
    keyed by host CPU number in ``per_cpu``. v2: ``cpu.stat`` has no per-CPU breakdown, so
    ``per_cpu`` is None and only ``total`` is known (``user_usec``/``system_usec``).
    ``total`` is always the sum over all CPUs.
    """

    version: CgroupVersion
    path: str
    total: CpuTime
    per_cpu: Mapping[int, CpuTime] | None = attrs.field(default=None, hash=False)


# --------------------------------------------------------------------------------------- io


@attrs.frozen
class IoDeviceStats:
    """The container's I/O on one block device, in the kernel's diskstats units
    (requests, merges, bytes; times in milliseconds)."""

    major: int
    minor: int
    read_ios: int = 0
    read_merges: int = 0
    read_bytes: int = 0
    read_ticks_ms: int = 0
    write_ios: int = 0
    write_merges: int = 0
    write_bytes: int = 0
    write_ticks_ms: int = 0
    discard_ios: int = 0
    discard_merges: int = 0
    discard_bytes: int = 0
    discard_ticks_ms: int = 0
    io_ticks_ms: int = 0


@attrs.frozen
class IoCgroup:
    """Per-device I/O of the container. ``source`` names the files it came from:
    ``"blkio.cfq"`` (v1 ``blkio.io_*_recursive``), ``"blkio.throttle"`` (v1
    ``blkio.throttle.io_*_recursive``) or ``"io.stat"`` (v2)."""

    version: CgroupVersion
    path: str
    source: Literal["blkio.cfq", "blkio.throttle", "io.stat"]
    devices: tuple[IoDeviceStats, ...]


# --------------------------------------------------------------------------------- pressure


@attrs.frozen
class PressureCgroup:
    """PSI texts of the container's cgroups, verbatim (``some avg10=...``); None where the
    kernel has no such file for it (no PSI, or v1)."""

    cpu: str | None = None
    io: str | None = None
    memory: str | None = None
    path: str = "/"


# ------------------------------------------------------------------------------------- init


@attrs.frozen
class InitProcess:
    """The init (pid 1) of the container's pid namespace, as the host sees it.

    ``start_ticks``: field 22 of /proc/<pid>/stat (clock ticks since boot).
    ``cpu_busy_ns``: CPU time of the init's cgroup (v1 ``cpuacct.usage``, v2 ``cpu.stat``
    ``usage_usec`` x 1000); None if unknown.
    """

    pid: int
    start_ticks: int
    cpu_busy_ns: int | None = None


# ------------------------------------------------------------------------------------- view


@attrs.frozen
class CgroupView:
    """Everything the renderers know about one container's cgroups."""

    memory: MemoryCgroup | None = None
    cpuset: CpusetCgroup | None = None
    cpu: CpuCgroup | None = None
    cpu_usage: CpuUsage | None = None
    io: IoCgroup | None = None
    pressure: PressureCgroup | None = None
    init: InitProcess | None = None
    problems: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------- host


@attrs.frozen
class HostSnapshot:
    """The host's procfs and sysfs texts, as the daemon itself reads them.

    Texts are verbatim so untouched lines pass through byte for byte. A file the host lacks
    (no PSI, /proc/slabinfo unreadable) is None. ``online`` is the text of
    /sys/devices/system/cpu/online. Parsed views are computed once per snapshot and cached.
    """

    meminfo: str
    cpuinfo: str
    stat: str
    uptime: str
    loadavg: str
    diskstats: str
    swaps: str
    online: str
    slabinfo: str | None = None
    pressure_cpu: str | None = None
    pressure_io: str | None = None
    pressure_memory: str | None = None
    clk_tck: int = 100

    @functools.cached_property
    def online_cpus(self) -> frozenset[int]:
        """Host CPUs that are online; an unparsable file counts as none online."""
        try:
            return parse_cpuset(self.online)
        except ParseError:
            return frozenset()

    @functools.cached_property
    def cpuinfo_layout(self) -> CpuinfoLayout:
        """Host /proc/cpuinfo cut into per-CPU blocks (``lxcfs_model.host_cpu``)."""
        return parse_cpuinfo(self.cpuinfo)

    @functools.cached_property
    def stat_layout(self) -> StatLayout:
        """Host /proc/stat cut into per-CPU counters and passthrough lines."""
        return parse_stat(self.stat)

    @functools.cached_property
    def meminfo_layout(self) -> MeminfoLayout:
        """Host /proc/meminfo as the template the meminfo renderer fills
        (``lxcfs_model.host_memory``)."""
        return parse_meminfo(self.meminfo)

    @functools.cached_property
    def meminfo_kb(self) -> Mapping[str, int]:
        """Host /proc/meminfo as label -> kB (or pages, for the HugePages_ counters), each
        label read when first asked for (``lxcfs_model.host_memory.HostMeminfoNumbers``)."""
        return HostMeminfoNumbers(self.meminfo)


# ---------------------------------------------------------------------------------- request


@attrs.frozen
class Clock:
    """The moment of a render: ``boottime`` is CLOCK_BOOTTIME in seconds (what /proc/uptime's
    first number shows on the host)."""

    boottime: float


@attrs.frozen
class RenderOptions:
    """The lxcfs options that change rendered content (``--enable-cfs`` etc.)."""

    enable_cfs: bool = False
    disable_swap: bool = False
    disable_zswap: bool = False
    enable_loadavg: bool = False
