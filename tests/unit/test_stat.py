"""/proc/stat: container CPU times on the visible CPUs, renumbered, never going backwards.

Every expected number below is worked out by hand from the formulas in the module docs of
``lxcfs_model.render.stat`` (ticks = ns * CLK_TCK // 10**9, CLK_TCK 100 unless said):
busy = user+nice+system+iowait+irq+softirq+steal+guest+guest_nice of the host line,
idle = max(0, host idle + host busy - container user - container system).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from lxcfs_model.history import ContainerHistory, StatHistory
from lxcfs_model.render import stat
from lxcfs_model.render.stat import distribute, spread
from lxcfs_model.rendering import Rendered, RenderInputs
from lxcfs_model.values import (
    CgroupView,
    CpuCgroup,
    CpusetCgroup,
    CpuTime,
    CpuUsage,
    HostSnapshot,
    QuotaLevel,
    RenderOptions,
)

PASSTHROUGH = (
    "intr 1234 5 6 0 7\n"
    "ctxt 999\n"
    "btime 1700000000\n"
    "processes 42\n"
    "procs_running 1\n"
    "procs_blocked 0\n"
    "softirq 10 1 2 3 4\n"
)
ZEROS = " 0 0 0 0 0 0"  # iowait irq softirq steal guest guest_nice: 0 with usage known

# Two host CPUs. busy(cpu0) = 100+5+50+10+1+2+3 = 171; busy(cpu1) = 200+100+20+2+4+6 = 332.
HOST_2 = {0: (100, 5, 50, 1000, 10, 1, 2, 3, 0, 0), 1: (200, 0, 100, 2000, 20, 2, 4, 6, 0, 0)}


def _stat_text(lines: Mapping[int, Sequence[int]]) -> str:
    """A host /proc/stat as the kernel prints it: `cpu  ` aggregate, cpuN lines, the rest."""
    aggregate = [sum(column) for column in zip(*lines.values(), strict=True)]
    text = "cpu  " + " ".join(map(str, aggregate)) + "\n"
    text += "".join(f"cpu{cpu} " + " ".join(map(str, row)) + "\n" for cpu, row in lines.items())
    return text + PASSTHROUGH


def _v1(per_cpu_seconds: Mapping[int, tuple[float, float]]) -> CpuUsage:
    per_cpu = {
        cpu: CpuTime(round(user * 1e9), round(system * 1e9))
        for cpu, (user, system) in per_cpu_seconds.items()
    }
    total = CpuTime(
        sum(t.user_ns for t in per_cpu.values()), sum(t.system_ns for t in per_cpu.values())
    )
    return CpuUsage("v1", "/ct", total, per_cpu)


def _v2(user_ns: int, system_ns: int) -> CpuUsage:
    return CpuUsage("v2", "/ct", CpuTime(user_ns, system_ns))


def _inputs(
    host_lines: Mapping[int, Sequence[int]],
    usage: CpuUsage | None = None,
    cpuset: frozenset[int] | None = None,
    quota_us: int | None = None,
    enable_cfs: bool = False,
    history: ContainerHistory | None = None,
    clk_tck: int = 100,
) -> RenderInputs:
    host = HostSnapshot(
        meminfo="", cpuinfo="", stat=_stat_text(host_lines), uptime="", loadavg="",
        diskstats="", swaps="", online=",".join(map(str, sorted(host_lines))) + "\n",
        clk_tck=clk_tck,
    )  # fmt: skip
    cpu = None
    if quota_us is not None:
        cpu = CpuCgroup("v1", "/ct", (QuotaLevel("/ct", quota_us, 100_000),))
    view = CgroupView(
        cpuset=CpusetCgroup("/ct", cpuset) if cpuset is not None else None,
        cpu=cpu,
        cpu_usage=usage,
    )
    return RenderInputs(
        view=view,
        host=host,
        options=RenderOptions(enable_cfs=enable_cfs),
        history=history or ContainerHistory(),
    )


def _cpu_lines(rendered: Rendered) -> list[str]:
    return [line for line in rendered.text.splitlines() if line.startswith("cpu")]


# ---------------------------------------------------------------------------- first reads


def test_no_usage_shows_the_host_line_of_the_visible_cpu_renumbered() -> None:
    """cpuset {1}, usage unknown: host cpu1's line as cpu0; aggregate = that line."""
    rendered = stat.render(_inputs(HOST_2, cpuset=frozenset({1})))
    assert rendered.fallback is None
    assert rendered.text == (
        "cpu  200 0 100 2000 20 2 4 6 0 0\ncpu0 200 0 100 2000 20 2 4 6 0 0\n" + PASSTHROUGH
    )


def test_v1_per_cpu_usage_on_cpuset_one_of_two() -> None:
    """cpuset {1}, container 1.5 s user + 0.25 s system on cpu1: 150, 25, idle 2000 +
    (332 - 175) = 2157 (upstream's `cpu1 U 0 S I`, renumbered)."""
    usage = _v1({0: (0.0, 0.0), 1: (1.5, 0.25)})
    rendered = stat.render(_inputs(HOST_2, usage, cpuset=frozenset({1})))
    assert rendered.text == (
        "cpu  150 0 25 2157" + ZEROS + "\ncpu0 150 0 25 2157" + ZEROS + "\n" + PASSTHROUGH
    )


def test_v1_usage_on_a_cpu_the_container_cannot_see_is_folded_in() -> None:
    """0.5 s user on hidden cpu0 joins visible cpu1: user 150 + 50 = 200, idle 2000 +
    (332 - 225) = 2107, so the aggregate holds all of the container's time."""
    usage = _v1({0: (0.5, 0.0), 1: (1.5, 0.25)})
    rendered = stat.render(_inputs(HOST_2, usage, cpuset=frozenset({1})))
    assert _cpu_lines(rendered) == ["cpu  200 0 25 2107" + ZEROS, "cpu0 200 0 25 2107" + ZEROS]
    assert rendered.quantities["folded_user"] == 50


def test_v2_totals_are_spread_by_host_busy_time() -> None:
    """v2 user 300 ticks, system 99 over busy 171 : 332 (sum 503):
    user 300*171//503 = 101, 300*332//503 = 198, remainder 1 to cpu0 -> 102, 198;
    system 99*171//503 = 33, 99*332//503 = 65, remainder 1 to cpu0 -> 34, 65;
    idle cpu0 = 1000 + (171 - 136) = 1035, cpu1 = 2000 + (332 - 263) = 2069."""
    rendered = stat.render(_inputs(HOST_2, _v2(3_000_000_000, 990_000_000)))
    assert _cpu_lines(rendered) == [
        "cpu  300 0 99 3104" + ZEROS,
        "cpu0 102 0 34 1035" + ZEROS,
        "cpu1 198 0 65 2069" + ZEROS,
    ]


def test_container_busier_than_the_host_busy_time_is_taken_from_idle() -> None:
    """Usage 500 above host busy 171: idle = max(0, 1000 + 171 - 500) = 671 (upstream would
    keep 1000); usage above busy + idle leaves idle 0, never negative."""
    rendered = stat.render(_inputs(HOST_2, _v1({0: (5.0, 0.0)}), cpuset=frozenset({0})))
    assert _cpu_lines(rendered)[1] == "cpu0 500 0 0 671" + ZEROS
    rendered = stat.render(_inputs(HOST_2, _v1({0: (20.0, 0.0)}), cpuset=frozenset({0})))
    assert _cpu_lines(rendered)[1] == "cpu0 2000 0 0 0" + ZEROS


def test_ticks_follow_clk_tck() -> None:
    """At CLK_TCK 250, 1.5 s is 375 ticks and 0.25 s is 62 (62.5 truncated)."""
    usage = _v1({1: (1.5, 0.25)})
    rendered = stat.render(_inputs(HOST_2, usage, cpuset=frozenset({1}), clk_tck=250))
    # idle = 2000 + 332 - 437 = 1895
    assert _cpu_lines(rendered)[1] == "cpu0 375 0 62 1895" + ZEROS


# ------------------------------------------------------------- quota 1.5 CPUs on 4 CPUs

# busy(cpuN) = 10*(N+1) + 5 (user + system), idle 1000*(N+1).
HOST_4 = {n: (10 * (n + 1), 0, 5, 1000 * (n + 1), 0, 0, 0, 0, 0, 0) for n in range(4)}
# The next read, one second later at CLK_TCK 100: each CPU +60 user, +20 system, +20 idle.
HOST_4_LATER = {
    n: (row[0] + 60, 0, row[2] + 20, row[3] + 20, 0, 0, 0, 0, 0, 0) for n, row in HOST_4.items()
}
USAGE_4 = _v1({n: (0.1, 0.01) for n in range(4)})  # 10 user + 1 system tick per CPU
# Growth: cpu0 +0.4 s/+0.1 s, cpu1 +0.3/+0.1, cpu2 +0.2/0, cpu3 +0.1/+0.1.
USAGE_4_LATER = _v1({0: (0.5, 0.11), 1: (0.4, 0.11), 2: (0.3, 0.01), 3: (0.2, 0.11)})


def test_quota_without_enable_cfs_shows_four_absolute_lines() -> None:
    """No cap without --enable-cfs: 4 lines; cpuN user 10, system 1, idle 1000(N+1) +
    (10(N+1) + 5 - 11)."""
    rendered = stat.render(_inputs(HOST_4, USAGE_4, quota_us=150_000))
    assert _cpu_lines(rendered) == [
        "cpu  40 0 4 10076" + ZEROS,  # idle 10000 + 4 + 14 + 24 + 34
        "cpu0 10 0 1 1004" + ZEROS,
        "cpu1 10 0 1 2014" + ZEROS,
        "cpu2 10 0 1 3024" + ZEROS,
        "cpu3 10 0 1 4034" + ZEROS,
    ]


def test_quota_with_enable_cfs_starts_at_zero_on_two_cpus() -> None:
    """--enable-cfs, ceil(1.5) = 2 CPUs, first read: every counter 0 (upstream cpuview)."""
    rendered = stat.render(_inputs(HOST_4, USAGE_4, quota_us=150_000, enable_cfs=True))
    assert rendered.text == (
        "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n"
        + PASSTHROUGH
    )


def test_quota_with_enable_cfs_grows_by_a_quota_worth_of_time() -> None:
    """Second read: visible growth cpu0 (40, 10), cpu1 (30, 10); hidden cpu2+cpu3 (30, 10)
    split by equal busy growth 80 : 80 -> +15/+5 each: user 55, 45, system 15, 15.
    Idle growth 20 + max(0, 80 - 70) = 30 and 20 + (80 - 60) = 40; elapsed 200 ticks,
    1.5 of 2 CPUs -> remove 200 * 50000 // 200000 = 50 from idle by 30 : 40:
    50*30//70 = 21, 50*40//70 = 28, remainder 1 to cpu0 -> 22, 28: idle 8, 12.
    The whole: 100 + 30 + 20 = 150 ticks = 1.5 CPUs for one second."""
    first = stat.render(_inputs(HOST_4, USAGE_4, quota_us=150_000, enable_cfs=True))
    second = stat.render(
        _inputs(HOST_4_LATER, USAGE_4_LATER, quota_us=150_000, enable_cfs=True,
                history=first.history)
    )  # fmt: skip
    assert _cpu_lines(second) == [
        "cpu  100 0 30 20" + ZEROS,
        "cpu0 55 0 15 8" + ZEROS,
        "cpu1 45 0 15 12" + ZEROS,
    ]
    assert second.quantities["partial_idle_removed"] == 50


def test_no_usage_with_enable_cfs_shows_host_lines_capped() -> None:
    """Usage unknown: host lines of cpu0 and cpu1 only (upstream 7.0 caps these too)."""
    rendered = stat.render(_inputs(HOST_4, quota_us=150_000, enable_cfs=True))
    assert _cpu_lines(rendered) == [
        "cpu  30 0 10 3000 0 0 0 0 0 0",
        "cpu0 10 0 5 1000 0 0 0 0 0 0",
        "cpu1 20 0 5 2000 0 0 0 0 0 0",
    ]


def test_no_cpuset_controller_shows_every_online_cpu() -> None:
    """Without cpuset and usage: both host lines, aggregate their field-wise sum."""
    rendered = stat.render(_inputs(HOST_2))
    assert _cpu_lines(rendered) == [
        "cpu  300 5 150 3000 30 3 6 9 0 0",
        "cpu0 100 5 50 1000 10 1 2 3 0 0",
        "cpu1 200 0 100 2000 20 2 4 6 0 0",
    ]


# ---------------------------------------------------------------------- between reads


def test_second_read_adds_the_growth_to_the_first() -> None:
    """v1 cpuset {1}: +1 s user on cpu1 and host cpu1 +150 user, +50 idle: user 150 -> 250,
    idle grows 50 + max(0, 150 - 100) = 100: 2157 -> 2257, absolute times continue."""
    first = stat.render(_inputs(HOST_2, _v1({1: (1.5, 0.25)}), cpuset=frozenset({1})))
    later = {0: HOST_2[0], 1: (350, 0, 100, 2050, 20, 2, 4, 6, 0, 0)}
    second = stat.render(
        _inputs(later, _v1({1: (2.5, 0.25)}), cpuset=frozenset({1}), history=first.history)
    )
    assert _cpu_lines(second)[1] == "cpu0 250 0 25 2257" + ZEROS


def test_cgroup_counter_reset_never_goes_backwards() -> None:
    """Usage restarting at 0.2 s (cgroup recreated) adds nothing to user; host growth goes
    to idle: 2157 + 50 + 150 = 2357. The next read grows from the new baseline (+0.3 s)."""
    first = stat.render(_inputs(HOST_2, _v1({1: (1.5, 0.25)}), cpuset=frozenset({1})))
    later = {0: HOST_2[0], 1: (350, 0, 100, 2050, 20, 2, 4, 6, 0, 0)}
    second = stat.render(
        _inputs(later, _v1({1: (0.2, 0.0)}), cpuset=frozenset({1}), history=first.history)
    )
    assert _cpu_lines(second)[1] == "cpu0 150 0 25 2357" + ZEROS
    third = stat.render(
        _inputs(later, _v1({1: (0.5, 0.0)}), cpuset=frozenset({1}), history=second.history)
    )
    # host unchanged: user +30; idle + max(0, 0 - 30) = +0.
    assert _cpu_lines(third)[1] == "cpu0 180 0 25 2357" + ZEROS


def test_v2_growth_is_spread_by_host_busy_growth() -> None:
    """v2 second read: +100 user ticks, host busy growth cpu0 +10, cpu1 +30 -> 25, 75."""
    first = stat.render(_inputs(HOST_2, _v2(3_000_000_000, 990_000_000)))
    later = {0: (110, 5, 50, 1000, 10, 1, 2, 3, 0, 0), 1: (230, 0, 100, 2000, 20, 2, 4, 6, 0, 0)}
    second = stat.render(_inputs(later, _v2(4_000_000_000, 990_000_000), history=first.history))
    # idle growth: 0 + max(0, 10 - 25) = 0 and 0 + max(0, 30 - 75) = 0.
    assert _cpu_lines(second) == [
        "cpu  400 0 99 3104" + ZEROS,
        "cpu0 127 0 34 1035" + ZEROS,
        "cpu1 273 0 65 2069" + ZEROS,
    ]


def test_another_host_cpu_under_the_same_line_does_not_jump() -> None:
    """cpuset {0} -> {1} (same count): the line keeps its values this read (rebaselined)."""
    first = stat.render(_inputs(HOST_2, cpuset=frozenset({0})))
    second = stat.render(_inputs(HOST_2, cpuset=frozenset({1}), history=first.history))
    assert _cpu_lines(second)[1] == "cpu0 100 5 50 1000 10 1 2 3 0 0"


def test_visible_count_change_restarts_lines_but_keeps_the_aggregate() -> None:
    """2 CPUs -> 1: the line restarts from host cpu1 (200 0 100 2000 ...), then each field
    is raised to the previous aggregate (300 5 150 3000 30 3 6 9 0 0)."""
    first = stat.render(_inputs(HOST_2))
    second = stat.render(_inputs(HOST_2, cpuset=frozenset({1}), history=first.history))
    assert _cpu_lines(second) == [
        "cpu  300 5 150 3000 30 3 6 9 0 0",
        "cpu0 300 5 150 3000 30 3 6 9 0 0",
    ]
    assert "changed from 2 to 1" in str(second.quantities["history"])


def test_history_that_does_not_fit_is_ignored() -> None:
    """A history of another shape (3 counters, an aggregate label) is not trusted."""
    odd = StatHistory(
        last_lines=(("cpu", (1,) * 10), ("cpu0", (5,) * 10)),
        baseline=((0, (1, 2, 3)),),
    )
    rendered = stat.render(_inputs(HOST_2, cpuset=frozenset({1}), history=ContainerHistory(odd)))
    assert _cpu_lines(rendered)[1] == "cpu0 200 0 100 2000 20 2 4 6 0 0"


def test_rendered_history_keeps_the_other_parts_of_container_history() -> None:
    """Rendering stat replaces only the stat part of ContainerHistory."""
    from lxcfs_model.history import LoadavgState

    loadavg = LoadavgState(avenrun=(1, 2, 3))
    rendered = stat.render(_inputs(HOST_2, history=ContainerHistory(loadavg=loadavg)))
    assert rendered.history.loadavg == loadavg
    assert rendered.history.stat is not None
    assert [label for label, _ in rendered.history.stat.last_lines] == ["cpu0", "cpu1"]


# ------------------------------------------------------------------------ host format


def test_passthrough_lines_are_verbatim_and_btime_untouched() -> None:
    """Everything after the cpu lines is the host's text, byte for byte, in order."""
    rendered = stat.render(_inputs(HOST_2, _v1({1: (1.0, 0.0)}), cpuset=frozenset({1})))
    assert rendered.text.endswith("\n" + PASSTHROUGH)
    assert "btime 1700000000\n" in rendered.text


def test_512_cpus_with_20_digit_counters_render_whole() -> None:
    """512 CPUs of 20-digit counters: 512 lines, aggregate the exact 22-digit sums."""
    big = 10**19
    lines = {n: tuple(big + n * 10 + field for field in range(10)) for n in range(512)}
    rendered = stat.render(_inputs(lines))
    cpu_lines = _cpu_lines(rendered)
    assert len(cpu_lines) == 513
    # column f: sum over n of (10**19 + 10n + f) = 512*10**19 + 10*(511*512/2) + 512f
    expected = [512 * big + 10 * 130816 + 512 * field for field in range(10)]
    assert cpu_lines[0] == "cpu  " + " ".join(map(str, expected))
    assert cpu_lines[512] == "cpu511 " + " ".join(str(big + 5110 + f) for f in range(10))
    assert rendered.text.endswith(PASSTHROUGH)


def test_old_kernel_lines_with_fewer_fields_are_padded() -> None:
    """A 2.6.2x line with 8 counters becomes 10 with trailing zeros."""
    host = HostSnapshot(
        meminfo="", cpuinfo="", uptime="", loadavg="", diskstats="", swaps="", online="0\n",
        stat="cpu  1 2 3 4 5 6 7 8\ncpu0 1 2 3 4 5 6 7 8\nctxt 5\n",
    )  # fmt: skip
    rendered = stat.render(RenderInputs(view=CgroupView(), host=host))
    assert rendered.text == "cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nctxt 5\n"


def test_empty_host_file_still_lists_the_visible_cpus() -> None:
    """A host stat without cpu lines yields zero lines for each visible CPU, never nothing."""
    host = HostSnapshot(
        meminfo="", cpuinfo="", stat="", uptime="", loadavg="", diskstats="", swaps="",
        online="0-1\n",
    )  # fmt: skip
    rendered = stat.render(RenderInputs(view=CgroupView(), host=host))
    assert (
        rendered.text
        == "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n"
    )
    assert rendered.quantities["missing_host_lines"] == 2


# ----------------------------------------------------------------------- distribute


def test_distribute_is_exact_and_gives_remainders_to_the_first() -> None:
    """10 by 1:1:1 -> 4, 3, 3; 7 by 0:2:1 -> 0, 5, 2 (4 + 1 remainder, 2); zeros -> even."""
    assert distribute(10, [1, 1, 1]) == [4, 3, 3]
    assert distribute(7, [0, 2, 1]) == [0, 5, 2]
    assert distribute(5, [0, 0]) == [3, 2]
    assert distribute(0, [3, 4]) == [0, 0]


def test_distribute_never_exceeds_a_weight_when_the_amount_fits() -> None:
    """With amount <= sum of weights, no share is larger than its weight."""
    weights = [3, 0, 7, 1, 1]
    for amount in range(sum(weights) + 1):
        shares = distribute(amount, weights)
        assert sum(shares) == amount
        assert all(share <= weight for share, weight in zip(shares, weights, strict=True))


def test_quantities_fill_the_provenance_table() -> None:
    """The cpu and cpuN rules fill every placeholder from this render's quantities."""
    rendered = stat.render(_inputs(HOST_2, _v1({1: (1.5, 0.25)}), cpuset=frozenset({1})))
    for label in ("cpu", "cpu0"):
        rule = stat.PROVENANCE.rule_for(label)
        assert rule is not None
        assert "?" not in rule.describe(rendered.quantities)
    assert attrs.has(type(rendered))


def test_spread_fills_each_cpu_only_up_to_its_room() -> None:
    """Overflow goes to CPUs with room left; beyond all room it is still handed out.

    10 by 1:1 into rooms 2, 100: 5/5 offered, cpu0 takes 2, the 3 left go to cpu1 -> 2, 8.
    10 by 1:1 into rooms 2, 3: 2 and 3 fit, the 5 left are spread 3, 2 -> 5, 5.
    7 by 0:0:5 into rooms 10, 10, 1: cpu2 takes 1, the 6 left go 3, 3 (zero weights equal).
    """
    assert spread(10, [1, 1], [2, 100]) == [2, 8]
    assert spread(10, [1, 1], [2, 3]) == [5, 5]
    assert spread(7, [0, 0, 5], [10, 10, 1]) == [3, 3, 1]


def test_folded_time_overflows_from_a_full_cpu_to_one_with_room() -> None:
    """Quota 2 CPUs of 4, second read: host cpu0 +100 busy (full), cpu1 +100 idle; the
    container's +1.5 s user on hidden cpu2 goes by busy growth 100 : 0 to cpu0, which has
    room 100, and the other 50 to cpu1: user 100, 50; idle 0 and 100 - 50 = 50."""
    host = {n: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0) for n in range(4)}
    later = dict(host)
    later[0] = (100, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    later[1] = (0, 0, 0, 100, 0, 0, 0, 0, 0, 0)
    first = stat.render(_inputs(host, _v1({2: (0.0, 0.0)}), quota_us=200_000, enable_cfs=True))
    second = stat.render(
        _inputs(later, _v1({2: (1.5, 0.0)}), quota_us=200_000, enable_cfs=True,
                history=first.history)
    )  # fmt: skip
    assert _cpu_lines(second) == [
        "cpu  150 0 0 50" + ZEROS,
        "cpu0 100 0 0 0" + ZEROS,
        "cpu1 50 0 0 50" + ZEROS,
    ]


def test_malformed_host_cpu_lines_are_left_out_and_other_lines_pass() -> None:
    """A cpuN line with a non-number is no host line (its CPU shows zeros); a line that
    only starts with "cpu" (cpufreq) is passthrough text like any other."""
    host = HostSnapshot(
        meminfo="", cpuinfo="", uptime="", loadavg="", diskstats="", swaps="", online="0-1\n",
        stat="cpu  1 1 1 1 1 1 1 1 1 1\ncpu0 1 x 1 1 1 1 1 1 1 1\ncpu1 2 2 2 2 2 2 2 2 2 2\n"
        "cpufreq 7\nctxt 5\n",
    )  # fmt: skip
    rendered = stat.render(RenderInputs(view=CgroupView(), host=host))
    assert rendered.text == (
        "cpu  2 2 2 2 2 2 2 2 2 2\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 2 2 2 2 2 2 2 2 2 2\n"
        "cpufreq 7\nctxt 5\n"
    )
