"""/proc/slabinfo: the cgroup's v1 memory.kmem.slabinfo verbatim, else the host's file."""

from __future__ import annotations

from lxcfs_model.render import slabinfo
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import CgroupView, HostSnapshot, LimitLevel, MemoryCgroup

HEADER = (
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
    " : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs>"
    " <sharedavail>\n"
)
HOST_SLABINFO = (
    HEADER + "dentry             40950  41244    192   21    1 : tunables    0    0    0"
    " : slabdata   1964   1964      0\n"
)
CGROUP_SLABINFO = (
    HEADER + "kmalloc-64           128    128     64   64    1 : tunables    0    0    0"
    " : slabdata      2      2      0\n"
)


def host(slab: str | None = HOST_SLABINFO) -> HostSnapshot:
    return HostSnapshot(
        meminfo="MemTotal:       1000 kB\n",
        cpuinfo="",
        stat="",
        uptime="",
        loadavg="",
        diskstats="",
        swaps="",
        online="0\n",
        slabinfo=slab,
    )


def memory(kmem: str | None) -> MemoryCgroup:
    return MemoryCgroup(
        version="v1", path="/lxc/c1", usage=0, limits=(LimitLevel("/", None),), kmem_slabinfo=kmem
    )


def test_cgroup_slabinfo_is_served_verbatim() -> None:
    """With a v1 memory.kmem.slabinfo the file is exactly the cgroup's text."""
    rendered = slabinfo.render(
        RenderInputs(view=CgroupView(memory=memory(CGROUP_SLABINFO)), host=host())
    )
    assert rendered.text == CGROUP_SLABINFO
    assert rendered.fallback is None
    assert rendered.quantities["source"] == "/lxc/c1/memory.kmem.slabinfo"


def test_without_cgroup_slabinfo_the_host_file_is_served() -> None:
    """No per-cgroup slabinfo (v2, or no kmem accounting): the host's file unchanged."""
    rendered = slabinfo.render(RenderInputs(view=CgroupView(memory=memory(None)), host=host()))
    assert rendered.text == HOST_SLABINFO
    assert rendered.fallback is not None


def test_without_memory_cgroup_the_host_file_is_served() -> None:
    """No memory cgroup: the host's file unchanged."""
    rendered = slabinfo.render(RenderInputs(view=CgroupView(), host=host()))
    assert rendered.text == HOST_SLABINFO


def test_unreadable_host_slabinfo_gives_an_empty_fallback() -> None:
    """If the host's /proc/slabinfo is unreadable too, the fallback is empty, with a reason."""
    rendered = slabinfo.render(RenderInputs(view=CgroupView(), host=host(None)))
    assert (rendered.text, rendered.fallback is not None) == ("", True)


def test_empty_cgroup_slabinfo_falls_back_to_the_host_file() -> None:
    """An empty memory.kmem.slabinfo (what 6.x kernels print for a new v1 cgroup) serves the
    host's file, as 5.0.3 does, rather than an empty file."""
    for empty in ("", "\n"):
        rendered = slabinfo.render(RenderInputs(view=CgroupView(memory=memory(empty)), host=host()))
        assert rendered.text == HOST_SLABINFO
        assert rendered.fallback is not None and "empty" in rendered.fallback
