"""/proc/uptime: the container init's age and the idle time of its visible CPUs."""

from __future__ import annotations

import math

import pytest

from lxcfs_model.explain import explain
from lxcfs_model.files import render as render_file
from lxcfs_model.render import uptime
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import (
    CgroupView,
    Clock,
    CpuCgroup,
    CpusetCgroup,
    HostSnapshot,
    InitProcess,
    QuotaLevel,
    RenderOptions,
)

HOST_UPTIME = "378.56 700.12\n"


def _host(online: str = "0-1", clk_tck: int = 100) -> HostSnapshot:
    return HostSnapshot(
        meminfo="",
        cpuinfo="",
        stat="",
        uptime=HOST_UPTIME,
        loadavg="",
        diskstats="",
        swaps="",
        online=online + "\n",
        clk_tck=clk_tck,
    )


def _inputs(
    init: InitProcess | None,
    boottime: float,
    cpus: frozenset[int] | None = None,
    online: str = "0-1",
    clk_tck: int = 100,
    cpu: CpuCgroup | None = None,
    options: RenderOptions | None = None,
) -> RenderInputs:
    cpuset = CpusetCgroup(path="/c1", cpus=cpus) if cpus is not None else None
    return RenderInputs(
        view=CgroupView(init=init, cpuset=cpuset, cpu=cpu),
        host=_host(online, clk_tck),
        options=options or RenderOptions(),
        clock=Clock(boottime=boottime),
    )


def test_fresh_init_reads_its_age_and_idle_over_two_cpus() -> None:
    """An init started 0.5 s ago on 2 CPUs that used 0.3 s shows 0.50 and 2 x 0.50 - 0.30."""
    init = InitProcess(pid=4242, start_ticks=100_000, cpu_busy_ns=300_000_000)
    rendered = uptime.render(_inputs(init, boottime=1000.50, cpus=frozenset({0, 1})))
    assert rendered.text == "0.50 0.70\n"
    assert rendered.fallback is None


def test_long_running_init_on_one_cpu() -> None:
    """Age = 123456.789 - 500/100 truncated to 123451.78; idle = that - 100000.50 busy."""
    init = InitProcess(pid=7, start_ticks=500, cpu_busy_ns=100_000_500_000_000)
    rendered = uptime.render(_inputs(init, boottime=123456.789, cpus=frozenset({1})))
    assert rendered.text == "123451.78 23451.28\n"


def test_idle_is_clamped_at_zero_when_busy_exceeds_capacity() -> None:
    """25 s of CPU in 10 s on 2 CPUs (impossible, a stale counter) shows idle 0, not negative."""
    init = InitProcess(pid=9, start_ticks=0, cpu_busy_ns=25 * 10**9)
    rendered = uptime.render(_inputs(init, boottime=10.0))
    assert rendered.text == "10.00 0.00\n"


def test_unknown_cpu_time_counts_as_all_idle() -> None:
    """Without a CPU-time figure idle is uptime x visible CPUs, its upper bound."""
    init = InitProcess(pid=9, start_ticks=200, cpu_busy_ns=None)
    rendered = uptime.render(_inputs(init, boottime=12.345, online="0-3"))
    assert rendered.text == "10.34 41.36\n"


def test_start_tick_zero_means_started_at_boot() -> None:
    """An init with starttime 0 is as old as the host (upstream printed 0 here)."""
    init = InitProcess(pid=1, start_ticks=0, cpu_busy_ns=0)
    assert uptime.render(_inputs(init, boottime=378.5)).text == "378.50 757.00\n"


def test_init_younger_than_clock_reads_zero() -> None:
    """A start time after the clock (skewed snapshot) clamps to 0.00 0.00, never negative."""
    init = InitProcess(pid=5, start_ticks=10_000, cpu_busy_ns=10**9)
    assert uptime.render(_inputs(init, boottime=50.0)).text == "0.00 0.00\n"


def test_start_time_rounds_up_with_odd_clock_tick() -> None:
    """With CLK_TCK 300, 100 ticks are 1/3 s: rounded up to 0.34 s, so age 1.00 - 0.34."""
    init = InitProcess(pid=5, start_ticks=100, cpu_busy_ns=0)
    rendered = uptime.render(_inputs(init, boottime=1.0, clk_tck=300, online="0"))
    assert rendered.text == "0.66 0.66\n"


def test_idle_uses_the_shared_visible_cpu_policy_with_cfs_quota() -> None:
    """With --enable-cfs a 0.5-CPU quota leaves 1 visible CPU, so idle capacity is 1 x age."""
    init = InitProcess(pid=5, start_ticks=0, cpu_busy_ns=2 * 10**9)
    cpu = CpuCgroup(
        version="v1", path="/c1", quotas=(QuotaLevel("/c1", quota_us=50_000, period_us=100_000),)
    )
    with_cfs = _inputs(init, 10.0, frozenset({0, 1}), cpu=cpu, options=RenderOptions(True))
    without_cfs = _inputs(init, 10.0, frozenset({0, 1}), cpu=cpu)
    assert uptime.render(with_cfs).text == "10.00 8.00\n"
    assert uptime.render(without_cfs).text == "10.00 18.00\n"


def test_no_init_serves_the_host_file() -> None:
    """A container whose init is unknown sees the host's /proc/uptime verbatim."""
    rendered = uptime.render(_inputs(None, boottime=5.0))
    assert rendered.text == HOST_UPTIME
    assert rendered.fallback is not None


@pytest.mark.parametrize(
    ("boottime", "clk_tck", "start_ticks"),
    [(math.nan, 100, 0), (math.inf, 100, 0), (1e308, 100, 0), (5.0, 0, 0), (5.0, 100, -1)],
)
def test_unusable_clock_values_serve_the_host_file(
    boottime: float, clk_tck: int, start_ticks: int
) -> None:
    """NaN/infinite clocks, a zero CLK_TCK or a negative start fall back instead of raising."""
    init = InitProcess(pid=5, start_ticks=start_ticks)
    rendered = uptime.render(_inputs(init, boottime=boottime, clk_tck=clk_tck))
    assert rendered.text == HOST_UPTIME
    assert rendered.fallback is not None


def test_negative_clock_reads_zero() -> None:
    """A boottime below zero cannot make the age negative."""
    init = InitProcess(pid=5, start_ticks=0, cpu_busy_ns=0)
    assert uptime.render(_inputs(init, boottime=-3.0)).text == "0.00 0.00\n"


def test_explain_fills_the_line_rule_from_the_quantities() -> None:
    """--explain covers the line with the uptime rule, every placeholder filled."""
    init = InitProcess(pid=4242, start_ticks=100_000, cpu_busy_ns=300_000_000)
    rendered = uptime.render(_inputs(init, boottime=1000.50))
    (line,) = explain(uptime.PROVENANCE, rendered).lines
    assert line.rule is not None
    assert "?" not in line.explanation
    assert line.explanation.startswith("uptime 0.50 s = boottime 1000.50 s - init 4242's")
    assert "idle 0.70 s = uptime x 2 visible CPUs - busy 0.30 s" in line.explanation


def test_registry_serves_this_renderer() -> None:
    """lxcfs_model.files routes proc/uptime to this module's render."""
    init = InitProcess(pid=4242, start_ticks=100_000, cpu_busy_ns=300_000_000)
    assert render_file("uptime", _inputs(init, boottime=1000.50)).text == "0.50 0.70\n"
