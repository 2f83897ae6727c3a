"""Differential: Debian's lxcfs 5.0.3 and lxcfs-fuse, same options (-l --enable-cfs), read
back-to-back by one probe in the same cgroups, file by file.

Equal where we mean to match; numbers that move between the two reads (host counters, the
cgroup's own usage) within the tolerances below; every deliberate difference listed in
docs/differences-fuse.md is asserted to be exactly that difference.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fuse.daemon import Daemon, lxcfs_fuse_mount
from tests.system.harness import CgroupSet, LxcfsMount, Probe, container_cgroups, lxcfs_mount

pytestmark = [pytest.mark.root, pytest.mark.lxcfs]

CPU = "sys/devices/system/cpu"
#: kB a memory figure may move between the two reads of one probe (page cache, slab).
MEMORY_TOLERANCE_KB = 4096
#: Lines both daemons pass through from the host (Committed_AS, KernelStack, ...) move with
#: everything else the machine runs between the two reads: they get a wider band, a share of
#: the value or 64 MiB, whichever is larger.
HOST_LINE_TOLERANCE_KB = 65536
HOST_LINE_TOLERANCE_SHARE = 0.05
#: The lines 5.0.3 and we compute from the container's cgroup (spec 3.2's table).
CONTAINER_LINES = frozenset(
    [
        "MemTotal",
        "MemFree",
        "MemAvailable",
        "Buffers",
        "Cached",
        "SwapCached",
        "Active",
        "Inactive",
        "Active(anon)",
        "Inactive(anon)",
        "Active(file)",
        "Inactive(file)",
        "Unevictable",
        "SwapTotal",
        "SwapFree",
        "Dirty",
        "Writeback",
        "AnonPages",
        "Mapped",
        "Shmem",
        "Slab",
        "SReclaimable",
        "SUnreclaim",
        "ShmemHugePages",
        "ShmemPmdMapped",
        "AnonHugePages",
    ]
)
#: Seconds between the two uptime reads, generously.
UPTIME_TOLERANCE = 0.5
SHMEM_BYTES = 16 << 20


@pytest.fixture(scope="module")
def mounts() -> Iterator[tuple[LxcfsMount, Daemon]]:
    """Both daemons with -l --enable-cfs."""
    with (
        lxcfs_mount(("-l", "--enable-cfs")) as theirs,
        lxcfs_fuse_mount(("-l", "--enable-cfs")) as ours,
    ):
        yield theirs, ours


@pytest.fixture
def container() -> Iterator[tuple[CgroupSet, Probe]]:
    """Appendix B's container: 256 MiB RAM, 512 MiB RAM+swap, cpuset {1} (or {0} on a
    one-CPU host), CFS 50000/100000, a probe as the init of a fresh pid namespace."""
    with container_cgroups() as cgroups:
        cgroups.set_memory_limit(256 << 20, memsw=512 << 20)
        cgroups.set_cpuset("1" if os.path.isdir("/sys/devices/system/cpu/cpu1") else "0")
        cgroups.set_cfs(50_000, 100_000)
        yield cgroups, cgroups.start_probe(new_pid_namespace=True)


def _both(
    probe: Probe, mounts: tuple[LxcfsMount, Daemon], relative: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    theirs, ours = mounts
    answers = probe.read_raw([f"{theirs.path}/{relative}", f"{ours.path}/{relative}"])
    return answers[f"{theirs.path}/{relative}"], answers[f"{ours.path}/{relative}"]


def _texts(probe: Probe, mounts: tuple[LxcfsMount, Daemon], relative: str) -> tuple[str, str]:
    theirs, ours = _both(probe, mounts, relative)
    assert "text" in theirs and "text" in ours, (relative, theirs, ours)
    return theirs["text"], ours["text"]


def _kb(text: str) -> dict[str, int]:
    return {
        line.partition(":")[0]: int(line.partition(":")[2].split()[0]) for line in text.splitlines()
    }


def test_identical_files(
    mounts: tuple[LxcfsMount, Daemon], container: tuple[CgroupSet, Probe]
) -> None:
    """cpuinfo, online, swaps and the first loadavg read are byte for byte 5.0.3's."""
    _, probe = container
    for relative in ("proc/cpuinfo", f"{CPU}/online", "proc/swaps", "proc/loadavg"):
        theirs, ours = _texts(probe, mounts, relative)
        assert ours == theirs, relative


def test_meminfo_matches_within_tolerance(
    mounts: tuple[LxcfsMount, Daemon], container: tuple[CgroupSet, Probe]
) -> None:
    """Same lines in the same order; limits exact; moving figures within tolerance."""
    _, probe = container
    theirs_text, ours_text = _texts(probe, mounts, "proc/meminfo")
    theirs, ours = _kb(theirs_text), _kb(ours_text)
    assert list(ours) == list(theirs)
    for label in ("MemTotal", "SwapTotal", "SwapFree"):
        assert ours[label] == theirs[label], label
    for label in theirs:
        difference = abs(ours[label] - theirs[label])
        if label in CONTAINER_LINES:
            assert difference <= MEMORY_TOLERANCE_KB, (label, ours[label], theirs[label])
        else:
            band = max(HOST_LINE_TOLERANCE_KB, HOST_LINE_TOLERANCE_SHARE * theirs[label])
            assert difference <= band, (label, ours[label], theirs[label])


def test_memavailable_leaves_out_shmem(
    mounts: tuple[LxcfsMount, Daemon], container: tuple[CgroupSet, Probe]
) -> None:
    """Deliberate (7.0's formula): with 16 MiB of tmpfs charged to the container, 5.0.3's
    MemAvailable (free + cache) counts it and ours (free + file LRU) does not."""
    _, probe = container
    shm = f"/dev/shm/lxcfs_py_test_{os.getpid()}"
    done = probe.run(["sh", "-c", f"head -c {SHMEM_BYTES} /dev/zero > {shm}"])
    try:
        assert done.returncode == 0, done.stderr
        theirs, ours = (_kb(text) for text in _texts(probe, mounts, "proc/meminfo"))
        assert ours["MemFree"] == pytest.approx(theirs["MemFree"], abs=MEMORY_TOLERANCE_KB)
        difference = theirs["MemAvailable"] - ours["MemAvailable"]
        assert abs(difference - SHMEM_BYTES // 1024) <= MEMORY_TOLERANCE_KB
    finally:
        probe.run(["rm", "-f", shm])


def test_uptime_age_matches_and_idle_stays_within_the_cpus(
    mounts: tuple[LxcfsMount, Daemon], container: tuple[CgroupSet, Probe]
) -> None:
    """The age agrees within the time between the reads; our idle is at most age x CPUs
    (deliberate: 5.0.3 prints age - busy)."""
    _, probe = container
    theirs, ours = (list(map(float, text.split())) for text in _texts(probe, mounts, "proc/uptime"))
    assert abs(ours[0] - theirs[0]) <= UPTIME_TOLERANCE
    assert 0 <= ours[1] <= ours[0] * 1 + 0.01  # one visible CPU


def test_stat_has_the_same_lines(
    mounts: tuple[LxcfsMount, Daemon], container: tuple[CgroupSet, Probe]
) -> None:
    """Same labels in the same order (cpu, cpu0, then the host's lines); btime exact; host
    counters within tolerance; the CPU view counters are small and non-negative on both."""
    _, probe = container
    theirs, ours = (
        {line.split()[0]: line.split()[1:] for line in text.splitlines()}
        for text in _texts(probe, mounts, "proc/stat")
    )
    assert list(ours) == list(theirs)
    assert [label for label in ours if re.fullmatch(r"cpu\d+", label)] == ["cpu0"]
    assert ours["btime"] == theirs["btime"]
    assert abs(int(ours["processes"][0]) - int(theirs["processes"][0])) <= 50
    for label in ("cpu", "cpu0"):
        assert len(ours[label]) == len(theirs[label]) == 10
        assert all(0 <= int(value) <= 100 * 60 for value in ours[label])


def test_diskstats_shows_only_the_containers_io(
    mounts: tuple[LxcfsMount, Daemon], container: tuple[CgroupSet, Probe]
) -> None:
    """Deliberate: 5.0.3 serves the host file here (no CFQ blkio files); we count the
    container's blkio.throttle I/O: every line is a host device, in the host's columns,
    with counters no larger than the host's."""
    _, probe = container
    theirs_text, ours_text = _texts(probe, mounts, "proc/diskstats")
    host = {tuple(line.split()[:3]): line.split()[3:] for line in theirs_text.splitlines()}
    for line in ours_text.splitlines():
        fields = line.split()
        assert tuple(fields[:3]) in host, line
        assert len(fields[3:]) == len(host[tuple(fields[:3])])
        assert all(
            int(o) <= int(h) for o, h in zip(fields[3:], host[tuple(fields[:3])], strict=True)
        )


def test_sys_cpu_view_is_coherent(
    mounts: tuple[LxcfsMount, Daemon], container: tuple[CgroupSet, Probe]
) -> None:
    """Deliberate: 5.0.3 lists every host cpuN (and online twice) and passes possible and
    present through; we list cpu0 only, once each, and possible = present = online."""
    _, probe = container
    theirs_mount, ours_mount = mounts
    ours = probe.listdir(os.path.join(ours_mount.path, CPU))
    theirs = probe.listdir(os.path.join(theirs_mount.path, CPU))
    host_cpus = sorted(
        n for n in os.listdir("/sys/devices/system/cpu") if re.fullmatch(r"cpu\d+", n)
    )
    assert sorted(n for n in set(theirs) if re.fullmatch(r"cpu\d+", n)) == host_cpus
    assert [n for n in ours if re.fullmatch(r"cpu\d+", n)] == ["cpu0"]
    assert len(ours) == len(set(ours))
    assert set(ours) - {"cpu0"} == set(theirs) - set(host_cpus) - {".", ".."}
    for name in ("possible", "present"):
        theirs_text, ours_text = _texts(probe, mounts, f"{CPU}/{name}")
        with open(f"/sys/devices/system/cpu/{name}") as host:
            assert theirs_text == host.read()
        assert ours_text == "0\n"


def test_pressure_files_exist_only_in_ours(
    mounts: tuple[LxcfsMount, Daemon], container: tuple[CgroupSet, Probe]
) -> None:
    """Deliberate (7.0 layout): proc/pressure/* exist; on v1 they are the host's files."""
    _, probe = container
    for name in ("cpu", "io", "memory"):
        theirs, ours = _both(probe, mounts, f"proc/pressure/{name}")
        assert theirs.get("errno") == 2  # ENOENT in 5.0.3
        host_path = f"/proc/pressure/{name}"
        if os.path.exists(host_path):
            assert ours["text"].split("\n")[0].split()[0] == "some"


def test_slabinfo_has_the_same_header(
    mounts: tuple[LxcfsMount, Daemon], container: tuple[CgroupSet, Probe]
) -> None:
    """Both serve slabinfo 2.1 with the same header and the same cache names."""
    _, probe = container
    theirs, ours = _texts(probe, mounts, "proc/slabinfo")
    assert ours.splitlines()[:2] == theirs.splitlines()[:2]
    assert [line.split()[0] for line in ours.splitlines()[2:]] == [
        line.split()[0] for line in theirs.splitlines()[2:]
    ]
