"""Probes in real cgroups read our mount and see their container's limits, exactly."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator

import pytest

from tests.fuse.daemon import Daemon, lxcfs_fuse_mount
from tests.system.harness import CgroupSet, container_cgroups, wait_until

pytestmark = pytest.mark.root

CPU = "sys/devices/system/cpu"
HOST_CPUS = sorted(
    int(name[3:]) for name in os.listdir("/sys/devices/system/cpu") if re.fullmatch(r"cpu\d+", name)
)


@pytest.fixture(scope="module")
def cfs_daemon() -> Iterator[Daemon]:
    """lxcfs-fuse -l --enable-cfs (the options of the differential test)."""
    with lxcfs_fuse_mount(("-l", "--enable-cfs")) as mounted:
        yield mounted


@pytest.fixture(scope="module")
def plain_daemon() -> Iterator[Daemon]:
    """lxcfs-fuse without options."""
    with lxcfs_fuse_mount(()) as mounted:
        yield mounted


@pytest.fixture
def cgroups() -> Iterator[CgroupSet]:
    """A fresh container-like cgroup set, removed afterwards."""
    with container_cgroups() as created:
        yield created


def _meminfo_kb(text: str) -> dict[str, int]:
    values = {}
    for line in text.splitlines():
        label, _, rest = line.partition(":")
        values[label] = int(rest.split()[0])
    return values


def _host_kb(label: str) -> int:
    with open("/proc/meminfo") as meminfo:
        return _meminfo_kb(meminfo.read())[label]


def test_memory_limit_and_swap_allowance(cfs_daemon: Daemon, cgroups: CgroupSet) -> None:
    """256 MiB RAM and 512 MiB RAM+swap: MemTotal 262144 kB, SwapTotal the 256 MiB swap
    allowance capped by the host's swap; /proc/swaps agrees with meminfo."""
    cgroups.set_memory_limit(256 << 20, memsw=512 << 20)
    probe = cgroups.start_probe()
    texts = probe.read_files(cfs_daemon.path, ["proc/meminfo", "proc/swaps"])
    meminfo = _meminfo_kb(texts["proc/meminfo"])
    assert texts["proc/meminfo"].startswith("MemTotal:         262144 kB\n")
    assert meminfo["SwapTotal"] == min(262144, _host_kb("SwapTotal"))
    assert 0 <= meminfo["MemFree"] <= meminfo["MemAvailable"] <= meminfo["MemTotal"]
    swap_lines = texts["proc/swaps"].splitlines()
    assert swap_lines[0].split() == ["Filename", "Type", "Size", "Used", "Priority"]
    assert sum(int(line.split()[2]) for line in swap_lines[1:]) == meminfo["SwapTotal"]


def test_limit_on_the_parent_only(cfs_daemon: Daemon, cgroups: CgroupSet) -> None:
    """A limit set on the parent cgroup (LXC's /lxc) binds a container in the child."""
    cgroups.set_memory_limit(300 << 20, on_parent=True)
    probe = cgroups.start_probe()
    meminfo = probe.read_files(cfs_daemon.path, ["proc/meminfo"])["proc/meminfo"]
    assert meminfo.startswith("MemTotal:         307200 kB\n")


@pytest.mark.skipif(len(HOST_CPUS) < 2, reason="needs two host CPUs")
def test_cpuset_makes_every_cpu_file_agree(cfs_daemon: Daemon, cgroups: CgroupSet) -> None:
    """cpuset {1}: one CPU numbered 0 in cpuinfo, stat, online/possible/present and the
    cpu directory, whose cpu0 is the host's cpu1."""
    cgroups.set_cpuset("1")
    probe = cgroups.start_probe()
    names = ["proc/cpuinfo", "proc/stat"] + [
        f"{CPU}/{n}" for n in ("online", "possible", "present", "offline")
    ]
    texts = probe.read_files(cfs_daemon.path, [*names, f"{CPU}/cpu0/topology/core_id"])
    assert re.findall(r"^processor\t: (\d+)$", texts["proc/cpuinfo"], re.M) == ["0"]
    with open("/sys/devices/system/cpu/cpu1/topology/core_id") as host_core:
        assert texts[f"{CPU}/cpu0/topology/core_id"] == host_core.read()
    assert re.findall(r"^(cpu\d+) ", texts["proc/stat"], re.M) == ["cpu0"]
    assert [texts[f"{CPU}/{n}"] for n in ("online", "possible", "present", "offline")] == [
        "0\n",
        "0\n",
        "0\n",
        "\n",
    ]
    listing = probe.listdir(os.path.join(cfs_daemon.path, CPU))
    assert [name for name in listing if re.fullmatch(r"cpu\d+", name)] == ["cpu0"]
    assert len(listing) == len(set(listing))
    answer = probe.read_raw([os.path.join(cfs_daemon.path, CPU, "cpu1/topology/core_id")])
    assert next(iter(answer.values())).get("errno") == 2  # ENOENT: hidden host CPU


@pytest.mark.skipif(len(HOST_CPUS) < 2, reason="needs two host CPUs")
def test_cfs_quota_caps_the_cpus_only_with_enable_cfs(
    cfs_daemon: Daemon, plain_daemon: Daemon, cgroups: CgroupSet
) -> None:
    """A quota of half a CPU shows 1 CPU with --enable-cfs and every cpuset CPU without."""
    cgroups.set_cfs(50_000, 100_000)
    probe = cgroups.start_probe()
    capped = probe.read_files(cfs_daemon.path, ["proc/cpuinfo", f"{CPU}/online"])
    assert capped[f"{CPU}/online"] == "0\n"
    assert capped["proc/cpuinfo"].count("processor\t:") == 1
    plain = probe.read_files(plain_daemon.path, ["proc/cpuinfo", f"{CPU}/online"])
    assert plain[f"{CPU}/online"] == f"0-{len(HOST_CPUS) - 1}\n"
    assert plain["proc/cpuinfo"].count("processor\t:") == len(HOST_CPUS)


def test_fresh_pid_namespace_has_a_fresh_uptime(cfs_daemon: Daemon, cgroups: CgroupSet) -> None:
    """A container init started a moment ago reads an uptime of a few seconds at most, and
    its idle never exceeds uptime x its CPUs."""
    cgroups.set_cpuset("0")
    probe = cgroups.start_probe(new_pid_namespace=True)
    assert probe.namespace_pid == 1
    uptime, idle = map(
        float, probe.read_files(cfs_daemon.path, ["proc/uptime"])["proc/uptime"].split()
    )
    assert 0.0 <= uptime < 5.0
    assert 0.0 <= idle <= uptime * 1 + 0.01


def test_loadavg_counts_the_containers_tasks(cfs_daemon: Daemon, cgroups: CgroupSet) -> None:
    """With -l the first read shows zeros and the init's host pid; after a sampling pass
    the task count is the container's (the probe and its unshare parent)."""
    probe = cgroups.start_probe(new_pid_namespace=True)
    first = probe.read_files(cfs_daemon.path, ["proc/loadavg"])["proc/loadavg"]
    assert first == f"0.00 0.00 0.00 0/1 {probe.pid}\n"
    deadline = time.monotonic() + 15
    text = first
    while time.monotonic() < deadline and text == first:
        time.sleep(1)
        text = probe.read_files(cfs_daemon.path, ["proc/loadavg"])["proc/loadavg"]
    match = re.fullmatch(r"(\d+\.\d\d) (\d+\.\d\d) (\d+\.\d\d) (\d+)/(\d+) (\d+)\n", text)
    assert match is not None, text
    running, total, last = int(match[4]), int(match[5]), int(match[6])
    assert total == 2 and 0 <= running <= total  # unshare + the probe, one thread each
    assert last >= probe.pid


def test_sigusr2_toggles_and_sigusr1_keeps_the_mode() -> None:
    """SIGUSR2 switches to host files and back; SIGUSR1 (reload) keeps the mode it finds
    (the switch carries over a live reload); neither ends the daemon."""
    with lxcfs_fuse_mount(()) as daemon, container_cgroups() as cgroups:
        cgroups.set_memory_limit(256 << 20)
        probe = cgroups.start_probe()

        def mem_total() -> int:
            text = probe.read_files(daemon.path, ["proc/meminfo"])["proc/meminfo"]
            return _meminfo_kb(text)["MemTotal"]

        assert mem_total() == 262144
        daemon.process.send_signal(signal.SIGUSR2)
        assert wait_until(lambda: mem_total() == _host_kb("MemTotal"))
        daemon.process.send_signal(signal.SIGUSR1)
        assert wait_until(lambda: "SIGUSR1: reloaded" in daemon.log(), timeout=15)
        assert mem_total() == _host_kb("MemTotal")
        daemon.process.send_signal(signal.SIGUSR2)
        assert wait_until(lambda: mem_total() == 262144)
        daemon.process.send_signal(signal.SIGUSR1)
        assert wait_until(lambda: daemon.log().count("SIGUSR1: reloaded") == 2, timeout=15)
        assert mem_total() == 262144
        assert daemon.process.poll() is None
        assert "switched into non-virtualization mode" in daemon.log()
