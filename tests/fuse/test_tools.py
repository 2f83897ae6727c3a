"""A container-like probe (own pid and mount namespace, limited cgroups) with our files
bind-mounted over its /proc and /sys/devices/system/cpu, as LXCFS's README does for Docker
and LXC, runs the real tools; they report the container's limits."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.fuse.daemon import Daemon, lxcfs_fuse_mount
from tests.system.harness import Probe, container_cgroups

pytestmark = pytest.mark.root

PROC_FILES = ("cpuinfo", "diskstats", "loadavg", "meminfo", "stat", "swaps", "uptime")
MEMORY_LIMIT = 256 << 20


@pytest.fixture(scope="module")
def container() -> Iterator[Probe]:
    """256 MiB, half a CPU of CFS quota on every host CPU, lxcfs-fuse --enable-cfs -l bound
    into the probe's private mount namespace."""
    with lxcfs_fuse_mount(("-l", "--enable-cfs")) as daemon, container_cgroups() as cgroups:
        cgroups.set_memory_limit(MEMORY_LIMIT)
        cgroups.set_cfs(50_000, 100_000)
        probe = cgroups.start_probe(new_pid_namespace=True)
        _bind(probe, daemon)
        yield probe


def _bind(probe: Probe, daemon: Daemon) -> None:
    binds = [(f"{daemon.path}/proc/{name}", f"/proc/{name}") for name in PROC_FILES]
    binds.append((f"{daemon.path}/sys/devices/system/cpu", "/sys/devices/system/cpu"))
    script = " && ".join(f"mount --bind {source} {target}" for source, target in binds)
    done = probe.run(["sh", "-c", script])
    assert done.returncode == 0, done.stderr


def _run(probe: Probe, *argv: str) -> str:
    done = probe.run(list(argv))
    assert done.returncode == 0, (argv, done.stderr)
    return done.stdout


def test_free_reports_the_memory_limit(container: Probe) -> None:
    """free -k shows the 256 MiB limit as total memory."""
    mem = next(
        line for line in _run(container, "free", "-k").splitlines() if line.startswith("Mem:")
    )
    assert mem.split()[1] == str(MEMORY_LIMIT // 1024)


def test_cpu_counts_follow_the_quota(container: Probe) -> None:
    """getconf _NPROCESSORS_ONLN and Python's os.cpu_count() both say 1 (half a CPU)."""
    assert _run(container, "getconf", "_NPROCESSORS_ONLN").strip() == "1"
    assert _run(container, "python3", "-c", "import os; print(os.cpu_count())").strip() == "1"


def test_uptime_is_the_containers(container: Probe) -> None:
    """uptime(1) shows the container's few seconds (or minutes) and its load averages."""
    output = _run(container, "uptime")
    assert re.search(r"up\s+(\d+ min|0:0\d|\d+ sec)", output), output
    assert re.search(r"load average: \d+\.\d\d, \d+\.\d\d, \d+\.\d\d", output), output


def test_top_shows_the_container(container: Probe) -> None:
    """top -bn1's header shows 256 MiB of memory and one CPU's worth of time."""
    output = _run(container, "top", "-bn1")
    memory = re.search(r"MiB Mem :\s+([\d.]+) total", output)
    assert memory is not None and float(memory.group(1)) == MEMORY_LIMIT / (1 << 20), output
    assert "%Cpu(s)" in output
    uptime = re.search(r"^top - \S+ up\s+(\d+) min", output, re.M)
    assert uptime is not None and int(uptime.group(1)) < 5, output.splitlines()[0]
