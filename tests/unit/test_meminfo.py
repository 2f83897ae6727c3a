"""/proc/meminfo: exact contents for representative containers, each number worked by hand.

Every expected line below is written out literally in the kernel's format (label padded to
16 columns, ``%8lu kB``); the comment beside a number shows the formula it comes from.
"""

from __future__ import annotations

import string

import pytest

from lxcfs_model.host_memory import COMPUTED_LABELS
from lxcfs_model.render import meminfo
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import (
    CgroupView,
    HostSnapshot,
    LimitLevel,
    MemoryCgroup,
    RenderOptions,
    SwapAccounting,
)

MIB = 1024 * 1024
GIB = 1024 * MIB

# A 6.x host (this machine's layout) with 1 GiB of swap, 800 MiB of it free.
HOST_MEMINFO = (
    "MemTotal:       24684096 kB\n"
    "MemFree:        24380768 kB\n"
    "MemAvailable:   24364872 kB\n"
    "Buffers:            2400 kB\n"
    "Cached:           154192 kB\n"
    "SwapCached:            0 kB\n"
    "Active:           102528 kB\n"
    "Inactive:          49524 kB\n"
    "Active(anon):       1512 kB\n"
    "Inactive(anon):     2736 kB\n"
    "Active(file):     101016 kB\n"
    "Inactive(file):    46788 kB\n"
    "Unevictable:       11336 kB\n"
    "Mlocked:           10404 kB\n"
    "SwapTotal:       1048576 kB\n"
    "SwapFree:         819200 kB\n"
    "Zswap:                 0 kB\n"
    "Zswapped:              0 kB\n"
    "Dirty:               412 kB\n"
    "Writeback:             0 kB\n"
    "AnonPages:          6816 kB\n"
    "Mapped:            10476 kB\n"
    "Shmem:              8788 kB\n"
    "KReclaimable:      64416 kB\n"
    "Slab:              86400 kB\n"
    "SReclaimable:      64416 kB\n"
    "SUnreclaim:        21984 kB\n"
    "KernelStack:        1332 kB\n"
    "PageTables:         1100 kB\n"
    "SecPageTables:         0 kB\n"
    "NFS_Unstable:          0 kB\n"
    "Bounce:                0 kB\n"
    "WritebackTmp:          0 kB\n"
    "CommitLimit:    12342048 kB\n"
    "Committed_AS:      51892 kB\n"
    "VmallocTotal:   34359738367 kB\n"
    "VmallocUsed:       14092 kB\n"
    "VmallocChunk:          0 kB\n"
    "Percpu:              688 kB\n"
    "AnonHugePages:         0 kB\n"
    "ShmemHugePages:        0 kB\n"
    "ShmemPmdMapped:        0 kB\n"
    "FileHugePages:         0 kB\n"
    "FilePmdMapped:         0 kB\n"
    "HugePages_Total:       0\n"
    "HugePages_Free:        0\n"
    "HugePages_Rsvd:        0\n"
    "HugePages_Surp:        0\n"
    "Hugepagesize:       2048 kB\n"
    "Hugetlb:               0 kB\n"
    "DirectMap4k:       30720 kB\n"
    "DirectMap2M:     2066432 kB\n"
    "DirectMap1G:    25165824 kB\n"
)

# The host lines every container render passes through unchanged, in the host's order.
PASSTHROUGH_AFTER_UNEVICTABLE = "Mlocked:           10404 kB\n"
PASSTHROUGH_AFTER_SHMEM = "KReclaimable:      64416 kB\n"
PASSTHROUGH_AFTER_SUNRECLAIM = (
    "KernelStack:        1332 kB\n"
    "PageTables:         1100 kB\n"
    "SecPageTables:         0 kB\n"
    "NFS_Unstable:          0 kB\n"
    "Bounce:                0 kB\n"
    "WritebackTmp:          0 kB\n"
    "CommitLimit:    12342048 kB\n"
    "Committed_AS:      51892 kB\n"
    "VmallocTotal:   34359738367 kB\n"
    "VmallocUsed:       14092 kB\n"
    "VmallocChunk:          0 kB\n"
    "Percpu:              688 kB\n"
)
PASSTHROUGH_AFTER_SHMEMPMDMAPPED = (
    "FileHugePages:         0 kB\n"
    "FilePmdMapped:         0 kB\n"
    "HugePages_Total:       0\n"
    "HugePages_Free:        0\n"
    "HugePages_Rsvd:        0\n"
    "HugePages_Surp:        0\n"
    "Hugepagesize:       2048 kB\n"
    "Hugetlb:               0 kB\n"
    "DirectMap4k:       30720 kB\n"
    "DirectMap2M:     2066432 kB\n"
    "DirectMap1G:    25165824 kB\n"
)


def host(meminfo_text: str = HOST_MEMINFO) -> HostSnapshot:
    return HostSnapshot(
        meminfo=meminfo_text,
        cpuinfo="",
        stat="",
        uptime="",
        loadavg="",
        diskstats="",
        swaps="Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
        online="0-1\n",
    )


def render(memory: MemoryCgroup | None, options: RenderOptions | None = None, **kw: str) -> str:
    inputs = RenderInputs(
        view=CgroupView(memory=memory), host=host(**kw), options=options or RenderOptions()
    )
    return meminfo.render(inputs).text


def values(text: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()}


# v1 memory.stat: local keys differ from the hierarchical total_* ones on purpose (a child
# cgroup holds memory too), and total_rss_huge sits after total_rss (upstream's prefix trap).
V1_STAT = {
    "cache": 1 * MIB,
    "rss": 2 * MIB,
    "rss_huge": 0,
    "shmem": 0,
    "mapped_file": 0,
    "dirty": 0,
    "writeback": 0,
    "active_anon": 1 * MIB,
    "inactive_anon": 1 * MIB,
    "active_file": 1 * MIB,
    "inactive_file": 0,
    "unevictable": 0,
    "total_cache": 50 * MIB,
    "total_rss": 44 * MIB,
    "total_rss_huge": 2 * MIB,
    "total_shmem": 4 * MIB,
    "total_mapped_file": 6 * MIB,
    "total_dirty": 1 * MIB,
    "total_writeback": 512 * 1024,
    "total_inactive_anon": 8 * MIB,
    "total_active_anon": 40 * MIB,
    "total_inactive_file": 20 * MIB,
    "total_active_file": 30 * MIB,
    "total_unevictable": 3 * MIB,
}


def v1_parent_limited(
    swap: SwapAccounting | None = None, swappiness: int = 60, usage: int = 100 * MIB
) -> MemoryCgroup:
    """/lxc/c1 with no limit of its own; its parent /lxc is limited to 256 MiB."""
    return MemoryCgroup(
        version="v1",
        path="/lxc/c1",
        usage=usage,
        limits=(
            LimitLevel("/lxc/c1", None),
            LimitLevel("/lxc", 256 * MIB),
            LimitLevel("/", None),
        ),
        stat=V1_STAT,
        swap=swap,
        swappiness=swappiness,
    )


def test_v1_limit_on_the_parent_only() -> None:
    """A v1 container whose parent alone is limited sees the parent's limit and its own
    hierarchical (total_*) memory.stat figures; the host lines in between stay verbatim."""
    expected = "".join(
        [
            "MemTotal:         262144 kB\n",  # min(256 MiB of /lxc, host) = 262144 kB
            "MemFree:          159744 kB\n",  # 262144 - 100 MiB usage (102400)
            "MemAvailable:     210944 kB\n",  # 159744 + (30 + 20 MiB file LRU) 51200
            "Buffers:               0 kB\n",
            "Cached:            51200 kB\n",  # total_cache 50 MiB
            "SwapCached:            0 kB\n",
            "Active:            71680 kB\n",  # total_active_anon 40 + total_active_file 30 MiB
            "Inactive:          28672 kB\n",  # total_inactive_anon 8 + total_inactive_file 20
            "Active(anon):      40960 kB\n",
            "Inactive(anon):     8192 kB\n",
            "Active(file):      30720 kB\n",
            "Inactive(file):    20480 kB\n",
            "Unevictable:        3072 kB\n",
            PASSTHROUGH_AFTER_UNEVICTABLE,
            "SwapTotal:             0 kB\n",  # no swap accounting
            "SwapFree:              0 kB\n",
            "Zswap:                 0 kB\n",  # v1 has no zswap accounting
            "Zswapped:              0 kB\n",
            "Dirty:              1024 kB\n",  # total_dirty 1 MiB
            "Writeback:           512 kB\n",  # total_writeback 512 KiB
            "AnonPages:         45056 kB\n",  # 40 + 8 - 4 (total_shmem) = 44 MiB
            "Mapped:             6144 kB\n",  # total_mapped_file 6 MiB
            "Shmem:              4096 kB\n",
            PASSTHROUGH_AFTER_SHMEM,
            "Slab:                  0 kB\n",  # v1 memory.stat has no slab keys
            "SReclaimable:          0 kB\n",
            "SUnreclaim:            0 kB\n",
            PASSTHROUGH_AFTER_SUNRECLAIM,
            "AnonHugePages:      2048 kB\n",  # total_rss_huge 2 MiB, not captured by total_rss
            "ShmemHugePages:        0 kB\n",
            "ShmemPmdMapped:        0 kB\n",
            PASSTHROUGH_AFTER_SHMEMPMDMAPPED,
        ]
    )
    assert render(v1_parent_limited()) == expected


V2_STAT = {
    "anon": 48 * MIB,
    "file": 64 * MIB,
    "kernel": 8 * MIB,
    "shmem": 2 * MIB,
    "zswap": 3 * MIB,
    "zswapped": 9 * MIB,
    "file_mapped": 5 * MIB,
    "file_dirty": 256 * 1024,
    "file_writeback": 128 * 1024,
    "anon_thp": 4 * MIB,
    "file_thp": 0,
    "shmem_thp": 2 * MIB,
    "inactive_anon": 16 * MIB,
    "active_anon": 32 * MIB,
    "inactive_file": 24 * MIB,
    "active_file": 40 * MIB,
    "unevictable": 1 * MIB,
    "slab_reclaimable": 6 * MIB,
    "slab_unreclaimable": 2 * MIB,
    "slab": 8 * MIB,
}


def v2_nested(
    swap_usage: int = 10 * MIB, zswap: bool = True, usage: int = 120 * MIB
) -> MemoryCgroup:
    """Upstream's test_meminfo_hierarchy tree: /a 500 MiB (swap 256 MiB), /a/b 600 MiB (swap
    300 MiB), /a/b/c unlimited; the v2 root carries no memory.max."""
    return MemoryCgroup(
        version="v2",
        path="/a/b/c",
        usage=usage,
        limits=(
            LimitLevel("/a/b/c", None),
            LimitLevel("/a/b", 600 * MIB),
            LimitLevel("/a", 500 * MIB),
        ),
        stat=V2_STAT,
        swap=SwapAccounting(
            limits=(
                LimitLevel("/a/b/c", None),
                LimitLevel("/a/b", 300 * MIB),
                LimitLevel("/a", 256 * MIB),
            ),
            usage=swap_usage,
        ),
        zswap_accounting=zswap,
    )


def test_v2_nested_limits_and_swap() -> None:
    """A v2 container takes the smallest memory.max and memory.swap.max on its way up (upstream
    expects MemTotal 512000 and SwapTotal 262144 here) and reads exact v2 keys: Mapped from
    file_mapped, Dirty/Writeback from file_dirty/file_writeback, slab and zswap lines."""
    expected = "".join(
        [
            "MemTotal:         512000 kB\n",  # 500 MiB of /a
            "MemFree:          389120 kB\n",  # 512000 - 120 MiB (122880)
            "MemAvailable:     460800 kB\n",  # 389120 + (40 + 24 + 6 MiB) 71680
            "Buffers:               0 kB\n",
            "Cached:            65536 kB\n",  # file 64 MiB
            "SwapCached:            0 kB\n",
            "Active:            73728 kB\n",  # 32 + 40 MiB
            "Inactive:          40960 kB\n",  # 16 + 24 MiB
            "Active(anon):      32768 kB\n",
            "Inactive(anon):    16384 kB\n",
            "Active(file):      40960 kB\n",
            "Inactive(file):    24576 kB\n",
            "Unevictable:        1024 kB\n",
            PASSTHROUGH_AFTER_UNEVICTABLE,
            "SwapTotal:        262144 kB\n",  # swap.max 256 MiB of /a, under host 1 GiB
            "SwapFree:         251904 kB\n",  # 262144 - 10 MiB swap.current (10240)
            "Zswap:              3072 kB\n",
            "Zswapped:           9216 kB\n",
            "Dirty:               256 kB\n",
            "Writeback:           128 kB\n",
            "AnonPages:         47104 kB\n",  # 32 + 16 - 2 (shmem) = 46 MiB
            "Mapped:             5120 kB\n",  # file_mapped 5 MiB (upstream's prefix match: 0)
            "Shmem:              2048 kB\n",  # shmem 2 MiB
            PASSTHROUGH_AFTER_SHMEM,
            "Slab:               8192 kB\n",
            "SReclaimable:       6144 kB\n",
            "SUnreclaim:         2048 kB\n",
            PASSTHROUGH_AFTER_SUNRECLAIM,
            "AnonHugePages:      4096 kB\n",  # anon_thp 4 MiB
            "ShmemHugePages:     2048 kB\n",  # shmem_thp 2 MiB
            "ShmemPmdMapped:        0 kB\n",
            PASSTHROUGH_AFTER_SHMEMPMDMAPPED,
        ]
    )
    assert render(v2_nested()) == expected


def test_no_limit_shows_the_host_total() -> None:
    """Without a limit anywhere MemTotal is the host's and MemFree is host total - usage."""
    memory = MemoryCgroup(
        version="v2", path="/free", usage=1 * GIB, limits=(LimitLevel("/free", None),)
    )
    shown = values(render(memory))
    assert shown["MemTotal"] == 24684096
    assert shown["MemFree"] == 24684096 - 1048576
    assert shown["MemAvailable"] == 24684096 - 1048576  # empty memory.stat: no file LRU
    assert shown["SwapTotal"] == 0  # no swap accounting
    assert shown["SwapFree"] == 0


def test_limit_above_host_ram_is_capped() -> None:
    """A limit above the host's RAM shows the host's MemTotal, never more."""
    memory = MemoryCgroup(
        version="v2", path="/big", usage=0, limits=(LimitLevel("/big", 100 * GIB),)
    )
    assert values(render(memory))["MemTotal"] == 24684096


def test_zero_limit_shows_the_host_total_like_upstream() -> None:
    """A limit of 0 (it rounds to 0 kB) shows the host's MemTotal as upstream does, so
    MemTotal is never 0."""
    memory = MemoryCgroup(
        version="v2",
        path="/a/zero",
        usage=0,
        limits=(LimitLevel("/a/zero", None), LimitLevel("/a", 0)),
    )
    assert values(render(memory))["MemTotal"] == 24684096


def test_usage_above_limit_clamps_free_at_zero() -> None:
    """Usage above the limit gives MemFree 0 (upstream's unsigned subtraction wraps) and
    MemAvailable at most MemTotal."""
    memory = MemoryCgroup(
        version="v1",
        path="/over",
        usage=80 * MIB,
        limits=(LimitLevel("/over", 64 * MIB), LimitLevel("/", None)),
        stat={"total_active_file": 200 * MIB, "total_inactive_file": 0},
    )
    shown = values(render(memory))
    assert shown["MemTotal"] == 65536
    assert shown["MemFree"] == 0
    assert shown["MemAvailable"] == 65536  # 0 + 204800 capped at MemTotal


def test_v1_swap_is_memsw_minus_memory() -> None:
    """v1 swap is memsw limit - memory limit (512 - 256 MiB) and used swap is memsw usage -
    memory usage (300 - 100 MiB), both under the host's 1 GiB of swap."""
    swap = SwapAccounting(
        limits=(
            LimitLevel("/lxc/c1", None),
            LimitLevel("/lxc", 512 * MIB),
            LimitLevel("/", None),
        ),
        usage=300 * MIB,
    )
    shown = values(render(v1_parent_limited(swap=swap)))
    assert shown["SwapTotal"] == 262144  # (512 - 256) MiB
    assert shown["SwapFree"] == 262144 - 204800  # 200 MiB swapped


def test_v1_unlimited_memsw_shows_the_host_swap() -> None:
    """v1 with no memsw limit anywhere may use all the host's swap: SwapTotal is the host's."""
    swap = SwapAccounting(
        limits=(LimitLevel("/lxc/c1", None), LimitLevel("/lxc", None), LimitLevel("/", None)),
        usage=100 * MIB,  # memsw usage == memory usage: nothing swapped
    )
    shown = values(render(v1_parent_limited(swap=swap)))
    assert shown["SwapTotal"] == 1048576
    assert shown["SwapFree"] == 1048576


def test_swappiness_zero_shows_only_the_swap_in_use() -> None:
    """With memory.swappiness 0 the container "cannot swap": SwapTotal is the swap in use
    (memsw 105 MiB - memory 100 MiB = 5120 kB) and SwapFree 0."""
    swap = SwapAccounting(
        limits=(
            LimitLevel("/lxc/c1", None),
            LimitLevel("/lxc", 512 * MIB),
            LimitLevel("/", None),
        ),
        usage=105 * MIB,
    )
    shown = values(render(v1_parent_limited(swap=swap, swappiness=0)))
    assert shown["SwapTotal"] == 5120
    assert shown["SwapFree"] == 0


def test_swap_capped_by_host_swap() -> None:
    """A swap.max above the host's swap shows the host's SwapTotal (1 GiB)."""
    memory = MemoryCgroup(
        version="v2",
        path="/s",
        usage=0,
        limits=(LimitLevel("/s", None),),
        swap=SwapAccounting(limits=(LimitLevel("/s", 4 * GIB),), usage=0),
    )
    shown = values(render(memory))
    assert (shown["SwapTotal"], shown["SwapFree"]) == (1048576, 1048576)


def test_swap_zero_limit_is_a_real_limit() -> None:
    """memory.swap.max = 0 means no swap (spec 8.5), not "unlimited"; usage above the limit
    never makes SwapFree negative."""
    memory = MemoryCgroup(
        version="v2",
        path="/s",
        usage=0,
        limits=(LimitLevel("/s", None),),
        swap=SwapAccounting(limits=(LimitLevel("/s", 0),), usage=5 * MIB),
    )
    shown = values(render(memory))
    assert (shown["SwapTotal"], shown["SwapFree"]) == (0, 0)


def test_disable_swap_and_zswap_options() -> None:
    """--disable-swap zeroes SwapTotal/SwapFree; --disable-zswap zeroes Zswap/Zswapped."""
    shown = values(render(v2_nested(), RenderOptions(disable_swap=True, disable_zswap=True)))
    assert (shown["SwapTotal"], shown["SwapFree"]) == (0, 0)
    assert (shown["Zswap"], shown["Zswapped"]) == (0, 0)
    assert shown["MemTotal"] == 512000  # nothing else changes


def test_no_zswap_accounting_shows_zero_zswap() -> None:
    """Without zswap accounting in the cgroup, Zswap and Zswapped are 0, not the host's."""
    shown = values(render(v2_nested(zswap=False)))
    assert (shown["Zswap"], shown["Zswapped"]) == (0, 0)


def test_missing_memory_cgroup_serves_the_host_file() -> None:
    """No memory cgroup: the host's file byte for byte, with the reason recorded."""
    inputs = RenderInputs(view=CgroupView(memory=None), host=host())
    rendered = meminfo.render(inputs)
    assert rendered.text == HOST_MEMINFO
    assert rendered.fallback == "no memory cgroup for this container"


def test_host_without_memtotal_serves_the_host_file() -> None:
    """A host meminfo without MemTotal cannot cap the limit: the host's text, unchanged."""
    text = "MemFree:          100 kB\nSwapTotal:          0 kB\n"
    inputs = RenderInputs(view=CgroupView(memory=v2_nested()), host=host(text))
    rendered = meminfo.render(inputs)
    assert rendered.text == text
    assert rendered.fallback is not None


def test_host_without_zswap_lines_gets_none_added() -> None:
    """Computed lines the host does not print (no CONFIG_ZSWAP) are not invented."""
    text = HOST_MEMINFO.replace("Zswap:                 0 kB\n", "").replace(
        "Zswapped:              0 kB\n", ""
    )
    shown = render(v2_nested(), meminfo_text=text)
    assert "Zswap" not in shown
    assert len(shown.splitlines()) == len(text.splitlines())


def test_wide_numbers_widen_the_line_like_the_kernel() -> None:
    """Values wider than 8 digits widen the column (``%8lu``), as the kernel's own lines do."""
    text = "MemTotal:       123456789012 kB\n"
    memory = MemoryCgroup(version="v2", path="/w", usage=0, limits=(LimitLevel("/w", None),))
    assert render(memory, meminfo_text=text) == "MemTotal:       123456789012 kB\n"


def test_percent_signs_in_host_lines_pass_through() -> None:
    """A host line containing ``%`` passes through unchanged (the template escapes it)."""
    text = "MemTotal:       1000 kB\nOdd%Line:  5 %d kB\n"
    memory = MemoryCgroup(version="v2", path="/p", usage=0, limits=(LimitLevel("/p", None),))
    assert render(memory, meminfo_text=text) == "MemTotal:           1000 kB\nOdd%Line:  5 %d kB\n"


def _placeholders(formula: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(formula) if name}


@pytest.mark.parametrize("memory", [v1_parent_limited(), v2_nested()], ids=["v1", "v2"])
def test_provenance_names_only_reported_quantities(memory: MemoryCgroup) -> None:
    """Every {placeholder} of the meminfo provenance table is a quantity the render reports,
    and the table has one rule per computed line."""
    rendered = meminfo.render(RenderInputs(view=CgroupView(memory=memory), host=host()))
    for rule in meminfo.PROVENANCE.rules:
        assert _placeholders(rule.formula) <= set(rendered.quantities), rule.label
    assert tuple(rule.label for rule in meminfo.PROVENANCE.rules) == COMPUTED_LABELS


def test_provenance_explains_memtotal_with_the_binding_level() -> None:
    """The MemTotal explanation names the limit file, the level that set it and the numbers."""
    rendered = meminfo.render(
        RenderInputs(view=CgroupView(memory=v1_parent_limited()), host=host())
    )
    rule = meminfo.PROVENANCE.rule_for("MemTotal")
    assert rule is not None
    assert rule.describe(rendered.quantities) == (
        "memory.limit_in_bytes minimum over /lxc/c1 and its ancestors: 268435456 bytes set on "
        "/lxc = 262144 kB; capped by host MemTotal 24684096 kB (no limit, or one under 1 kB, "
        "shows the host's) = 262144 kB"
    )


def test_negative_stat_values_read_as_zero() -> None:
    """A nonsense negative memory.stat amount reads as 0, so no line turns negative."""
    memory = MemoryCgroup(
        version="v2",
        path="/n",
        usage=0,
        limits=(LimitLevel("/n", 64 * MIB),),
        stat={"file": -4096, "active_file": -(10 * MIB), "active_anon": 2 * MIB, "shmem": 3 * MIB},
    )
    shown = values(render(memory))
    assert (shown["Cached"], shown["Active(file)"]) == (0, 0)
    assert shown["Active"] == 2048  # active_anon 2 MiB + active_file (0)
    assert shown["AnonPages"] == 0  # 2 MiB anon - 3 MiB shmem clamps at 0
    assert shown["MemAvailable"] == 65536  # free 65536 + 0 file LRU


def test_non_ascii_digits_in_host_meminfo_fall_back_instead_of_raising() -> None:
    """A host MemTotal written in digits int() refuses ("²") counts as no MemTotal: the host
    file is served with a reason, never a ValueError."""
    garbage = "MemTotal:       ² kB\nSwapTotal:      ² kB\n"
    memory = MemoryCgroup(version="v2", path="/g", usage=0, limits=(LimitLevel("/g", 64 * MIB),))
    rendered = meminfo.render(RenderInputs(view=CgroupView(memory=memory), host=host(garbage)))
    assert rendered.text == garbage
    assert rendered.fallback == "host /proc/meminfo has no MemTotal"
    assert host(garbage).meminfo_kb == {}
