"""lxcfs_model.launchers: the limits runtimes are told agree with what /proc shows."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lxcfs_model.cpuset import parse_cpuset
from lxcfs_model.files import render
from lxcfs_model.io import SystemReader
from lxcfs_model.launchers import (
    EnvSetting,
    LauncherLimits,
    container_limits,
    launcher_environment,
)
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import (
    CgroupView,
    CpuCgroup,
    CpusetCgroup,
    HostSnapshot,
    LimitLevel,
    MemoryCgroup,
    QuotaLevel,
    RenderOptions,
)
from lxcfs_model.visible import visible_cpus

HOST_TOTAL_KB = 16_000_000  # 16 GB host


def host(online: str = "0-7") -> HostSnapshot:
    return HostSnapshot(
        meminfo=f"MemTotal:       {HOST_TOTAL_KB} kB\nMemFree:         8000000 kB\n",
        cpuinfo="",
        stat="",
        uptime="1.00 1.00\n",
        loadavg="0.00 0.00 0.00 1/1 1\n",
        diskstats="",
        swaps="Filename\tType\tSize\tUsed\tPriority\n",
        online=online + "\n",
    )


def memory(*limits: int | None) -> MemoryCgroup:
    levels = tuple(LimitLevel(f"/level{i}", limit) for i, limit in enumerate(limits))
    return MemoryCgroup(version="v2", path="/level0", usage=0, limits=levels)


def by_name(settings: tuple[EnvSetting, ...]) -> dict[str, str]:
    return {setting.name: setting.value for setting in settings}


def test_cpu_count_is_the_cpuset_within_online_cpus() -> None:
    """A cpuset {1,2,9} on a host with CPUs 0-7 online gives 2 CPUs (9 is not online)."""
    view = CgroupView(cpuset=CpusetCgroup("/c", frozenset({1, 2, 9})))
    limits = container_limits(view, host())
    assert limits.cpu_count == 2
    assert "1-2" in limits.cpu_reason and "/c" in limits.cpu_reason


def test_quota_caps_the_count_only_with_enable_cfs() -> None:
    """A 150000/100000 quota caps 4 cpuset CPUs to ceil(1.5) = 2 with --enable-cfs, else not."""
    view = CgroupView(
        cpuset=CpusetCgroup("/c", frozenset({0, 1, 2, 3})),
        cpu=CpuCgroup("v1", "/c", (QuotaLevel("/c", 150_000, 100_000),)),
    )
    assert container_limits(view, host()).cpu_count == 4
    capped = container_limits(view, host(), RenderOptions(enable_cfs=True))
    assert capped.cpu_count == 2
    assert "150000/100000" in capped.cpu_reason


def test_no_cpuset_shows_every_online_cpu() -> None:
    """Without a cpuset controller the container sees every online host CPU."""
    assert container_limits(CgroupView(), host("0-3,6")).cpu_count == 5


@given(
    cpus=st.frozensets(st.integers(0, 15), max_size=16),
    quota=st.one_of(st.none(), st.integers(1, 2_000_000)),
    enable_cfs=st.booleans(),
)
def test_cpu_count_always_equals_the_visible_cpu_policy(
    cpus: frozenset[int], quota: int | None, enable_cfs: bool
) -> None:
    """For any cpuset and quota the launcher count is exactly what cpuinfo/online list."""
    view = CgroupView(
        cpuset=CpusetCgroup("/c", cpus),
        cpu=CpuCgroup("v2", "/c", (QuotaLevel("/c", quota, 100_000),)),
    )
    options = RenderOptions(enable_cfs=enable_cfs)
    expected = visible_cpus(RenderInputs(view=view, host=host("0-11"), options=options)).count
    assert container_limits(view, host("0-11"), options).cpu_count == expected >= 1


def test_memory_is_the_smallest_limit_on_the_path_in_whole_kb() -> None:
    """Limits 1 GiB+100 bytes inside 2 GiB give MemTotal's 1048576 kB, i.e. 1073741824 bytes."""
    view = CgroupView(memory=memory(2**30 + 100, 2**31, None))
    limits = container_limits(view, host())
    assert limits.memory_bytes == 1_048_576 * 1024
    assert "/level0" in limits.memory_reason


def test_outer_limit_wins_when_smaller() -> None:
    """An unlimited container inside a 512 MiB parent is limited to 512 MiB."""
    limits = container_limits(CgroupView(memory=memory(None, 512 * 2**20)), host())
    assert limits.memory_bytes == 512 * 2**20
    assert "/level1" in limits.memory_reason


def test_limit_above_host_memory_is_no_limit() -> None:
    """A limit at or above host MemTotal is capped to the host, which is no limit to report."""
    over = container_limits(CgroupView(memory=memory(HOST_TOTAL_KB * 1024)), host())
    assert over.memory_bytes is None


def test_unlimited_and_missing_memory_cgroups_report_no_limit() -> None:
    """No limit on the path, or no memory controller, yields memory_bytes None."""
    assert container_limits(CgroupView(memory=memory(None, None)), host()).memory_bytes is None
    assert container_limits(CgroupView(), host()).memory_bytes is None


def test_limit_under_one_kb_shows_host_memory_like_meminfo() -> None:
    """A 512-byte limit is 0 kB, which /proc/meminfo replaces by the host total: no limit."""
    assert container_limits(CgroupView(memory=memory(512)), host()).memory_bytes is None


def test_environment_for_a_limited_container() -> None:
    """2 CPUs and 1 GiB give the CPU variables 2, GOMEMLIMIT 90% and a JVM MaxRAM of 1 GiB."""
    limits = LauncherLimits(2, "cpus", 2**30, "memory")
    env = by_name(launcher_environment(limits))
    for name in ("PYTHON_CPU_COUNT", "GOMAXPROCS", "OMP_NUM_THREADS", "DOTNET_PROCESSOR_COUNT"):
        assert env[name] == "2"
    assert env["GOMEMLIMIT"] == str(966_367_641)  # floor(1073741824 * 0.9)
    assert env["JAVA_TOOL_OPTIONS"] == "-XX:ActiveProcessorCount=2 -XX:MaxRAM=1073741824"


def test_environment_without_memory_limit_sets_no_memory_hint() -> None:
    """Without a memory limit there is no GOMEMLIMIT and no -XX:MaxRAM."""
    env = by_name(launcher_environment(LauncherLimits(3, "cpus", None, "none")))
    assert "GOMEMLIMIT" not in env
    assert env["JAVA_TOOL_OPTIONS"] == "-XX:ActiveProcessorCount=3"


def test_go_memory_share_is_applied() -> None:
    """A share of 0.5 halves GOMEMLIMIT (integer bytes)."""
    env = by_name(launcher_environment(LauncherLimits(1, "", 1001, ""), go_memory_share=0.5))
    assert env["GOMEMLIMIT"] == "500"


def test_every_setting_names_its_reader_once() -> None:
    """Names are unique and each setting says which runtime reads it."""
    settings = launcher_environment(LauncherLimits(1, "", 2**20, ""))
    names = [setting.name for setting in settings]
    assert len(names) == len(set(names))
    assert all(setting.reads_it for setting in settings)


# ------------------------------------------------------- agreement with the rendered files

_FIXTURE_HOST = SystemReader(
    str(Path(__file__).resolve().parents[1] / "fixtures" / "v2-nested")
).host_snapshot()


@given(
    limits=st.lists(
        st.one_of(
            st.none(),
            st.integers(0, 2**40),
            st.sampled_from([0, 1023, 1024, 2**63 - 4096, 2**62]),
        ),
        min_size=1,
        max_size=4,
    ),
    cpus=st.frozensets(st.integers(0, 5), max_size=6),
    quota=st.one_of(st.none(), st.integers(1, 800_000)),
    enable_cfs=st.booleans(),
)
def test_limits_agree_with_rendered_meminfo_cpuinfo_and_online(
    limits: list[int | None], cpus: frozenset[int], quota: int | None, enable_cfs: bool
) -> None:
    """For any limits, cpuset and quota: memory_bytes is MemTotal x 1024 of the rendered
    meminfo (None exactly when it shows the host's), and the CPU count is the number of
    processors in the rendered cpuinfo and of CPUs in the rendered online file."""
    view = CgroupView(
        memory=memory(*limits),
        cpuset=CpusetCgroup("/c", cpus),
        cpu=CpuCgroup("v2", "/c", (QuotaLevel("/c", quota, 100_000),)),
    )
    options = RenderOptions(enable_cfs=enable_cfs)
    inputs = RenderInputs(view=view, host=_FIXTURE_HOST, options=options)
    launcher = container_limits(view, _FIXTURE_HOST, options)

    meminfo = render("meminfo", inputs).text
    mem_total_kb = int(meminfo.split("MemTotal:", 1)[1].split()[0])
    host_total_kb = _FIXTURE_HOST.meminfo_kb["MemTotal"]
    if launcher.memory_bytes is None:
        assert mem_total_kb == host_total_kb
    else:
        assert launcher.memory_bytes == mem_total_kb * 1024 < host_total_kb * 1024

    cpuinfo = render("cpuinfo", inputs).text
    processors = sum(1 for line in cpuinfo.splitlines() if line.startswith("processor"))
    online = parse_cpuset(render("online", inputs).text.strip())
    assert launcher.cpu_count == processors == len(online)
