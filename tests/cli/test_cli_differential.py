"""Differential: lxcfs-render against Debian's lxcfs 5.0.3, for the same real v1 container.

One container (tests/system/harness.py): cgroups with 256 MiB of RAM, 512 MiB RAM+swap and
cpuset {1} (or {0} on a one-CPU host), a probe as the init of a fresh pid namespace. The
probe reads Debian's lxcfs mount (default options: no --enable-cfs, no -l); right after,
``lxcfs-render FILE --pid <probe>`` (the installed console script) renders the same file.

Equal where we mean to match; numbers that move between the two reads within the stated
tolerances; every deliberate difference (docs/behaviour.md) asserted to be exactly it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcfs_model import format_cpuset, parse_cpuset
from tests.system.harness import CgroupSet, LxcfsMount, Probe, container_cgroups, lxcfs_mount

pytestmark = [pytest.mark.root, pytest.mark.lxcfs]

#: kB a memory figure of the container may move between the two reads (its page cache).
MEMORY_TOLERANCE_KB = 2048
#: kB (or 1 %) a host line may move between the two reads on a busy shared machine. The
#: largest mover is Committed_AS: lxcfs-render itself, a ~30 MB Python process, is counted
#: in it during its own read, and other tests start and stop processes meanwhile.
HOST_TOLERANCE_KB = 65536
#: Seconds of CPU time the probe may use between the two reads (it is asleep).
BUSY_TOLERANCE = 0.05
SHMEM_BYTES = 16 << 20
MEMORY_LINES = (
    "MemFree", "MemAvailable", "Cached", "Active", "Inactive", "Active(anon)",
    "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Dirty", "Writeback",
    "AnonPages", "Mapped", "Shmem",
)  # fmt: skip
ZERO_IN_BOTH = ("Buffers", "SwapCached", "Slab", "SReclaimable", "SUnreclaim")


def _console_script() -> str:
    beside_python = Path(sys.executable).parent / "lxcfs-render"
    found = str(beside_python) if beside_python.exists() else shutil.which("lxcfs-render")
    assert found, "the lxcfs-render console script is not installed (pip install -e .)"
    return found


@pytest.fixture(scope="module")
def debian_lxcfs() -> Iterator[LxcfsMount]:
    """Debian's lxcfs with its default options (as lxcfs-render's defaults)."""
    with lxcfs_mount(()) as mount:
        yield mount


@pytest.fixture(scope="module")
def container(debian_lxcfs: LxcfsMount) -> Iterator[tuple[CgroupSet, Probe]]:
    """The container above, and its probe (the init of its own pid namespace). The probe gets
    its own mount namespace (--mount-proc), so lxcfs must be mounted before it starts."""
    with container_cgroups() as cgroups:
        cgroups.set_memory_limit(256 << 20, memsw=512 << 20)
        cgroups.set_cpuset("1" if os.path.isdir("/sys/devices/system/cpu/cpu1") else "0")
        yield cgroups, cgroups.start_probe(new_pid_namespace=True)


def _both(
    container: tuple[CgroupSet, Probe], lxcfs: LxcfsMount, name: str
) -> tuple[str, str, float]:
    """(Debian's text as the probe reads it, lxcfs-render's text, seconds between them)."""
    _, probe = container
    started = time.monotonic()
    theirs = probe.read_files(lxcfs.path, [name])[name]
    done = subprocess.run(
        [_console_script(), name, "--pid", str(probe.pid)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return theirs, done.stdout, time.monotonic() - started


def _kb(text: str) -> dict[str, int]:
    return {
        line.partition(":")[0]: int(line.partition(":")[2].split()[0]) for line in text.splitlines()
    }


def _stat(cgroups: CgroupSet) -> dict[str, int]:
    lines = cgroups.read("memory", "memory.stat").splitlines()
    return {key: int(value) for key, value in (line.split() for line in lines)}


def test_cpuinfo_and_swaps_are_identical(
    container: tuple[CgroupSet, Probe], debian_lxcfs: LxcfsMount
) -> None:
    """cpuinfo (renumbered in both) and swaps (header only: no host swap) match byte for byte."""
    for name in ("proc/cpuinfo", "proc/swaps"):
        theirs, ours, _ = _both(container, debian_lxcfs, name)
        assert ours == theirs, name
    theirs, _, _ = _both(container, debian_lxcfs, "proc/cpuinfo")
    assert theirs.count("processor\t:") == 1 and theirs.startswith("processor\t: 0\n")


def test_online_is_renumbered(container: tuple[CgroupSet, Probe], debian_lxcfs: LxcfsMount) -> None:
    """online: 5.0.3 prints the host CPU numbers of the cpuset, we print 0..k-1 (deliberate)."""
    cgroups, _ = container
    cpuset = parse_cpuset(cgroups.read("cpuset", "cpuset.cpus"))
    theirs, ours, _ = _both(container, debian_lxcfs, "sys/devices/system/cpu/online")
    assert theirs == format_cpuset(cpuset) + "\n"
    assert ours == format_cpuset(frozenset(range(len(cpuset)))) + "\n"


def test_meminfo_matches_except_memavailable(
    container: tuple[CgroupSet, Probe], debian_lxcfs: LxcfsMount
) -> None:
    """meminfo: same lines in the same order, limits exact, moving figures within tolerance."""
    theirs_text, ours_text, _ = _both(container, debian_lxcfs, "proc/meminfo")
    theirs, ours = _kb(theirs_text), _kb(ours_text)
    assert list(ours) == list(theirs)
    assert ours["MemTotal"] == theirs["MemTotal"] == 262144
    assert (ours["SwapTotal"], ours["SwapFree"]) == (theirs["SwapTotal"], theirs["SwapFree"])
    for label in ZERO_IN_BOTH:
        assert ours[label] == theirs[label] == 0, label
    for label in MEMORY_LINES:
        assert abs(ours[label] - theirs[label]) <= MEMORY_TOLERANCE_KB, (label, ours, theirs)
    computed = {"MemTotal", "SwapTotal", "SwapFree", "MemAvailable", *MEMORY_LINES, *ZERO_IN_BOTH}
    for label in set(ours) - computed:  # host lines, passed through by both
        tolerance = max(HOST_TOLERANCE_KB, theirs[label] // 100)
        assert abs(ours[label] - theirs[label]) <= tolerance, (label, ours, theirs)


def test_memavailable_uses_the_file_lru_not_the_cache(
    container: tuple[CgroupSet, Probe], debian_lxcfs: LxcfsMount
) -> None:
    """MemAvailable: 5.0.3 adds the page cache (shmem too), we add the file LRU lists (7.0)."""
    cgroups, probe = container
    shm = f"/dev/shm/lxcfs_py_test_render_{os.getpid()}"
    done = probe.run(["sh", "-c", f"head -c {SHMEM_BYTES} /dev/zero > {shm}"])
    assert done.returncode == 0, done.stderr
    try:
        theirs_text, ours_text, _ = _both(container, debian_lxcfs, "proc/meminfo")
        stat = _stat(cgroups)
    finally:
        probe.run(["rm", "-f", shm])
    theirs, ours = _kb(theirs_text), _kb(ours_text)
    theirs_added = theirs["MemAvailable"] - theirs["MemFree"]
    ours_added = ours["MemAvailable"] - ours["MemFree"]
    assert abs(theirs_added - stat["total_cache"] // 1024) <= MEMORY_TOLERANCE_KB
    file_lru = (stat["total_active_file"] + stat["total_inactive_file"]) // 1024
    assert abs(ours_added - file_lru) <= MEMORY_TOLERANCE_KB
    # The 16 MiB of shmem are cache but not file LRU: available to 5.0.3 only.
    assert theirs_added - ours_added >= SHMEM_BYTES // 1024 - MEMORY_TOLERANCE_KB


def test_uptime_age_matches_and_idle_counts_every_visible_cpu(
    container: tuple[CgroupSet, Probe], debian_lxcfs: LxcfsMount
) -> None:
    """uptime: same age; idle is age - busy in 5.0.3 and age x k - busy in ours (k CPUs)."""
    cgroups, _ = container
    k = len(parse_cpuset(cgroups.read("cpuset", "cpuset.cpus")))
    theirs_text, ours_text, elapsed = _both(container, debian_lxcfs, "proc/uptime")
    their_age, their_idle = (float(n) for n in theirs_text.split())
    our_age, our_idle = (float(n) for n in ours_text.split())
    assert ours_text == f"{our_age:.2f} {our_idle:.2f}\n"
    assert 0 <= our_age - their_age <= elapsed + 0.02
    their_busy = their_age - their_idle
    our_busy = our_age * k - our_idle
    assert abs(our_busy - their_busy) <= BUSY_TOLERANCE + 0.02 * k


def test_uptime_idle_difference_with_every_cpu(debian_lxcfs: LxcfsMount) -> None:
    """With k > 1 visible CPUs our idle exceeds 5.0.3's by (k - 1) x age, give or take busy."""
    online = parse_cpuset(Path("/sys/devices/system/cpu/online").read_text())
    if len(online) < 2:
        pytest.skip("needs two online CPUs to tell age x k from age")
    with container_cgroups() as cgroups:
        cgroups.set_cpuset(format_cpuset(online))
        probe = cgroups.start_probe(new_pid_namespace=True)
        time.sleep(1.0)  # an age the difference can be seen in
        theirs_text, ours_text, elapsed = _both((cgroups, probe), debian_lxcfs, "proc/uptime")
    their_age, their_idle = (float(n) for n in theirs_text.split())
    our_age, our_idle = (float(n) for n in ours_text.split())
    k = len(online)
    assert our_age >= 1.0
    expected = their_idle + (k - 1) * their_age + k * (our_age - their_age)
    assert abs(our_idle - expected) <= BUSY_TOLERANCE + 0.02 * k + k * elapsed
    assert our_idle - their_idle >= (k - 1) * their_age - BUSY_TOLERANCE - 0.02 * k
