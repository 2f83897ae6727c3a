"""SystemReader against real cgroup-v1 containers made by the harness (this hybrid host).

Each test builds its own container-like cgroup set, so the expected values are the ones the
test wrote: limits on the parent or the child, a cpuset, a CFS quota.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from lxcfs_model.io import SystemReader
from lxcfs_model.values import LimitLevel, QuotaLevel, effective_limit
from tests.system.harness import (
    children_of,
    container_cgroups,
    lxcfs_mount,
    own_cgroup_path,
    require_v1_cgroups,
    wait_until,
)

pytestmark = pytest.mark.root

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _needs_v1() -> None:
    require_v1_cgroups()


def test_memory_limit_on_parent_only() -> None:
    """A limit set on the parent only shows at the parent's level; the effective limit is it."""
    with container_cgroups() as cgroups:
        cgroups.set_memory_limit(256 * MiB, 512 * MiB, on_parent=True)
        probe = cgroups.start_probe(new_pid_namespace=True)
        memory = SystemReader().view_for_pid(probe.pid).memory
        assert memory is not None
        child, parent = cgroups.child_paths["memory"], cgroups.parent_paths["memory"]
        assert memory.path == child
        assert memory.limits[:2] == (LimitLevel(child, None), LimitLevel(parent, 256 * MiB))
        assert [level.path for level in memory.limits[2:]][-1] == "/"
        assert effective_limit(memory.limits) == LimitLevel(parent, 256 * MiB)
        assert memory.swap is not None
        assert memory.swap.limits[1] == LimitLevel(parent, 512 * MiB)
        assert memory.swap.usage >= memory.usage > 0


def test_cpuset_and_quota_on_child() -> None:
    """cpuset.cpus and the CFS quota of the child are read from their own hierarchies; the
    parent's quota is its own level."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 CPUs")
    with container_cgroups() as cgroups:
        cgroups.set_cpuset("1")
        cgroups.set_cfs(50000, 100000)
        cgroups.set_cfs(150000, 100000, on_parent=True)
        probe = cgroups.start_probe(new_pid_namespace=True)
        view = SystemReader().view_for_pid(probe.pid)
        assert view.cpuset is not None and view.cpuset.cpus == frozenset({1})
        assert view.cpu is not None
        assert view.cpu.quotas == (
            QuotaLevel(cgroups.child_paths["cpu"], 50000, 100000),
            QuotaLevel(cgroups.parent_paths["cpu"], 150000, 100000),
        )
        assert view.cpu_usage is not None and view.cpu_usage.path == cgroups.child_paths["cpuacct"]
        assert view.io is not None and view.io.path == cgroups.child_paths["blkio"]
        assert view.pressure is None  # hybrid: no per-container PSI


def test_namespace_init_resolves_to_itself() -> None:
    """The init of a fresh pid namespace is its own container; its init start time is its
    own /proc/<pid>/stat field 22."""
    with container_cgroups() as cgroups:
        probe = cgroups.start_probe(new_pid_namespace=True)
        reader = SystemReader()
        container = reader.resolve_pid(probe.pid)
        assert probe.namespace_pid == 1
        assert container.target_pid == probe.pid
        assert container.init_pid == probe.pid
        assert container.pid_namespace != reader.pid_namespace_inode("self")
        assert container.cgroup_paths["memory"] == cgroups.child_paths["memory"]
        view = reader.view_for_container(container)
        assert view.init is not None and view.init.pid == probe.pid
        with open(f"/proc/{probe.pid}/stat") as stat:
            assert view.init.start_ticks == int(stat.read().rsplit(")", 1)[1].split()[19])


def test_process_in_namespace_resolves_to_its_init() -> None:
    """A child process inside the namespace resolves to the namespace's init."""
    with container_cgroups() as cgroups:
        probe = cgroups.start_probe(new_pid_namespace=True)
        probe.run(["sh", "-c", "sleep 60 >/dev/null 2>&1 &"])
        assert wait_until(lambda: len(children_of(probe.pid)) == 1)
        (sleeper,) = children_of(probe.pid)
        try:
            container = SystemReader().resolve_pid(sleeper)
            assert (container.caller_pid, container.target_pid) == (sleeper, probe.pid)
            assert container.init_pid == probe.pid
        finally:
            os.kill(sleeper, signal.SIGKILL)  # our own sleep, a child of our probe


def test_host_process_resolves_to_itself() -> None:
    """A probe in the host pid namespace is its own container, with host pid 1 as init."""
    with container_cgroups() as cgroups:
        probe = cgroups.start_probe()
        container = SystemReader().resolve_pid(probe.pid)
        assert container.target_pid == probe.pid
        assert container.init_pid == 1
        assert container.cgroup_paths["cpu"] == cgroups.child_paths["cpu"]


def test_init_scope_is_pruned() -> None:
    """An init in <ct>/init.scope resolves to <ct> in every hierarchy."""
    with container_cgroups() as cgroups:
        probe = cgroups.start_probe(new_pid_namespace=True, subgroup="init.scope")
        assert own_cgroup_path("cpu", probe.pid) == cgroups.child_paths["cpu"] + "/init.scope"
        container = SystemReader().resolve_pid(probe.pid)
        for controller in ("memory", "cpu", "cpuacct", "cpuset", "blkio"):
            assert container.cgroup_paths[controller] == cgroups.child_paths[controller]


def test_vanished_process() -> None:
    """A process that exited is NoSuchProcess, not an OSError."""
    from lxcfs_model.errors import NoSuchProcess

    with container_cgroups() as cgroups:
        probe = cgroups.start_probe()
        pid = probe.pid
        probe.stop()
        assert wait_until(lambda: not os.path.exists(f"/proc/{pid}"))
        with pytest.raises(NoSuchProcess):
            SystemReader().view_for_pid(pid)


def test_live_clock_and_host() -> None:
    """The live clock is CLOCK_BOOTTIME (close to /proc/uptime), clk_tck from sysconf."""
    reader = SystemReader()
    with open("/proc/uptime") as uptime:
        proc_uptime = float(uptime.read().split()[0])
    assert abs(reader.clock().boottime - proc_uptime) < 1.0
    assert reader.host_snapshot().clk_tck == os.sysconf("SC_CLK_TCK")
    assert reader.layout.kind == "hybrid"


@pytest.mark.lxcfs
def test_reader_and_debian_lxcfs_agree_on_memtotal() -> None:
    """Debian's lxcfs, read from inside the probe, shows the effective limit the reader
    finds (the limit sits on the parent only)."""
    with container_cgroups() as cgroups, lxcfs_mount() as lxcfs:
        cgroups.set_memory_limit(256 * MiB, 512 * MiB, on_parent=True)
        probe = cgroups.start_probe(new_pid_namespace=True)
        time.sleep(0.1)
        meminfo = probe.read_files(lxcfs.path, ["proc/meminfo"])["proc/meminfo"]
        memory = SystemReader().view_for_pid(probe.pid).memory
        assert memory is not None
        limit = effective_limit(memory.limits)
        assert limit is not None and limit.limit is not None
        assert meminfo.splitlines()[0] == f"MemTotal:       {limit.limit // 1024:8d} kB"
