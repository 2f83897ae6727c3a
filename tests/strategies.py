"""Hypothesis strategies that build the library's values: host snapshots, cgroup views, inputs.

Rules:
1. One module for every test that needs random values. Sections belong to their owners; the
   shared core (host texts, cgroup views, render inputs) comes first, other engineers append
   their own clearly marked sections at the end.
2. Host texts follow the kernel's own printf formats (6.x): ``show_val_kb`` for meminfo
   (label padded to 16 columns, ``%8lu kB``), ``HugePages_*`` without unit, ``cpu  `` with two
   spaces in /proc/stat, ``%4d %7d %s`` + 17 numbers in diskstats, and so on. They are written
   here independently of the renderers, so a renderer's formatter is checked against a second
   implementation rather than against itself.
3. Strategies stay fast (the CI profile runs 200 examples): bulk per-CPU numbers come from one
   drawn ``random.Random``, only the values properties reason about are drawn one by one.
4. Edge cases are drawn on purpose, not left to luck: no swap, huge counters (20 digits),
   missing controllers, a limit on the parent only, no limit, 0 limits, limits above host RAM,
   usage above the limit, swappiness 0.

Import it as ``from strategies import ...``: tests/ has no ``__init__.py``, so pytest puts
tests/ itself on ``sys.path`` (for conftest.py) and this works from tests/unit/ and
tests/properties/ alike, under ``pytest`` and ``python3 -m pytest``.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Mapping, Sequence
from typing import Literal, TypeVar

import attrs
from hypothesis import strategies as st

from lxcfs_model.cpuset import format_cpuset
from lxcfs_model.history import ContainerHistory, LoadavgState, StatHistory
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import (
    CgroupVersion,
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
    RenderOptions,
    SwapAccounting,
)

__all__ = [
    "KIB",
    "MIB",
    "V1_UNLIMITED",
    "cgroup_paths",
    "cgroup_views",
    "clocks",
    "container_histories",
    "cpu_cgroups",
    "cpu_usages",
    "cpuset_cgroups",
    "host_meminfo_text",
    "host_snapshots",
    "hostile_stat_inputs",
    "init_processes",
    "io_cgroups",
    "kernel_meminfo_line",
    "memory_cgroups",
    "pressure_cgroups",
    "pressure_texts",
    "render_inputs",
    "render_options",
]

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
# What a v1 memory.limit_in_bytes holds when nothing is set (PAGE_COUNTER_MAX * 4096).
V1_UNLIMITED = 9223372036854771712
U64_MAX = (1 << 64) - 1
T = TypeVar("T")

# Default arguments of the strategies below (module singletons: built once, shared).
EITHER_VERSION: st.SearchStrategy[CgroupVersion] = st.sampled_from(["v1", "v2"])
ANY_CPU_COUNT = st.integers(1, 512)
COIN = st.booleans()
ONE_IN_SIX = st.integers(0, 5).map(lambda n: n == 0)


@functools.lru_cache(maxsize=4096)
def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    """``st.integers``, built once per bounds: a strategy object is validated on first use,
    so reusing it keeps composite strategies cheap."""
    return st.integers(low, high)


@functools.lru_cache(maxsize=1024)
def _choice(options: tuple[T, ...]) -> st.SearchStrategy[T]:
    """``st.sampled_from``, built once per choice list (see ``_ints``)."""
    return st.sampled_from(options)


# Bulk numbers come from a plain Random seeded by one drawn integer: reproducible, and far
# cheaper than Hypothesis's own random (which turns every call into a draw).
_SEEDED_RANDOM = st.integers(0, 2**32 - 1).map(random.Random)

# ======================================================================================
# Shared core (memory-side owner). Other sections go at the END of this file.
# ======================================================================================

# --------------------------------------------------------------------------- host meminfo

# Every /proc/meminfo line of a 6.x x86_64 kernel, in the kernel's order (fs/proc/meminfo.c,
# then hugetlb_report_meminfo and arch_report_meminfo). ``True``: always printed here;
# ``False``: behind a config option, drawn present or absent.
_MEMINFO_LINES: tuple[tuple[str, bool], ...] = (
    ("MemTotal", True),
    ("MemFree", True),
    ("MemAvailable", True),
    ("Buffers", True),
    ("Cached", True),
    ("SwapCached", True),
    ("Active", True),
    ("Inactive", True),
    ("Active(anon)", True),
    ("Inactive(anon)", True),
    ("Active(file)", True),
    ("Inactive(file)", True),
    ("Unevictable", True),
    ("Mlocked", True),
    ("SwapTotal", True),
    ("SwapFree", True),
    ("Zswap", False),
    ("Zswapped", False),
    ("Dirty", True),
    ("Writeback", True),
    ("AnonPages", True),
    ("Mapped", True),
    ("Shmem", True),
    ("KReclaimable", True),
    ("Slab", True),
    ("SReclaimable", True),
    ("SUnreclaim", True),
    ("KernelStack", True),
    ("PageTables", True),
    ("SecPageTables", False),
    ("NFS_Unstable", True),
    ("Bounce", True),
    ("WritebackTmp", True),
    ("CommitLimit", True),
    ("Committed_AS", True),
    ("VmallocTotal", True),
    ("VmallocUsed", True),
    ("VmallocChunk", True),
    ("Percpu", True),
    ("HardwareCorrupted", False),
    ("AnonHugePages", True),
    ("ShmemHugePages", True),
    ("ShmemPmdMapped", True),
    ("FileHugePages", True),
    ("FilePmdMapped", True),
    ("CmaTotal", False),
    ("CmaFree", False),
    ("Unaccepted", False),
    ("Balloon", False),
    ("HugePages_Total", True),
    ("HugePages_Free", True),
    ("HugePages_Rsvd", True),
    ("HugePages_Surp", True),
    ("Hugepagesize", True),
    ("Hugetlb", True),
    ("DirectMap4k", True),
    ("DirectMap2M", True),
    ("DirectMap1G", False),
)

_HUGEPAGE_COUNTERS = ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp")


def kernel_meminfo_line(label: str, value: int) -> str:
    """One /proc/meminfo line exactly as the kernel prints it.

    ``show_val_kb``: ``"<label>:"`` padded to 16 columns, the number right-aligned in 8
    (wider numbers simply widen the line), ``" kB\\n"``. The HugePages_ counters are page
    counts: ``"HugePages_Total:   %5lu\\n"`` (label + colon padded to 19, then ``%5lu``).
    ``HardwareCorrupted`` (18 columns with its colon) has its own ``%5lu kB`` format.
    """
    if label in _HUGEPAGE_COUNTERS:
        return f"{label + ':':<19}{value:5d}\n"
    if label == "HardwareCorrupted":  # its own seq_printf: "HardwareCorrupted: %5lu kB\n"
        return f"HardwareCorrupted: {value:5d} kB\n"
    return f"{label + ':':<16}{value:8d} kB\n"


def host_meminfo_text(values: Mapping[str, int]) -> str:
    """A /proc/meminfo text with the given lines, in the order given (use kernel order)."""
    return "".join(kernel_meminfo_line(label, value) for label, value in values.items())


@st.composite
def host_meminfo_values(
    draw: st.DrawFn, swap: st.SearchStrategy[bool], huge: st.SearchStrategy[bool]
) -> dict[str, int]:
    """Plausible host meminfo numbers (kB; pages for HugePages_*) in kernel order."""
    is_huge = draw(huge)
    top = 10**19 if is_huge else 4 * 1024 * GIB // KIB  # 20 digits, or a 4 TiB host
    total = draw(_ints(64 * MIB // KIB, top))
    rng = draw(_SEEDED_RANDOM)
    free = draw(_ints(0, total))
    cached = rng.randint(0, total - free)
    active_file = rng.randint(0, cached)
    inactive_file = cached - active_file
    anon = rng.randint(0, max(0, total - free - cached))
    active_anon = rng.randint(0, anon)
    slab_reclaimable = rng.randint(0, max(0, total // 50))
    slab_unreclaimable = rng.randint(0, max(0, total // 100))
    available = min(total, free + active_file + inactive_file + slab_reclaimable)
    has_swap = draw(swap)
    swap_total = draw(_ints(1, top)) if has_swap else 0
    swap_free = rng.randint(0, swap_total)
    optional_present = {label: draw(COIN) for label, always in _MEMINFO_LINES if not always}
    # Zswap/Zswapped come and go together (one config option), likewise CmaTotal/CmaFree.
    optional_present["Zswapped"] = optional_present["Zswap"]
    optional_present["CmaFree"] = optional_present["CmaTotal"]
    known = {
        "MemTotal": total,
        "MemFree": free,
        "MemAvailable": available,
        "Buffers": rng.randint(0, max(0, total // 100)),
        "Cached": cached,
        "SwapCached": rng.randint(0, swap_total - swap_free),
        "Active": active_anon + active_file,
        "Inactive": (anon - active_anon) + inactive_file,
        "Active(anon)": active_anon,
        "Inactive(anon)": anon - active_anon,
        "Active(file)": active_file,
        "Inactive(file)": inactive_file,
        "SwapTotal": swap_total,
        "SwapFree": swap_free,
        "AnonPages": anon,
        "KReclaimable": slab_reclaimable,
        "Slab": slab_reclaimable + slab_unreclaimable,
        "SReclaimable": slab_reclaimable,
        "SUnreclaim": slab_unreclaimable,
        "VmallocTotal": 34359738367,
        "Hugepagesize": 2048,
    }
    values: dict[str, int] = {}
    for label, always in _MEMINFO_LINES:
        if not always and not optional_present[label]:
            continue
        if label in known:
            values[label] = known[label]
        elif label in _HUGEPAGE_COUNTERS:
            values[label] = rng.randint(0, 64)
        else:
            values[label] = rng.randint(0, top if is_huge else max(0, total // 10))
    return values


# --------------------------------------------------------------------------- other host texts

_CPUINFO_BLOCK = (
    "processor\t: {n}\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 25\n"
    "model\t\t: 1\n"
    "model name\t: AMD EPYC\n"
    "stepping\t: 1\n"
    "microcode\t: 0x1000065\n"
    "cpu MHz\t\t: 2445.432\n"
    "cache size\t: 512 KB\n"
    "physical id\t: 0\n"
    "siblings\t: {count}\n"
    "core id\t\t: {n}\n"
    "cpu cores\t: {count}\n"
    "apicid\t\t: {n}\n"
    "initial apicid\t: {n}\n"
    "fpu\t\t: yes\n"
    "fpu_exception\t: yes\n"
    "cpuid level\t: 13\n"
    "wp\t\t: yes\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat\n"
    "bugs\t\t: sysret_ss_attrs null_seg spectre_v1 spectre_v2\n"
    "bogomips\t: 4890.86\n"
    "TLB size\t: 2560 4K pages\n"
    "clflush size\t: 64\n"
    "cache_alignment\t: 64\n"
    "address sizes\t: 48 bits physical, 48 bits virtual\n"
    "power management:\n"
    "\n"
)


def _cpuinfo_text(online: Sequence[int]) -> str:
    count = len(online)
    return "".join(_CPUINFO_BLOCK.format(n=n, count=count) for n in online)


def _stat_text(online: Sequence[int], rng: random.Random, top: int) -> str:
    """/proc/stat as show_stat() prints it: aggregate ``cpu  `` (two spaces), one ``cpuN``
    line of 10 counters per online CPU, then intr, ctxt, btime, processes, procs_*, softirq."""
    cell = top // len(online)  # so that the aggregate line stays within ``top`` too
    per_cpu = [[rng.randint(0, cell) for _ in range(10)] for _ in online]
    # guest and guest_nice are already included in user and nice by the kernel; keep it so.
    for row in per_cpu:
        row[0] = max(row[0], row[8])
        row[1] = max(row[1], row[9])
    totals = [sum(column) for column in zip(*per_cpu, strict=True)]
    lines = ["cpu  " + " ".join(map(str, totals))]
    lines += [f"cpu{n} " + " ".join(map(str, row)) for n, row in zip(online, per_cpu, strict=True)]
    irqs = [rng.randint(0, top) for _ in range(rng.randint(1, 64))]
    lines.append("intr " + " ".join(map(str, [sum(irqs), *irqs])))
    lines.append(f"ctxt {rng.randint(0, top)}")
    lines.append(f"btime {rng.randint(1_500_000_000, 1_900_000_000)}")
    lines.append(f"processes {rng.randint(1, top)}")
    lines.append(f"procs_running {rng.randint(1, 1 + len(online))}")
    lines.append(f"procs_blocked {rng.randint(0, 8)}")
    softirqs = [rng.randint(0, top) for _ in range(10)]
    lines.append("softirq " + " ".join(map(str, [sum(softirqs), *softirqs])))
    return "\n".join(lines) + "\n"


_DISK_NAMES: tuple[tuple[int, int, str], ...] = (
    (7, 0, "loop0"), (7, 1, "loop1"), (8, 0, "sda"), (8, 1, "sda1"), (253, 0, "vda"),
    (259, 0, "nvme0n1"), (259, 1, "nvme0n1p1"), (11, 0, "sr0"),
)  # fmt: skip


def _diskstats_text(rng: random.Random, top: int) -> str:
    """diskstats_show() of 6.x: ``%4d %7d %s`` then 17 counters (reads, merges, sectors, ms,
    writes ..., in flight, io ms, weighted ms, 4 discard, 2 flush)."""
    lines = []
    for major, minor, name in _DISK_NAMES[: rng.randint(1, len(_DISK_NAMES))]:
        numbers = " ".join(str(rng.randint(0, top)) for _ in range(17))
        lines.append(f"{major:4d} {minor:7d} {name} {numbers}\n")
    return "".join(lines)


_HOST_SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"


def _swaps_text(swap_total_kb: int, swap_free_kb: int, rng: random.Random) -> str:
    """swap_show() of 6.x: header, then per device the path padded to 40 columns, type,
    size, used (a tab more while < 10000000) and priority."""
    if swap_total_kb == 0:
        return _HOST_SWAPS_HEADER
    used = swap_total_kb - swap_free_kb
    path, kind = rng.choice((("/dev/vda2", "partition"), ("/swapfile", "file\t")))
    pad = " " * (40 - len(path))
    size_tab = "\t" if swap_total_kb < 10_000_000 else ""
    used_tab = "\t" if used < 10_000_000 else ""
    line = f"{path}{pad}{kind}\t{swap_total_kb}\t{size_tab}{used}\t{used_tab}-2\n"
    return _HOST_SWAPS_HEADER + line


_SLABINFO_HEADER = (
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
    " : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs>"
    " <sharedavail>\n"
)
_SLAB_CACHES = ("kmalloc-64", "dentry", "inode_cache", "task_struct", "radix_tree_node")


def _slabinfo_text(rng: random.Random) -> str:
    lines = [_SLABINFO_HEADER]
    for name in _SLAB_CACHES[: rng.randint(0, len(_SLAB_CACHES))]:
        active, total = sorted((rng.randint(0, 100_000), rng.randint(0, 100_000)))
        lines.append(
            f"{name:<17} {active:6d} {total:6d} {rng.randint(8, 8192):6d}"
            f" {rng.randint(1, 64):4d} {rng.randint(1, 8):4d} : tunables    0    0    0"
            f" : slabdata {rng.randint(0, 5000):6d} {rng.randint(0, 5000):6d}      0\n"
        )
    return "".join(lines)


@st.composite
def pressure_texts(draw: st.DrawFn, full: bool = True) -> str:
    """A PSI file: ``some avg10=%.2f avg60=%.2f avg300=%.2f total=%llu`` and the ``full``
    line (present for cpu too since 5.13, all zeros at system level)."""

    rng = draw(_SEEDED_RANDOM)

    def line(kind: str) -> str:
        avgs = [rng.randint(0, 10000) for _ in range(3)]
        total = rng.choice((0, rng.randint(0, 10**9), rng.randint(0, U64_MAX)))
        shown = " ".join(
            f"avg{window}={value // 100}.{value % 100:02d}"
            for window, value in zip((10, 60, 300), avgs, strict=True)
        )
        return f"{kind} {shown} total={total}\n"

    return line("some") + (line("full") if full else "")


_PSI_TEXT = pressure_texts()


@st.composite
def _online_cpu_numbers(draw: st.DrawFn, cpus: st.SearchStrategy[int]) -> list[int]:
    count = draw(cpus)
    if draw(_ints(0, 4)) == 0:  # sometimes holes: CPUs taken offline
        pool = range(count * 2)
        return sorted(draw(_SEEDED_RANDOM).sample(pool, count))
    return list(range(count))


@st.composite
def host_snapshots(
    draw: st.DrawFn,
    cpus: st.SearchStrategy[int] = ANY_CPU_COUNT,
    swap: st.SearchStrategy[bool] = COIN,
    psi: st.SearchStrategy[bool] = COIN,
    slabinfo: st.SearchStrategy[bool] = COIN,
    huge_counters: st.SearchStrategy[bool] = ONE_IN_SIX,
) -> HostSnapshot:
    """A host's procfs texts in 6.x kernel formats; swap and no swap, PSI or none, and now
    and then counters of up to 20 digits."""
    online = draw(_online_cpu_numbers(cpus))
    is_huge = draw(huge_counters)
    top = 10**19 if is_huge else 10**7
    rng = draw(_SEEDED_RANDOM)
    memory = draw(host_meminfo_values(swap=swap, huge=st.just(is_huge)))
    uptime_cs = draw(_ints(0, 10**12 if is_huge else 10**9))
    idle_cs = rng.randint(0, uptime_cs * len(online))
    load = [rng.randint(0, 10000) for _ in range(3)]
    loadavg = " ".join(f"{value // 100}.{value % 100:02d}" for value in load)
    has_psi = draw(psi)
    return HostSnapshot(
        meminfo=host_meminfo_text(memory),
        cpuinfo=_cpuinfo_text(online),
        stat=_stat_text(online, rng, top),
        uptime=f"{uptime_cs // 100}.{uptime_cs % 100:02d} {idle_cs // 100}.{idle_cs % 100:02d}\n",
        loadavg=f"{loadavg} {rng.randint(1, 9)}/{rng.randint(10, 5000)} {rng.randint(1, 99999)}\n",
        diskstats=_diskstats_text(rng, top),
        swaps=_swaps_text(memory["SwapTotal"], memory["SwapFree"], rng),
        online=format_cpuset(online) + "\n",
        slabinfo=_slabinfo_text(rng) if draw(slabinfo) else None,
        pressure_cpu=draw(_PSI_TEXT) if has_psi else None,
        pressure_io=draw(_PSI_TEXT) if has_psi else None,
        pressure_memory=draw(_PSI_TEXT) if has_psi else None,
        clk_tck=draw(_choice((100, 100, 100, 250, 1000))),
    )


# ------------------------------------------------------------------------------ cgroup paths

_PATH_PARTS = st.sampled_from(
    ("lxc", "c1", "payload.web", "kubepods", "pod-1", "user.slice", "docker", "a", "b")
)


def cgroup_paths() -> st.SearchStrategy[str]:
    """Cgroup paths as /proc/<pid>/cgroup prints them: ``/`` or ``/a/b`` (up to 5 levels)."""
    return st.lists(_PATH_PARTS, max_size=5).map(lambda parts: "/" + "/".join(parts))


def _chain(path: str, include_root: bool) -> list[str]:
    """``path`` and its ancestors, innermost first; the root only if asked (or if it is path)."""
    chain = [path]
    while chain[-1] != "/":
        parent = chain[-1].rsplit("/", 1)[0] or "/"
        chain.append(parent)
    if not include_root and len(chain) > 1:
        chain.pop()
    return chain


# ------------------------------------------------------------------------------- memory

_LIMIT_SHAPES = ("none", "leaf", "parent_only", "zero", "above_host", "random")


@st.composite
def _limit_chain(
    draw: st.DrawFn, levels: Sequence[str], unlimited: int | None, top: int
) -> tuple[LimitLevel, ...]:
    """Limits for each level: nothing set, the leaf only, the parent only, a 0 somewhere,
    a limit above the host's RAM, or each level at random. ``unlimited`` is what an unset
    level holds (None, or v1's ``V1_UNLIMITED`` number)."""
    shape = draw(_choice(_LIMIT_SHAPES))
    values: list[int | None] = [unlimited] * len(levels)

    def some_limit() -> int:
        limit = draw(_ints(0, top))
        return limit - limit % 4096

    if shape == "leaf":
        values[0] = some_limit()
    elif shape == "parent_only" and len(levels) > 1:
        values[1] = some_limit()
    elif shape == "zero":
        values[draw(_ints(0, len(levels) - 1))] = 0
    elif shape == "above_host":
        values[draw(_ints(0, len(levels) - 1))] = draw(_ints(top, max(top, 1 << 63)))
    elif shape == "random":
        values = [unlimited if draw(COIN) else draw(_ints(0, 1 << 63)) for _ in levels]
    return tuple(
        LimitLevel(path=path, limit=value) for path, value in zip(levels, values, strict=True)
    )


_V2_STAT_KEYS = (
    "anon", "file", "kernel", "kernel_stack", "pagetables", "sec_pagetables", "percpu",
    "sock", "vmalloc", "shmem", "zswap", "zswapped", "file_mapped", "file_dirty",
    "file_writeback", "swapcached", "anon_thp", "file_thp", "shmem_thp", "inactive_anon",
    "active_anon", "inactive_file", "active_file", "unevictable", "slab_reclaimable",
    "slab_unreclaimable", "slab", "workingset_refault_anon", "workingset_refault_file",
    "pgscan", "pgsteal", "pgfault", "pgmajfault",
)  # fmt: skip
_V1_LOCAL_KEYS = (
    "cache", "rss", "rss_huge", "shmem", "mapped_file", "dirty", "writeback", "swap",
    "pgpgin", "pgpgout", "pgfault", "pgmajfault", "inactive_anon", "active_anon",
    "inactive_file", "active_file", "unevictable",
)  # fmt: skip


@st.composite
def _memory_stat(draw: st.DrawFn, version: CgroupVersion, usage: int, huge: bool) -> dict[str, int]:
    """memory.stat as key -> bytes. Amounts are consistent with ``usage`` most of the time
    (the LRU lists add up to anon + file), arbitrary (up to 2**64 - 1) now and then."""
    rng = draw(_SEEDED_RANDOM)
    top = U64_MAX if huge else max(usage, 4096)

    def part(limit: int) -> int:
        return rng.randint(0, max(0, limit)) // 4096 * 4096

    file = part(top if huge else usage)
    anon = part(top if huge else usage - file)
    shmem = part(min(anon, file) if not huge else top)
    active_anon, active_file = part(anon), part(file)
    common = {
        "shmem": shmem,
        "inactive_anon": anon - active_anon if not huge else part(top),
        "active_anon": active_anon,
        "inactive_file": file - active_file if not huge else part(top),
        "active_file": active_file,
        "unevictable": part(top // 64 if not huge else top),
    }
    stat: dict[str, int]
    if version == "v2":
        slab_reclaimable, slab_unreclaimable = part(top // 16), part(top // 32)
        stat = {key: part(top // 8) for key in _V2_STAT_KEYS}
        stat.update(common)
        stat.update(
            anon=anon,
            file=file,
            file_mapped=part(file),
            file_dirty=part(file),
            file_writeback=part(file),
            slab_reclaimable=slab_reclaimable,
            slab_unreclaimable=slab_unreclaimable,
            slab=slab_reclaimable + slab_unreclaimable,
        )
        if draw(_ints(0, 4)) == 0:  # an older kernel: no zswap or slab keys
            for key in ("zswap", "zswapped", "slab", "slab_reclaimable", "slab_unreclaimable"):
                stat.pop(key)
    else:
        local = {key: part(top // 8) for key in _V1_LOCAL_KEYS}
        local.update(common)
        local.update(cache=file, rss=anon, rss_huge=part(anon), mapped_file=part(file))
        local.update(dirty=part(file), writeback=part(file))
        # The hierarchical totals count child cgroups too, so they are at least the local ones.
        stat = dict(local)
        stat["hierarchical_memory_limit"] = V1_UNLIMITED
        stat["hierarchical_memsw_limit"] = V1_UNLIMITED
        for key, value in local.items():
            stat["total_" + key] = value + (part(top // 8) if draw(COIN) else 0)
    return stat


@st.composite
def memory_cgroups(
    draw: st.DrawFn,
    version: st.SearchStrategy[CgroupVersion] = EITHER_VERSION,
    host_ram_bytes: int = 64 * GIB,
    swap: st.SearchStrategy[bool] = COIN,
) -> MemoryCgroup:
    """A memory controller view: limit chains of every shape, usage sometimes above the
    limit, swap accounting or none, swappiness 0 now and then, v1 kmem slabinfo or not."""
    chosen: CgroupVersion = draw(version)
    path = draw(cgroup_paths())
    huge = draw(ONE_IN_SIX)
    top = host_ram_bytes * 2
    levels = _chain(path, include_root=chosen == "v1")
    unlimited: int | None = draw(_choice((V1_UNLIMITED, None))) if chosen == "v1" else None
    limits = draw(_limit_chain(levels, unlimited, top))
    usage = draw(_ints(0, U64_MAX if huge else top)) // 4096 * 4096
    swap_accounting: SwapAccounting | None = None
    if draw(swap):
        swap_limits = draw(_limit_chain(levels, unlimited, top))
        if chosen == "v1" and draw(COIN):
            # The kernel keeps memsw >= mem at each level; mirror that most of the time.
            swap_limits = tuple(
                LimitLevel(s.path, None if s.limit is None else max(s.limit, m.limit or 0))
                for s, m in zip(swap_limits, limits, strict=True)
            )
        swap_usage = draw(_ints(0, U64_MAX if huge else top))
        if chosen == "v1" and draw(COIN):
            swap_usage = usage + draw(_ints(0, top))  # memsw counts memory too
        swap_accounting = SwapAccounting(limits=swap_limits, usage=swap_usage)
    swappiness = None if chosen == "v2" else draw(_choice((60, 0, 10, 100, 200)))
    return MemoryCgroup(
        version=chosen,
        path=path,
        usage=usage,
        limits=limits,
        stat=draw(_memory_stat(chosen, usage, huge)),
        swap=swap_accounting,
        swappiness=swappiness,
        zswap_accounting=chosen == "v2" and draw(COIN),
        kmem_slabinfo=(
            _slabinfo_text(draw(_SEEDED_RANDOM)) if chosen == "v1" and draw(COIN) else None
        ),
    )


# ---------------------------------------------------------------------------------- cpu


@st.composite
def cpuset_cgroups(draw: st.DrawFn, online: frozenset[int] | Sequence[int]) -> CpusetCgroup:
    """An effective cpuset: mostly a non-empty subset of the online CPUs, sometimes with
    CPUs that are not online, or empty."""
    online_list = sorted(online)
    pool = _choice(tuple(online_list)) if online_list else _ints(0, 7)
    cpus = draw(st.frozensets(pool, min_size=1 if online_list else 0, max_size=64))
    shape = draw(_ints(0, 9))
    if shape == 0:
        cpus = cpus | draw(st.frozensets(_ints(0, 1024), max_size=4))
    elif shape == 1:
        cpus = frozenset()
    elif shape == 2:
        cpus = frozenset(online_list)
    return CpusetCgroup(path=draw(cgroup_paths()), cpus=cpus)


@st.composite
def cpu_cgroups(
    draw: st.DrawFn, version: st.SearchStrategy[CgroupVersion] = EITHER_VERSION
) -> CpuCgroup:
    """CFS bandwidth over the cgroup chain (root excluded): none, leaf, parent only, random."""
    chosen: CgroupVersion = draw(version)
    path = draw(cgroup_paths())
    levels = _chain(path, include_root=False) if path != "/" else []
    shape = draw(_choice(("none", "leaf", "parent_only", "random")))
    quotas = []
    for index, level in enumerate(levels):
        period = draw(_choice((100_000, 100_000, 50_000, 1000, 1_000_000)))
        set_here = (
            (shape == "random" and draw(COIN))
            or (shape == "leaf" and index == 0)
            or (shape == "parent_only" and index == 1)
        )
        quota = draw(_ints(1000, 64 * period)) if set_here else None
        quotas.append(QuotaLevel(path=level, quota_us=quota, period_us=period))
    return CpuCgroup(version=chosen, path=path, quotas=tuple(quotas))


@st.composite
def cpu_usages(
    draw: st.DrawFn,
    online: frozenset[int] | Sequence[int],
    version: st.SearchStrategy[CgroupVersion] = EITHER_VERSION,
) -> CpuUsage:
    """Container CPU time: per host CPU on v1 (cpuacct.usage_all), total only on v2."""
    chosen: CgroupVersion = draw(version)
    rng = draw(_SEEDED_RANDOM)
    top = draw(_choice((10**12, 10**15, 10**19)))
    path = draw(cgroup_paths())
    if chosen == "v2":
        total = CpuTime(user_ns=rng.randint(0, top), system_ns=rng.randint(0, top))
        return CpuUsage(version="v2", path=path, total=total)
    per_cpu = {cpu: CpuTime(rng.randint(0, top), rng.randint(0, top)) for cpu in sorted(online)}
    total = CpuTime(
        user_ns=sum(t.user_ns for t in per_cpu.values()),
        system_ns=sum(t.system_ns for t in per_cpu.values()),
    )
    return CpuUsage(version="v1", path=path, total=total, per_cpu=per_cpu)


# ----------------------------------------------------------------------------------- io


@st.composite
def io_cgroups(
    draw: st.DrawFn, version: st.SearchStrategy[CgroupVersion] = EITHER_VERSION
) -> IoCgroup:
    """Per-device container I/O in diskstats units; some devices idle (all zero)."""
    chosen: CgroupVersion = draw(version)
    rng = draw(_SEEDED_RANDOM)
    top = draw(_choice((10**6, 10**12, 10**19)))
    devices = []
    for major, minor, _name in _DISK_NAMES[: rng.randint(0, len(_DISK_NAMES))]:
        if rng.random() < 0.2:
            devices.append(IoDeviceStats(major=major, minor=minor))
            continue
        numbers = [rng.randint(0, top) for _ in range(13)]
        devices.append(IoDeviceStats(major, minor, *numbers))
    source: Literal["blkio.cfq", "blkio.throttle", "io.stat"] = (
        "io.stat" if chosen == "v2" else draw(_choice(("blkio.cfq", "blkio.throttle")))
    )
    return IoCgroup(
        version=chosen, path=draw(cgroup_paths()), source=source, devices=tuple(devices)
    )


# ------------------------------------------------------------------------------ pressure


@st.composite
def pressure_cgroups(draw: st.DrawFn) -> PressureCgroup:
    """The cgroup's PSI files, each present or not."""

    def maybe() -> str | None:
        return draw(_PSI_TEXT) if draw(COIN) else None

    return PressureCgroup(cpu=maybe(), io=maybe(), memory=maybe(), path=draw(cgroup_paths()))


# ---------------------------------------------------------------------------------- init


def init_processes() -> st.SearchStrategy[InitProcess]:
    """The container's init: host pid, start time in ticks (0 now and then), CPU time."""
    return st.builds(
        InitProcess,
        pid=_ints(1, 4194304),
        start_ticks=st.one_of(st.just(0), _ints(0, 10**11)),
        cpu_busy_ns=st.one_of(st.none(), _ints(0, 10**19)),
    )


# ---------------------------------------------------------------------------------- view


@st.composite
def cgroup_views(
    draw: st.DrawFn,
    version: st.SearchStrategy[CgroupVersion] = EITHER_VERSION,
    online: frozenset[int] | Sequence[int] = frozenset(range(4)),
    host_ram_bytes: int = 64 * GIB,
) -> CgroupView:
    """One container's cgroups; every controller independently present or missing (None)."""
    chosen: CgroupVersion = draw(version)
    same = st.just(chosen)

    def present() -> bool:
        return draw(_ints(0, 5)) != 0

    memory = draw(memory_cgroups(same, host_ram_bytes)) if present() else None
    cpuset = draw(cpuset_cgroups(online)) if present() else None
    cpu = draw(cpu_cgroups(same)) if present() else None
    cpu_usage = draw(cpu_usages(online, same)) if present() else None
    io = draw(io_cgroups(same)) if present() else None
    pressure = draw(pressure_cgroups()) if chosen == "v2" and present() else None
    init = draw(init_processes()) if present() else None
    problems = tuple(
        f"{name}: not resolvable"
        for name, value in (("memory", memory), ("cpuset", cpuset), ("cpu", cpu), ("io", io))
        if value is None
    )
    return CgroupView(
        memory=memory,
        cpuset=cpuset,
        cpu=cpu,
        cpu_usage=cpu_usage,
        io=io,
        pressure=pressure,
        init=init,
        problems=problems,
    )


# ------------------------------------------------------------------------- inputs, clock


def render_options() -> st.SearchStrategy[RenderOptions]:
    return st.builds(
        RenderOptions,
        enable_cfs=COIN,
        disable_swap=COIN,
        disable_zswap=COIN,
        enable_loadavg=COIN,
    )


@st.composite
def clocks(draw: st.DrawFn, init: InitProcess | None = None, clk_tck: int = 100) -> Clock:
    """CLOCK_BOOTTIME, usually after the init started (start_ticks / clk_tck), sometimes
    before it (clock skew, a lying /proc)."""
    started = init.start_ticks / clk_tck if init is not None else 0.0
    if draw(_ints(0, 9)) == 0:
        return Clock(boottime=draw(st.floats(0.0, max(started, 1.0))))
    return Clock(boottime=started + draw(st.floats(0.0, 10.0**9, allow_nan=False)))


@st.composite
def container_histories(draw: st.DrawFn, online: Sequence[int] = (0, 1)) -> ContainerHistory:
    """History from an earlier read, or none (first read); may not fit the current view."""
    stat = None
    if draw(COIN):
        rng = draw(_SEEDED_RANDOM)
        labels = ["cpu"] + [f"cpu{index}" for index in range(len(online))]
        last_lines = tuple(
            (label, tuple(rng.randint(0, 10**9) for _ in range(10))) for label in labels
        )
        baseline = tuple(
            (cpu, (rng.randint(0, 10**9), rng.randint(0, 10**9), rng.randint(0, 10**9)))
            for cpu in online
        )
        stat = StatHistory(last_lines=last_lines, baseline=baseline, view=())
    loadavg = None
    if draw(COIN):
        loadavg = LoadavgState(
            avenrun=tuple(draw(_ints(0, 1 << 20)) for _ in range(3)),  # type: ignore[arg-type]
            running=draw(_ints(0, 1000)),
            total=draw(_ints(1, 10000)),
            last_pid=draw(_ints(0, 4194304)),
        )
    return ContainerHistory(stat=stat, loadavg=loadavg)


@st.composite
def render_inputs(
    draw: st.DrawFn,
    version: st.SearchStrategy[CgroupVersion] = EITHER_VERSION,
    cpus: st.SearchStrategy[int] = ANY_CPU_COUNT,
) -> RenderInputs:
    """A whole render request: a host, a container view fitting it, options, clock, history."""
    host = draw(host_snapshots(cpus=cpus))
    ram_bytes = host.meminfo_kb.get("MemTotal", 0) * KIB
    view = draw(cgroup_views(version, online=host.online_cpus, host_ram_bytes=ram_bytes))
    return RenderInputs(
        view=view,
        host=host,
        options=draw(render_options()),
        clock=draw(clocks(view.init, host.clk_tck)),
        history=draw(container_histories(sorted(host.online_cpus))),
    )


# ======================================================================================
# Sections appended by other owners go below this line, each under its own banner.
# ======================================================================================


# ======================================================================================
# Time and I/O files (owner: uptime, loadavg, diskstats)
# ======================================================================================

# What diskstats_show() prints after ``%4d %7d %s``: 11 numbers before 4.18, 15 with the
# discard counters (4.18), 17 with the flush counters (5.5).
DISKSTATS_COLUMN_COUNTS = (11, 15, 17)
ANY_DISKSTATS_LAYOUT = st.sampled_from(DISKSTATS_COLUMN_COUNTS)


@st.composite
def host_diskstats_texts(
    draw: st.DrawFn, columns: st.SearchStrategy[int] = ANY_DISKSTATS_LAYOUT
) -> str:
    """/proc/diskstats of a kernel of any generation: the shared device list (the one
    ``io_cgroups`` draws from) in a drawn order, every line with the drawn column count."""
    width = draw(columns)
    rng = draw(_SEEDED_RANDOM)
    devices = list(_DISK_NAMES)
    rng.shuffle(devices)
    lines = []
    for major, minor, name in devices[: rng.randint(0, len(devices))]:
        numbers = " ".join(str(rng.randint(0, 10**12)) for _ in range(width))
        lines.append(f"{major:4d} {minor:7d} {name} {numbers}\n")
    return "".join(lines)


def task_states() -> st.SearchStrategy[list[tuple[int, str]]]:
    """``(tid, state)`` pairs as a sampler reads them: a state letter, sometimes with the
    status file's description (``"D (disk sleep)"``)."""
    state = st.sampled_from(
        ("R", "S", "D", "Z", "T", "t", "X", "I", "R (running)", "D (disk sleep)", "S (sleeping)")
    )
    return st.lists(st.tuples(st.integers(1, 4194304), state), max_size=50)


# ======================================================================================
# CPU files (owner: cpuinfo, stat, sys cpu)
# ======================================================================================


def _kernel_stat_text(rows: Mapping[int, Sequence[int]], rest: str) -> str:
    """/proc/stat from per-CPU counters: ``cpu  `` aggregate, ``cpuN`` lines, then ``rest``."""
    totals = [sum(column) for column in zip(*rows.values(), strict=True)]
    lines = ["cpu  " + " ".join(map(str, totals)) + "\n"]
    lines += [f"cpu{cpu} " + " ".join(map(str, row)) + "\n" for cpu, row in rows.items()]
    return "".join(lines) + rest


SMALL_CPU_COUNT = st.integers(1, 12)
READ_COUNT = st.integers(2, 6)


@st.composite
def cpu_read_sequences(
    draw: st.DrawFn,
    cpus: st.SearchStrategy[int] = SMALL_CPU_COUNT,
    reads: st.SearchStrategy[int] = READ_COUNT,
) -> list[RenderInputs]:
    """Successive reads of one container's CPU files, as the daemon would see them.

    Between reads every host counter grows (never shrinks); the container's usage grows,
    and now and then restarts near 0 (its cgroup was recreated); now and then the cpuset
    changes (so the visible CPUs, or their count, change). Options stay fixed, like a
    daemon's. ``history`` is left empty: the test threads each render's history into the
    next read."""
    base = draw(render_inputs(cpus=cpus))
    rng = draw(_SEEDED_RANDOM)
    online = sorted(base.host.online_cpus)
    rest = "".join(
        line for line in base.host.stat.splitlines(keepends=True) if not line.startswith("cpu")
    )
    huge = draw(st.booleans())
    top = 10**19 if huge else 10**6
    rows = {cpu: [rng.randint(0, top) for _ in range(10)] for cpu in online}
    version: CgroupVersion = draw(EITHER_VERSION)
    has_usage = draw(st.integers(0, 4)) != 0
    per_cpu = {cpu: [rng.randint(0, top * 10**7), rng.randint(0, top * 10**7)] for cpu in online}
    cpuset = base.view.cpuset
    sequence = []
    for _ in range(draw(reads)):
        step_top = draw(st.sampled_from((0, 100, 10**6)))
        for row in rows.values():
            for field in range(10):
                row[field] += rng.randint(0, step_top)
        reset = rng.random() < 0.2
        for pair in per_cpu.values():
            for index in (0, 1):
                pair[index] = (
                    rng.randint(0, 10**9)
                    if reset
                    else pair[index] + rng.randint(0, step_top * 10**7)
                )
        if rng.random() < 0.25:
            cpuset = draw(st.one_of(st.none(), cpuset_cgroups(online)))
        usage = None
        if has_usage:
            times = {cpu: CpuTime(user, system) for cpu, (user, system) in per_cpu.items()}
            total = CpuTime(
                sum(t.user_ns for t in times.values()), sum(t.system_ns for t in times.values())
            )
            usage = CpuUsage(
                version=version,
                path="/ct",
                total=total,
                per_cpu=times if version == "v1" else None,
            )
        host = HostSnapshot(
            meminfo=base.host.meminfo,
            cpuinfo=base.host.cpuinfo,
            stat=_kernel_stat_text(rows, rest),
            uptime=base.host.uptime,
            loadavg=base.host.loadavg,
            diskstats=base.host.diskstats,
            swaps=base.host.swaps,
            online=base.host.online,
            clk_tck=base.host.clk_tck,
        )
        view = CgroupView(cpuset=cpuset, cpu=base.view.cpu, cpu_usage=usage)
        sequence.append(RenderInputs(view=view, host=host, options=base.options))
    return sequence


# ======================================================================================
# Malformed inputs (reliability owner: tests/reliability, scripts/stress_malformed.py).
# ======================================================================================
#
# Bytes that a broken kernel, a racing writer or a hostile container could leave in a
# cgroup or procfs file, each made from the real file's bytes so it stays close to what
# a parser expects: the "max"/number swaps and truncations hit the branches a random blob
# never reaches. ``tree_faults`` pairs them with missing files and missing controllers.

#: Numbers a 64-bit parser must survive: 0, -1, the v1 "unlimited", both sides of
#: 2**63 and 2**64, 30 digits, and spellings ``int()`` would take or refuse.
HOSTILE_NUMBERS = (
    b"0",
    b"-1",
    b"-0",
    b"-9223372036854775808",
    b"9223372036854771712",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551615",
    b"18446744073709551616",
    b"9" * 30,
    b"-" + b"9" * 30,
    b"1e9",
    b"0x10",
    b"nan",
    b"inf",
    b"1_000",
    b"\xd9\xa3",  # ARABIC-INDIC DIGIT THREE: str.isdigit() says yes, the kernel never writes it
    b"+5",
)

#: What each malformation does, by name (the campaign counts inputs per kind).
MALFORMATIONS = (
    "empty",
    "garbage_bytes",
    "garbage_text",
    "max_for_number",
    "number_for_max",
    "negative",
    "thirty_digits",
    "hostile_number",
    "truncated",
    "duplicate_line",
    "missing_line",
    "non_utf8",
    "whitespace",
)

_NUMBER = re.compile(rb"-?\d+")
_UNLIMITED_WORD = re.compile(rb"\bmax\b|\bunlimited\b|-1\b")


def _replace_match(
    original: bytes, pattern: re.Pattern[bytes], index: int, new: bytes, every: bool
) -> bytes:
    matches = list(pattern.finditer(original))
    if not matches:
        return original + b" " + new
    if every:
        return pattern.sub(new, original)
    match = matches[index % len(matches)]
    return original[: match.start()] + new + original[match.end() :]


@st.composite
def malformed_bytes(draw: st.DrawFn, original: bytes) -> tuple[str, bytes]:
    """One malformation of ``original``: ``(kind, bytes)`` with kind in MALFORMATIONS."""
    kind = draw(_choice(MALFORMATIONS))
    position = draw(_ints(0, 1 << 16))
    every = draw(ONE_IN_SIX)
    lines = original.splitlines(keepends=True)
    if kind == "empty":
        return kind, b""
    if kind == "garbage_bytes":
        return kind, draw(st.binary(max_size=96))
    if kind == "garbage_text":
        return kind, draw(st.text(max_size=64)).encode("utf-8", "surrogatepass")
    if kind == "max_for_number":
        return kind, _replace_match(original, _NUMBER, position, b"max", every)
    if kind == "number_for_max":
        number = draw(_choice(HOSTILE_NUMBERS))
        return kind, _replace_match(original, _UNLIMITED_WORD, position, number, every)
    if kind == "negative":
        value = b"-" + str(draw(_ints(1, 1 << 70))).encode()
        return kind, _replace_match(original, _NUMBER, position, value, every)
    if kind == "thirty_digits":
        value = str(draw(_ints(10**29, 10**30 - 1))).encode()
        return kind, _replace_match(original, _NUMBER, position, value, every)
    if kind == "hostile_number":
        return kind, _replace_match(
            original, _NUMBER, position, draw(_choice(HOSTILE_NUMBERS)), every
        )
    if kind == "truncated":
        return kind, original[: position % (len(original) + 1)]
    if kind == "duplicate_line" and lines:
        line = lines[position % len(lines)]
        if not line.endswith(b"\n"):
            line += b"\n"
        at = draw(_ints(0, len(lines)))
        return kind, b"".join([*lines[:at], line, *lines[at:]])
    if kind == "missing_line" and lines:
        del lines[position % len(lines)]
        return kind, b"".join(lines)
    if kind == "non_utf8":
        junk = draw(st.binary(min_size=1, max_size=4).map(lambda b: bytes(x | 0x80 for x in b)))
        at = position % (len(original) + 1)
        return kind, original[:at] + junk + original[at:]
    # whitespace (and the line kinds on an empty original): tabs, CRs, no final newline
    mangled = original.replace(b" ", draw(_choice((b"\t", b"  ", b" \r", b"")))).rstrip(b"\n")
    return "whitespace", mangled


#: A fault applied to a fixture tree: ``("write", path, kind, bytes)``, ``("delete", path)``
#: (a missing file) or ``("remove_tree", directory)`` (a missing cgroup or controller).
TreeFault = tuple[str, ...] | tuple[str, str, str, bytes]


@st.composite
def tree_faults(
    draw: st.DrawFn,
    files: Mapping[str, bytes],
    directories: Sequence[str],
    max_faults: int = 4,
) -> list[TreeFault]:
    """1 to ``max_faults`` faults on a tree whose regular files are ``files`` (relative path
    -> original bytes) and whose removable directories are ``directories``. Most faults
    rewrite a file; about one in eight deletes a file, one in sixteen a directory."""
    names = tuple(sorted(files))
    faults: list[TreeFault] = []
    for _ in range(draw(_ints(1, max_faults))):
        roll = draw(_ints(0, 15))
        if roll == 0 and directories:
            faults.append(("remove_tree", draw(_choice(tuple(directories)))))
        elif roll <= 2:
            faults.append(("delete", draw(_choice(names))))
        else:
            name = draw(_choice(names))
            kind, content = draw(malformed_bytes(files[name]))
            faults.append(("write", name, kind, content))
    return faults


# ------------------------------------------------------------------- bent /proc/stat requests

_ODD_CLOCK_TICKS = st.sampled_from((100, 100, 250, 1000, 1, 3, 0, -100, 10**9 + 7))
_UP_TO_64_CPUS = st.integers(1, 64)


@st.composite
def hostile_stat_inputs(
    draw: st.DrawFn, cpus: st.SearchStrategy[int] = _UP_TO_64_CPUS
) -> RenderInputs:
    """A /proc/stat request, sometimes bent beyond what a reader produces: any CLK_TCK,
    negative usage, usage on CPUs the host does not have, CPUs missing from the usage."""
    inputs = draw(render_inputs(cpus=cpus))
    if draw(st.booleans()):
        inputs = attrs.evolve(
            inputs, host=attrs.evolve(inputs.host, clk_tck=draw(_ODD_CLOCK_TICKS))
        )
    usage = inputs.view.cpu_usage
    if usage is not None and draw(st.booleans()):
        odd = st.integers(-(10**12), 10**12)
        if usage.per_cpu is not None:
            per_cpu = dict(usage.per_cpu)
            for cpu in draw(st.lists(st.sampled_from(sorted(per_cpu)), max_size=3)):
                if draw(st.booleans()):
                    per_cpu.pop(cpu, None)
                else:
                    per_cpu[cpu] = CpuTime(draw(odd), draw(odd))
            for cpu in draw(st.lists(st.integers(0, 4096), max_size=2)):
                per_cpu[cpu] = CpuTime(draw(odd), draw(odd))
            usage = attrs.evolve(usage, per_cpu=per_cpu)
        else:
            usage = attrs.evolve(usage, total=CpuTime(draw(odd), draw(odd)))
        inputs = attrs.evolve(inputs, view=attrs.evolve(inputs.view, cpu_usage=usage))
    return inputs
