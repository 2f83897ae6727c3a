"""The one visible-CPU policy: cpuset ∩ online, capped by ceil(quota) with --enable-cfs."""

from __future__ import annotations

from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import (
    CgroupView,
    CpuCgroup,
    CpusetCgroup,
    HostSnapshot,
    QuotaLevel,
    RenderOptions,
)
from lxcfs_model.visible import smallest_quota, visible_cpus


def _host(online: str) -> HostSnapshot:
    return HostSnapshot(
        meminfo="", cpuinfo="", stat="", uptime="", loadavg="", diskstats="", swaps="",
        online=online,
    )  # fmt: skip


def _inputs(
    online: str = "0-3\n",
    cpuset: frozenset[int] | None = None,
    quotas: tuple[QuotaLevel, ...] | None = None,
    enable_cfs: bool = False,
) -> RenderInputs:
    view = CgroupView(
        cpuset=CpusetCgroup("/ct", cpuset) if cpuset is not None else None,
        cpu=CpuCgroup("v1", "/ct", quotas) if quotas is not None else None,
    )
    return RenderInputs(view=view, host=_host(online), options=RenderOptions(enable_cfs=enable_cfs))


def _quota(quota_us: int | None, period_us: int = 100_000, path: str = "/ct") -> QuotaLevel:
    return QuotaLevel(path=path, quota_us=quota_us, period_us=period_us)


def test_cpuset_is_intersected_with_online_cpus() -> None:
    """A cpuset naming an offline CPU shows only its online CPUs, in host order."""
    visible = visible_cpus(_inputs(online="0-1,3\n", cpuset=frozenset({3, 2, 1})))
    assert visible.host_cpus == (1, 3)
    assert visible.count == 2


def test_no_cpuset_controller_shows_every_online_cpu() -> None:
    """Without a cpuset the container sees all online CPUs."""
    assert visible_cpus(_inputs(online="0-2,5\n")).host_cpus == (0, 1, 2, 5)


def test_cpuset_disjoint_from_online_never_shows_zero_cpus() -> None:
    """A cpuset whose CPUs are all offline falls back to the online CPUs, never to none."""
    assert visible_cpus(_inputs(online="0-1\n", cpuset=frozenset({7}))).host_cpus == (0, 1)


def test_unreadable_online_file_falls_back_to_the_cpuset() -> None:
    """An unparsable online file leaves the cpuset's CPUs (and never an empty set)."""
    assert visible_cpus(_inputs(online="garbage", cpuset=frozenset({2, 4}))).host_cpus == (2, 4)
    assert visible_cpus(_inputs(online="garbage")).host_cpus == (0,)


def test_quota_caps_to_the_ceiling_of_cpus_with_enable_cfs() -> None:
    """150000/100000 (1.5 CPUs) on 4 CPUs shows ceil(1.5) = 2: the two lowest."""
    visible = visible_cpus(_inputs(quotas=(_quota(150_000),), enable_cfs=True))
    assert visible.host_cpus == (0, 1)
    assert visible.quota_cap == 2


def test_quota_is_ignored_without_enable_cfs() -> None:
    """The quota changes nothing unless --enable-cfs is given."""
    visible = visible_cpus(_inputs(quotas=(_quota(150_000),)))
    assert visible.host_cpus == (0, 1, 2, 3)
    assert visible.quota_cap is None


def test_whole_quota_is_not_rounded_up_by_float_error() -> None:
    """300000/100000 is exactly 3 CPUs (integer ceiling), and a tiny quota still shows 1."""
    assert visible_cpus(_inputs(quotas=(_quota(300_000),), enable_cfs=True)).count == 3
    assert visible_cpus(_inputs(quotas=(_quota(1000),), enable_cfs=True)).count == 1


def test_smallest_quota_over_ancestors_wins() -> None:
    """A parent's tighter quota (0.5 CPU) beats the leaf's 3 CPUs; unset levels are skipped."""
    levels = (_quota(300_000), _quota(None, path="/"), _quota(50_000, 100_000, "/parent"))
    assert smallest_quota(levels) == levels[2]
    visible = visible_cpus(_inputs(cpuset=frozenset({1, 2, 3}), quotas=levels, enable_cfs=True))
    assert visible.host_cpus == (1,)


def test_cap_never_exceeds_the_cpuset() -> None:
    """A quota of 8 CPUs on a 2-CPU cpuset shows the 2 CPUs."""
    inputs = _inputs(cpuset=frozenset({1, 3}), quotas=(_quota(800_000),), enable_cfs=True)
    assert visible_cpus(inputs).host_cpus == (1, 3)
