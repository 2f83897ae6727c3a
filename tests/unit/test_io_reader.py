"""SystemReader on the fixture trees: exact CgroupView and HostSnapshot values.

Expected values are the fixture files' contents (tests/fixtures/README.md) put through the
reader's documented rules: limits per level innermost first (v1 up to and including the root,
v2 without it), "unlimited" -> None, usage_all ns per CPU, io.stat/blkio per device.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcfs_model.io import SystemReader
from lxcfs_model.values import (
    CpuCgroup,
    CpusetCgroup,
    CpuTime,
    CpuUsage,
    InitProcess,
    IoCgroup,
    IoDeviceStats,
    LimitLevel,
    PressureCgroup,
    QuotaLevel,
    SwapAccounting,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def reader(tree: str) -> SystemReader:
    return SystemReader(str(FIXTURES / tree))


# ----------------------------------------------------------------------------- v1-nested


def test_v1_layout_is_hybrid() -> None:
    """Separate v1 cpu/cpuacct dirs, systemd as name=systemd, unified as the v2 part."""
    layout = reader("v1-nested").layout
    assert layout.kind == "hybrid"
    memory = layout.hierarchy_for("memory")
    assert memory is not None and memory.version == "v1"
    assert memory.directory == "sys/fs/cgroup/memory"
    assert layout.hierarchy_for("cpu") != layout.hierarchy_for("cpuacct")
    systemd = layout.hierarchy_for("name=systemd")
    assert systemd is not None and systemd.directory == "sys/fs/cgroup/systemd"
    hugetlb = layout.hierarchy_for("hugetlb")
    assert hugetlb is not None and hugetlb.version == "v2"
    assert layout.unified == hugetlb


def test_v1_memory_limit_on_parent_only() -> None:
    """The limit chain shows the parent's 512 MiB between two unlimited levels."""
    memory = reader("v1-nested").view_for_cgroup("/lxc/c1").memory
    assert memory is not None
    assert memory.version == "v1"
    assert memory.path == "/lxc/c1"
    assert memory.usage == 73400320
    assert memory.limits == (
        LimitLevel("/lxc/c1", None),
        LimitLevel("/lxc", 536870912),
        LimitLevel("/", None),
    )
    assert memory.swappiness == 10
    assert memory.zswap_accounting is False


def test_v1_memsw() -> None:
    """memsw limits per level and memsw usage (memory + swap) are read when present."""
    memory = reader("v1-nested").view_for_cgroup("/lxc/c1").memory
    assert memory is not None
    assert memory.swap == SwapAccounting(
        limits=(
            LimitLevel("/lxc/c1", None),
            LimitLevel("/lxc", 805306368),
            LimitLevel("/", None),
        ),
        usage=78643200,
    )


def test_v1_memory_stat_verbatim_keys() -> None:
    """memory.stat keeps both the local and the total_ keys, and prefix keys apart."""
    memory = reader("v1-nested").view_for_cgroup("/lxc/c1").memory
    assert memory is not None
    assert len(memory.stat) == 42
    assert memory.stat["total_cache"] == 41943040
    assert memory.stat["total_rss"] == 25165824
    assert memory.stat["total_rss_huge"] == 2097152
    assert memory.stat["total_active_file"] == 16777216
    assert memory.stat["hierarchical_memory_limit"] == 536870912
    assert memory.stat["cache"] == 41943040


def test_v1_kmem_slabinfo_text() -> None:
    """memory.kmem.slabinfo is kept verbatim (the hierarchy root has one)."""
    memory = reader("v1-nested").view_for_cgroup("/lxc/c1").memory
    text = (FIXTURES / "v1-nested/sys/fs/cgroup/memory/lxc/c1/memory.kmem.slabinfo").read_text()
    assert memory is not None and memory.kmem_slabinfo == text
    assert text.startswith("slabinfo - version: 2.1\n")


def test_v1_cpu_values() -> None:
    """cpuset from effective_cpus; quotas per level, root excluded; usage_all per CPU."""
    view = reader("v1-nested").view_for_cgroup("/lxc/c1")
    assert view.cpuset == CpusetCgroup(path="/lxc/c1", cpus=frozenset({1}))
    assert view.cpu == CpuCgroup(
        version="v1",
        path="/lxc/c1",
        quotas=(QuotaLevel("/lxc/c1", 50000, 100000), QuotaLevel("/lxc", 150000, 100000)),
    )
    assert view.cpu_usage == CpuUsage(
        version="v1",
        path="/lxc/c1",
        total=CpuTime(user_ns=3140000000, system_ns=10000000),
        per_cpu={0: CpuTime(0, 0), 1: CpuTime(3140000000, 10000000)},
    )


def test_v1_io_from_throttle_files() -> None:
    """No CFQ files: the throttle files give ios and bytes per device."""
    view = reader("v1-nested").view_for_cgroup("/lxc/c1")
    assert view.io == IoCgroup(
        version="v1",
        path="/lxc/c1",
        source="blkio.throttle",
        devices=(
            IoDeviceStats(
                major=254,
                minor=0,
                read_ios=120,
                read_bytes=4915200,
                write_ios=30,
                write_bytes=1228800,
            ),
        ),
    )


def test_v1_no_pressure_and_no_problems() -> None:
    """A hybrid has no per-container PSI (v1 controllers); a clean tree has no problems."""
    view = reader("v1-nested").view_for_cgroup("/lxc/c1")
    assert view.pressure is None
    assert view.problems == ()


def test_v1_cgroup_init_is_oldest_process() -> None:
    """view_for_cgroup's init is the longest-running process of the cgroup (4242), its
    busy time the cgroup's cpuacct.usage."""
    view = reader("v1-nested").view_for_cgroup("/lxc/c1")
    assert view.init == InitProcess(pid=4242, start_ticks=250000, cpu_busy_ns=3150000000)


def test_v1_root_cgroup() -> None:
    """At the root: one unlimited level, no quota levels, host pid 1 as init."""
    view = reader("v1-nested").view_for_cgroup("/")
    assert view.memory is not None
    assert view.memory.limits == (LimitLevel("/", None),)
    assert view.cpu is not None and view.cpu.quotas == ()
    assert view.cpuset is not None and view.cpuset.cpus == frozenset({0, 1})
    assert view.init == InitProcess(pid=1, start_ticks=3, cpu_busy_ns=349540000000)


def test_v1_host_snapshot_and_clock() -> None:
    """Host texts are the tree's files verbatim; clock from proc/uptime; clk_tck 100."""
    tree = reader("v1-nested")
    host = tree.host_snapshot()
    root = FIXTURES / "v1-nested"
    assert host.meminfo == (root / "proc/meminfo").read_text()
    assert host.swaps == (root / "proc/swaps").read_text()
    assert host.online == "0-1\n"
    assert host.pressure_cpu == (root / "proc/pressure/cpu").read_text()
    assert host.slabinfo == (root / "proc/slabinfo").read_text()
    assert host.clk_tck == 100
    assert tree.clock().boottime == 5000.25


# ----------------------------------------------------------------------------- v2-nested


def test_v2_memory() -> None:
    """memory.max on the parent only, root level absent; swap.max chain and swap.current;
    zswap accounting detected."""
    memory = reader("v2-nested").view_for_cgroup("/lxc/c2").memory
    assert memory is not None
    assert memory.version == "v2"
    assert memory.usage == 201326592
    assert memory.limits == (LimitLevel("/lxc/c2", None), LimitLevel("/lxc", 536870912))
    assert memory.swap == SwapAccounting(
        limits=(LimitLevel("/lxc/c2", 268435456), LimitLevel("/lxc", 314572800)),
        usage=10485760,
    )
    assert memory.swappiness is None
    assert memory.zswap_accounting is True
    assert memory.kmem_slabinfo is None
    assert memory.stat["file"] == 83886080
    assert memory.stat["file_mapped"] == 16777216
    assert memory.stat["slab"] == 8912896
    assert memory.stat["zswapped"] == 4194304


def test_v2_cpu_values() -> None:
    """cpuset.cpus.effective, cpu.max per non-root level, cpu.stat usec -> ns."""
    view = reader("v2-nested").view_for_cgroup("/lxc/c2")
    assert view.cpuset == CpusetCgroup(path="/lxc/c2", cpus=frozenset({1, 2}))
    assert view.cpu == CpuCgroup(
        version="v2",
        path="/lxc/c2",
        quotas=(QuotaLevel("/lxc/c2", 150000, 100000), QuotaLevel("/lxc", None, 100000)),
    )
    assert view.cpu_usage == CpuUsage(
        version="v2",
        path="/lxc/c2",
        total=CpuTime(user_ns=6_000_000_000, system_ns=2_000_000_000),
        per_cpu=None,
    )


def test_v2_io_and_pressure() -> None:
    """io.stat per device; the three PSI texts of the container's cgroup verbatim."""
    view = reader("v2-nested").view_for_cgroup("/lxc/c2")
    assert view.io == IoCgroup(
        version="v2",
        path="/lxc/c2",
        source="io.stat",
        devices=(
            IoDeviceStats(
                major=254,
                minor=0,
                read_ios=192,
                read_bytes=1459200,
                write_ios=353,
                write_bytes=314773504,
                discard_ios=1,
                discard_bytes=4096,
            ),
        ),
    )
    assert view.pressure == PressureCgroup(
        cpu="some avg10=1.50 avg60=0.80 avg300=0.20 total=1234567\n"
        "full avg10=0.50 avg60=0.30 avg300=0.10 total=456789\n",
        io="some avg10=0.25 avg60=0.10 avg300=0.05 total=222222\n"
        "full avg10=0.20 avg60=0.08 avg300=0.04 total=111111\n",
        memory="some avg10=0.00 avg60=0.00 avg300=0.00 total=3000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=2000\n",
        path="/lxc/c2",
    )
    assert view.problems == ()


def test_v2_cgroup_init_found_in_init_scope() -> None:
    """A systemd container's init lives in <ct>/init.scope: it is still the cgroup's init."""
    view = reader("v2-nested").view_for_cgroup("/lxc/c2")
    assert view.init == InitProcess(pid=5101, start_ticks=8640000, cpu_busy_ns=8_000_000_000)


def test_v2_cpuset_walks_up_when_empty() -> None:
    """/lxc has an empty cpuset.cpus but an effective set: that is its cpuset."""
    view = reader("v2-nested").view_for_cgroup("/lxc")
    assert view.cpuset == CpusetCgroup(path="/lxc", cpus=frozenset({0, 1, 2, 3}))


def test_v2_host_snapshot() -> None:
    """Four online CPUs and the swap file line as the kernel prints /proc/swaps."""
    host = reader("v2-nested").host_snapshot()
    assert host.online_cpus == frozenset({0, 1, 2, 3})
    assert host.swaps == (
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        "/swapfile" + " " * 31 + "file\t\t2097148\t\t97148\t\t-2\n"
    )
    assert host.meminfo_kb["SwapTotal"] == 2097148


# --------------------------------------------------------------------- v2-root-unlimited


def test_v2_root_memory_from_stat() -> None:
    """The root has no memory.current: usage = anon + file + kernel of its memory.stat, one
    unlimited root level, and problems say so."""
    view = reader("v2-root-unlimited").view_for_cgroup("/")
    assert view.memory is not None
    assert view.memory.usage == 314572800 + 524288000 + 77594624
    assert view.memory.limits == (LimitLevel("/", None),)
    assert any("memory.current: absent at the cgroup2 root" in p for p in view.problems)


def test_v2_root_swap_detected_below_root() -> None:
    """Swap accounting is found in a first-level child (spec 8.6); root usage counts 0."""
    view = reader("v2-root-unlimited").view_for_cgroup("/")
    assert view.memory is not None
    assert view.memory.swap == SwapAccounting(limits=(LimitLevel("/", None),), usage=0)
    assert view.memory.zswap_accounting is True


def test_v2_root_cpu_and_init() -> None:
    """At the root: no quota levels, usage from the root cpu.stat, init is host pid 1."""
    view = reader("v2-root-unlimited").view_for_cgroup("/")
    assert view.cpu == CpuCgroup(version="v2", path="/", quotas=())
    assert view.cpu_usage is not None
    assert view.cpu_usage.total == CpuTime(2_112_600_000_000, 1_382_800_000_000)
    assert view.init == InitProcess(pid=1, start_ticks=2, cpu_busy_ns=3_495_400_000_000)


def test_v2_root_no_swap_on_host() -> None:
    """The host has no swap: /proc/swaps is the header only."""
    host = reader("v2-root-unlimited").host_snapshot()
    assert host.swaps == "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"


@pytest.mark.parametrize("tree", ["v1-nested", "v2-nested", "v2-root-unlimited"])
def test_views_by_pid_and_by_cgroup_agree(tree: str) -> None:
    """Reading a container by its init's pid gives the same controllers as by its path."""
    paths = {"v1-nested": (4242, "/lxc/c1"), "v2-nested": (5101, "/lxc/c2")}
    pid, path = paths.get(tree, (1, "/"))
    tree_reader = reader(tree)
    by_pid = tree_reader.view_for_pid(pid)
    by_path = tree_reader.view_for_cgroup(path)
    assert by_pid.memory == by_path.memory
    assert by_pid.cpu == by_path.cpu
    assert by_pid.cpuset == by_path.cpuset
    assert by_pid.io == by_path.io
    assert by_pid.init == by_path.init


def test_paths_stay_below_the_root() -> None:
    """Every part of a path is taken as relative: a leading slash does not leave the root
    (os.path.join would), empty parts are skipped, and no part names the root twice."""
    reader = SystemReader(str(FIXTURES / "v1-nested"))
    root = str(FIXTURES / "v1-nested")
    assert reader.path("proc", "meminfo") == root + "/proc/meminfo"
    assert reader.path("sys/fs/cgroup/memory", "/lxc/c1", "memory.stat") == (
        root + "/sys/fs/cgroup/memory/lxc/c1/memory.stat"
    )
    assert reader.path("sys/fs/cgroup/memory", "", "memory.stat") == (
        root + "/sys/fs/cgroup/memory/memory.stat"
    )
    assert reader.path("/etc/passwd") == root + "/etc/passwd"
    assert reader.path() == reader.path("", "/") == root
