"""/proc/swaps: upstream's header plus one virtual device carrying the container's swap."""

from __future__ import annotations

from lxcfs_model.render import meminfo, swaps
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
HEADER = "Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n"
HOST_SWAPS = (
    "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    "/dev/vda2                               partition\t1048572\t\t204800\t\t-2\n"
)


def host(swap_total_kb: int | None = 1048572) -> HostSnapshot:
    meminfo_text = "MemTotal:       24684096 kB\n"
    if swap_total_kb is not None:
        meminfo_text += f"SwapTotal:      {swap_total_kb:8d} kB\nSwapFree:         843772 kB\n"
    return HostSnapshot(
        meminfo=meminfo_text,
        cpuinfo="",
        stat="",
        uptime="",
        loadavg="",
        diskstats="",
        swaps=HOST_SWAPS,
        online="0\n",
    )


def v2_memory(swap: SwapAccounting | None) -> MemoryCgroup:
    return MemoryCgroup(
        version="v2",
        path="/a/b",
        usage=64 * MIB,
        limits=(LimitLevel("/a/b", None), LimitLevel("/a", 500 * MIB)),
        swap=swap,
    )


def inputs(memory: MemoryCgroup | None, **options: bool) -> RenderInputs:
    return RenderInputs(
        view=CgroupView(memory=memory), host=host(), options=RenderOptions(**options)
    )


V2_SWAP = SwapAccounting(
    limits=(LimitLevel("/a/b", 300 * MIB), LimitLevel("/a", 256 * MIB)), usage=10 * MIB
)


def test_v2_swap_shows_the_smallest_swap_max() -> None:
    """v2: Size is the smallest memory.swap.max over the chain (256 MiB = 262144 kB) and Used
    is memory.swap.current (10 MiB = 10240 kB), in upstream's exact layout."""
    expected = HEADER + "none" + " " * 36 + "virtual\t\t262144\t10240\t0\n"
    assert swaps.render(inputs(v2_memory(V2_SWAP))).text == expected


def test_v1_swap_is_memsw_minus_memory() -> None:
    """v1: Size is memsw limit - memory limit (768 - 512 MiB = 262144 kB), Used memsw usage -
    memory usage (100 - 80 MiB = 20480 kB); the RAM limit is not added (issue, not 7.0)."""
    memory = MemoryCgroup(
        version="v1",
        path="/lxc/c1",
        usage=80 * MIB,
        limits=(LimitLevel("/lxc/c1", 512 * MIB), LimitLevel("/", None)),
        swap=SwapAccounting(
            limits=(LimitLevel("/lxc/c1", 768 * MIB), LimitLevel("/", None)), usage=100 * MIB
        ),
        swappiness=60,
    )
    expected = HEADER + "none" + " " * 36 + "virtual\t\t262144\t20480\t0\n"
    assert swaps.render(inputs(memory)).text == expected


def test_no_swap_accounting_is_header_only() -> None:
    """Without swap accounting the file is the header alone."""
    assert swaps.render(inputs(v2_memory(None))).text == HEADER


def test_disable_swap_is_header_only() -> None:
    """--disable-swap hides the device line."""
    assert swaps.render(inputs(v2_memory(V2_SWAP), disable_swap=True)).text == HEADER


def test_zero_swap_limit_is_header_only() -> None:
    """memory.swap.max = 0 is a real limit: no swap, header only."""
    swap = SwapAccounting(limits=(LimitLevel("/a/b", 0),), usage=0)
    assert swaps.render(inputs(v2_memory(swap))).text == HEADER


def test_unlimited_swap_shows_the_host_swap() -> None:
    """No swap.max anywhere: Size is the host's SwapTotal (1048572 kB)."""
    swap = SwapAccounting(limits=(LimitLevel("/a/b", None),), usage=0)
    expected = HEADER + "none" + " " * 36 + "virtual\t\t1048572\t0\t0\n"
    assert swaps.render(inputs(v2_memory(swap))).text == expected


def test_host_without_swap_line_is_header_only() -> None:
    """A host meminfo without SwapTotal counts as a host without swap: header only, never an
    empty file (upstream serves an empty file when it cannot read host meminfo)."""
    rendered = swaps.render(
        RenderInputs(view=CgroupView(memory=v2_memory(V2_SWAP)), host=host(None))
    )
    assert rendered.text == HEADER


def test_missing_memory_cgroup_serves_the_host_file() -> None:
    """No memory cgroup: the host's /proc/swaps unchanged, with a reason."""
    rendered = swaps.render(inputs(None))
    assert rendered.text == HOST_SWAPS
    assert rendered.fallback is not None


def test_swaps_agree_with_meminfo() -> None:
    """Size equals meminfo's SwapTotal and Used equals SwapTotal - SwapFree."""
    both = inputs(v2_memory(V2_SWAP))
    lines = dict(line.split(":") for line in meminfo.render(both).text.splitlines())
    total = int(lines["SwapTotal"].split()[0])
    free = int(lines["SwapFree"].split()[0])
    device = swaps.render(both).text.splitlines()[1].split("\t")
    assert (int(device[2]), int(device[3])) == (total, total - free)


def test_v1_no_swap_allowance_shows_no_swap_used() -> None:
    """Spec 8.7: with memsw == memory limit (no swap allowed) a memsw usage above memory
    usage never shows as used swap: header only, and meminfo says 0 / 0."""
    memory = MemoryCgroup(
        version="v1",
        path="/lxc/c1",
        usage=80 * MIB,
        limits=(LimitLevel("/lxc/c1", 512 * MIB), LimitLevel("/", None)),
        swap=SwapAccounting(
            limits=(LimitLevel("/lxc/c1", 512 * MIB), LimitLevel("/", None)), usage=90 * MIB
        ),
        swappiness=60,
    )
    both = inputs(memory)
    assert swaps.render(both).text == HEADER
    shown = dict(line.split(":") for line in meminfo.render(both).text.splitlines())
    assert (shown["SwapTotal"].split()[0], shown["SwapFree"].split()[0]) == ("0", "0")


def test_provenance_explains_the_device_line() -> None:
    """The 'none' line's explanation names the binding swap.max level and every number."""
    rendered = swaps.render(inputs(v2_memory(V2_SWAP)))
    rule = swaps.PROVENANCE.rule_for("none")
    assert rule is not None
    assert rule.describe(rendered.quantities) == (
        "Size = memory.swap.max; the allowance over /a/b and its ancestors: 262144 kB set on "
        "/a; capped by host SwapTotal 1048572 kB = 262144 kB; Used = swap in use 10485760 "
        "bytes / 1024, at most Size = 10240 kB; Priority 0; the line is left out when Size is 0"
    )
