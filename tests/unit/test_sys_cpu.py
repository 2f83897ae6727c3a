"""/sys/devices/system/cpu: online/possible/present/offline and the cpuN directory policy."""

from __future__ import annotations

from lxcfs_model import files
from lxcfs_model.render import sys_cpu
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import (
    CgroupView,
    CpuCgroup,
    CpusetCgroup,
    HostSnapshot,
    QuotaLevel,
    RenderOptions,
)

LIST_FILES = ("online", "possible", "present")


def _inputs(
    online: str = "0-3\n",
    cpuset: frozenset[int] | None = None,
    quota_us: int | None = None,
    enable_cfs: bool = False,
) -> RenderInputs:
    host = HostSnapshot(
        meminfo="", cpuinfo="", stat="", uptime="", loadavg="", diskstats="", swaps="",
        online=online,
    )  # fmt: skip
    cpu = None
    if quota_us is not None:
        cpu = CpuCgroup("v1", "/ct", (QuotaLevel("/ct", quota_us, 100_000),))
    view = CgroupView(cpu=cpu, cpuset=CpusetCgroup("/ct", cpuset) if cpuset is not None else None)
    return RenderInputs(view=view, host=host, options=RenderOptions(enable_cfs=enable_cfs))


def _text(name: str, inputs: RenderInputs) -> str:
    return files.render("sys/devices/system/cpu/" + name, inputs).text


def test_one_visible_cpu_prints_zero() -> None:
    """cpuset {1} on a 2-CPU host: online, possible and present are all "0\\n"."""
    inputs = _inputs(online="0-1\n", cpuset=frozenset({1}))
    for name in LIST_FILES:
        assert _text(name, inputs) == "0\n"


def test_several_cpus_print_a_renumbered_range() -> None:
    """cpuset {0,2,3} prints 0-2, not the host numbers 0,2-3."""
    inputs = _inputs(cpuset=frozenset({0, 2, 3}))
    for name in LIST_FILES:
        assert _text(name, inputs) == "0-2\n"


def test_quota_cap_applies_with_enable_cfs_only() -> None:
    """1.5 CPUs on 4: 0-1 with --enable-cfs, 0-3 without."""
    assert _text("online", _inputs(quota_us=150_000, enable_cfs=True)) == "0-1\n"
    assert _text("online", _inputs(quota_us=150_000)) == "0-3\n"


def test_offline_is_the_kernels_empty_line() -> None:
    """No shown CPU is offline: offline is a single newline, as the kernel prints it."""
    assert _text("offline", _inputs(online="0-1,3\n", cpuset=frozenset({3}))) == "\n"


def test_cpu_directory_map_names_the_host_directories_of_visible_cpus() -> None:
    """cpuset {1,3}: cpu0 -> host cpu1, cpu1 -> host cpu3, nothing else."""
    mapping = sys_cpu.cpu_directory_map(_inputs(cpuset=frozenset({1, 3})))
    assert dict(mapping) == {"cpu0": "cpu1", "cpu1": "cpu3"}
    assert list(mapping) == ["cpu0", "cpu1"]


def test_directory_listing_hides_other_cpus_and_keeps_the_rest_once() -> None:
    """Host cpuN directories give way to the container's; other entries pass, each once."""
    host_entries = [".", "..", "cpu0", "cpu1", "cpu2", "cpu3", "cpufreq", "online", "online",
                    "kernel_max", "vulnerabilities"]  # fmt: skip
    entries = sys_cpu.directory_entries(host_entries, _inputs(cpuset=frozenset({2})))
    assert entries == (
        "cpufreq", "online", "kernel_max", "vulnerabilities", "offline", "possible", "present",
        "cpu0",
    )  # fmt: skip


def test_is_cpu_directory_matches_only_numbered_cpus() -> None:
    """cpu17 is a CPU directory; cpufreq, cpuidle and cpu are not."""
    assert sys_cpu.is_cpu_directory("cpu17")
    assert not any(map(sys_cpu.is_cpu_directory, ("cpufreq", "cpuidle", "cpu", "cpu1a")))


def test_passthrough_entries_never_name_a_rendered_file_or_cpu_directory() -> None:
    """The documented passthrough list and the rendered list do not overlap."""
    for name in sys_cpu.PASSTHROUGH_ENTRIES:
        assert name not in sys_cpu.RENDERED_ENTRIES
        assert not sys_cpu.is_cpu_directory(name)


def test_512_cpus_render_whole() -> None:
    """A 512-CPU host without cpuset prints 0-511 and maps 512 directories."""
    inputs = _inputs(online="0-511\n")
    assert _text("online", inputs) == "0-511\n"
    assert len(sys_cpu.cpu_directory_map(inputs)) == 512
