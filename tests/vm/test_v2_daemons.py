"""lxcfs-fuse, Debian's lxcfs 5.0.3 and the real tools on pure cgroup v2 (runs in the VM).

One container for every test here, like a systemd container under LXC: a parent cgroup with
memory.max 256 MiB and memory.swap.max 32 MiB (on the parent only), its child ``c1`` with
cpu.max 0.5 CPU, and the container's init in ``c1/init.scope``, in its own pid, cgroup and
mount namespaces. Both daemons run with ``-l --enable-cfs`` and see the same init: lxcfs
resolves a caller to the init of its pid namespace and prunes ``/init.scope``, so both must
serve ``c1``'s view. The init wrote 2 MiB to the VM's disk with direct I/O before reading.

The differential keeps the deliberate differences (``DELIBERATE_DIFFERENCES``, also in
docs/cgroup-v2.md) as data: everything not listed there must agree.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Sequence

import pytest
from v2_harness import (
    FuseMount,
    V2Cgroups,
    debian_daemon_argv,
    flat_keyed,
    fuse_mount,
    our_daemon_argv,
    read_text,
    v2_cgroups,
    v2_problem,
)

from lxcfs_model.host_memory import COMPUTED_LABELS

pytestmark = pytest.mark.vm

MIB = 1024 * 1024
IO_DISK = os.environ.get("LXCFS_VM_DISK", "/dev/vda")
WRITTEN_BYTES = 2 * MIB
FILES = (
    "proc/meminfo",
    "proc/cpuinfo",
    "proc/stat",
    "proc/uptime",
    "proc/loadavg",
    "proc/diskstats",
    "proc/swaps",
    "sys/devices/system/cpu/online",
)
# The computed meminfo lines that differ on purpose (DELIBERATE_DIFFERENCES says how); the
# others must agree within what a container's usage moves between two reads.
DELIBERATELY_DIFFERENT_MEMINFO = frozenset(
    {"SwapTotal", "SwapFree", "MemAvailable", "Slab", "SReclaimable", "SUnreclaim", "Mapped"}
    | {"Zswap", "Zswapped"}
)
USAGE_DRIFT_KB = 4096
PRESSURE_FILES = ("proc/pressure/cpu", "proc/pressure/io", "proc/pressure/memory")

# Where lxcfs-fuse differs from Debian's lxcfs 5.0.3 on cgroup v2, on purpose (the issue or
# upstream 7.0 asks for better), and what each side shows instead.
DELIBERATE_DIFFERENCES = {
    "meminfo Zswap/Zswapped": "5.0.3 passes the host's lines; we show memory.stat zswap keys",
    "meminfo SwapTotal/SwapFree": (
        "5.0.3 looks for memory.swap.* at the hierarchy root, which cgroup v2 never has, so "
        "it shows no swap; we show memory.swap.max (32 MiB here)"
    ),
    "meminfo MemAvailable": (
        "5.0.3: MemFree + file cache; we: MemFree + active_file + inactive_file + "
        "slab_reclaimable (upstream 7.0)"
    ),
    "meminfo Slab/SReclaimable/SUnreclaim": "5.0.3: 0; we: memory.stat slab keys (7.0)",
    "meminfo Mapped": "5.0.3: 0 on v2 (prefix-match quirk); we: memory.stat file_mapped",
    "meminfo KReclaimable and other host lines": "passed through by both, read moments apart",
    "stat cpuN lines": (
        "5.0.3 lists every cpuset CPU in /proc/stat on v2 even when --enable-cfs shows fewer "
        "in cpuinfo and online (2 lines next to 1 processor here); we show the same CPUs "
        "everywhere"
    ),
    "stat cpuN values": (
        "5.0.3 copies the host's times of the shown CPUs on v2 (no cpuacct); we show the "
        "container's own user/system time from cpu.stat"
    ),
    "stat intr/ctxt/processes/procs_*/softirq": "host lines, read moments apart",
    "uptime idle": "5.0.3: idle = uptime on v2; we: uptime minus the init cgroup's CPU time",
    "diskstats": (
        "5.0.3 serves the host's file on v2 (never reads io.stat); we show the container's "
        "io.stat per device"
    ),
    "swaps": "5.0.3: header only on v2; we: one line of memory.swap.max",
}


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def our_mount() -> Iterator[FuseMount]:
    """lxcfs-fuse from this checkout, ``-l --enable-cfs``."""
    _require_v2()
    with fuse_mount("lxcfs-fuse", our_daemon_argv) as mount:
        yield mount


@pytest.fixture(scope="module")
def debian_mount() -> Iterator[FuseMount]:
    """Debian's lxcfs 5.0.3, ``-l --enable-cfs``."""
    _require_v2()
    with fuse_mount("debian-lxcfs", debian_daemon_argv) as mount:
        yield mount


@pytest.fixture
def container() -> Iterator[V2Cgroups]:
    """The container's cgroups (see the module docstring)."""
    _require_v2()
    with v2_cgroups() as cgroups:
        cgroups.write("", "memory.max", 256 * MIB)
        cgroups.write("", "memory.swap.max", 32 * MIB)
        cgroups.make("c1", delegate=True)
        cgroups.write("c1", "cpu.max", "50000 100000")
        cgroups.make("c1/init.scope")
        yield cgroups


def _require_v2() -> None:
    problem = v2_problem()
    if problem is not None:
        pytest.fail(f"the VM is not the pure cgroup-v2 machine it should be: {problem}")


def container_init_reads(
    container: V2Cgroups,
    mounts: Sequence[FuseMount],
    files: Sequence[str],
    *,
    then: str = "",
) -> dict[tuple[str, str], str]:
    """Start the container's init (new pid, cgroup and mount namespaces, in
    ``c1/init.scope``), write 2 MiB to the disk from it, read ``files`` through each mount
    from its children, run the shell commands ``then``; {(mount name or "then", file): text}."""
    steps = [
        f"dd if=/dev/zero of={IO_DISK} bs=64k count={WRITTEN_BYTES // 65536} oflag=direct"
        " status=none || exit 90"
    ]
    for file in files:  # each file from every mount back to back: read moments apart
        for mount in mounts:
            steps.append(f"echo '@@@ {mount.name} {file}'; cat {shlex.quote(mount.path)}/{file}")
    if then:
        steps.append(f"echo '@@@ then -'; {then}")
    done = container.run("c1/init.scope", ["sh", "-c", "\n".join(steps)], namespaced=True)
    assert done.returncode == 0, done.stderr
    texts: dict[tuple[str, str], str] = {}
    key = ("", "")
    for line in done.stdout.splitlines(keepends=True):
        if line.startswith("@@@ "):
            name, file = line.split()[1:3]
            key = (name, file)
            texts[key] = ""
        else:
            texts[key] += line
    return texts


def meminfo_kb(text: str) -> dict[str, int]:
    values = {}
    for line in text.splitlines():
        label, _, rest = line.partition(":")
        values[label] = int(rest.split()[0])
    return values


def processor_blocks(cpuinfo: str) -> list[str]:
    return [block for block in cpuinfo.strip("\n").split("\n\n") if block]


def host_cpu_block(cpu: int) -> list[str]:
    for block in read_text("/proc/cpuinfo").strip("\n").split("\n\n"):
        lines = block.splitlines()
        if lines[0] == f"processor\t: {cpu}":
            return lines[1:]
    raise AssertionError(f"no host cpuinfo block for CPU {cpu}")


def stat_cpu_lines(text: str) -> dict[str, list[int]]:
    return {
        line.split()[0]: [int(value) for value in line.split()[1:]]
        for line in text.splitlines()
        if line.startswith("cpu")
    }


def disk_line(diskstats: str, name: str) -> list[int] | None:
    for line in diskstats.splitlines():
        fields = line.split()
        if fields[2] == name:
            return [int(value) for value in fields[3:]]
    return None


LOADAVG = re.compile(r"^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n$")


# ---------------------------------------------------------------------------------- ours


def test_lxcfs_fuse_serves_the_containers_view_on_v2(
    container: V2Cgroups, our_mount: FuseMount
) -> None:
    """Through lxcfs-fuse the namespaced init in c1/init.scope reads c1's view: MemTotal and
    SwapTotal from the parent's limits, one CPU (cpu.max 0.5 with --enable-cfs), /proc/stat
    with its own cpu.stat time, its 2 MiB write in diskstats, c1's PSI, a young uptime."""
    texts = container_init_reads(container, [our_mount], FILES + PRESSURE_FILES)

    def ours(file: str) -> str:
        return texts[(our_mount.name, file)]

    memory = meminfo_kb(ours("proc/meminfo"))
    assert memory["MemTotal"] == 262144
    assert memory["SwapTotal"] == 32768
    assert 0 < memory["MemFree"] <= memory["MemAvailable"] <= memory["MemTotal"]
    blocks = processor_blocks(ours("proc/cpuinfo"))
    assert len(blocks) == 1
    assert blocks[0].splitlines()[0] == "processor\t: 0"
    assert blocks[0].splitlines()[1:] == host_cpu_block(0)
    assert ours("sys/devices/system/cpu/online") == "0\n"
    lines = stat_cpu_lines(ours("proc/stat"))
    assert sorted(lines) == ["cpu", "cpu0"]
    usage = flat_keyed(container.read("c1", "cpu.stat"))
    # Read after the init's reads: the shown ticks cannot exceed c1's time so far.
    assert lines["cpu"][0] <= usage["user_usec"] // 10_000
    assert lines["cpu"][2] <= usage["system_usec"] // 10_000
    uptime, idle = (float(value) for value in ours("proc/uptime").split())
    assert 0 <= idle <= uptime < 60
    assert LOADAVG.match(ours("proc/loadavg")), ours("proc/loadavg")
    disk = disk_line(ours("proc/diskstats"), os.path.basename(IO_DISK))
    assert disk is not None, ours("proc/diskstats")
    assert disk[6] == WRITTEN_BYTES // 512  # sectors written: the init's dd, nothing else
    assert disk[2] == 0  # sectors read
    swaps = ours("proc/swaps").splitlines()
    assert [line.split()[2] for line in swaps[1:]] == ["32768"]
    for file in PRESSURE_FILES:
        # c1's own PSI, read by the init before this read of c1's file: never ahead of it.
        text = ours(file)
        kernel = container.read("c1", f"{file.rsplit('/', 1)[1]}.pressure")
        assert text.splitlines()[0].startswith("some avg10="), (file, text)
        assert _psi_totals(text) <= _psi_totals(kernel), (file, text, kernel)


def _psi_totals(text: str) -> tuple[int, ...]:
    return tuple(int(line.rsplit("total=", 1)[1]) for line in text.splitlines())


# ---------------------------------------------------------------------------- differential


def test_differential_against_debian_lxcfs_on_v2(
    container: V2Cgroups, our_mount: FuseMount, debian_mount: FuseMount
) -> None:
    """lxcfs-fuse and Debian's lxcfs 5.0.3, read by the same namespaced init, agree on every
    cgroup v2 value except the deliberate differences listed in DELIBERATE_DIFFERENCES."""
    texts = container_init_reads(container, [debian_mount, our_mount], FILES)
    for (name, file), text in texts.items():  # shown by pytest -rA and on failure
        print(f"--- {name} {file}\n{text}")

    def pair(file: str) -> tuple[str, str]:
        return texts[(debian_mount.name, file)], texts[(our_mount.name, file)]

    # meminfo: same lines in the same order; every computed line agrees (up to the usage
    # that moves between two reads) except the deliberately different ones, which show
    # what DELIBERATE_DIFFERENCES says.
    theirs, ours = (meminfo_kb(text) for text in pair("proc/meminfo"))
    assert list(theirs) == list(ours)
    assert theirs["MemTotal"] == ours["MemTotal"] == 262144
    for label in COMPUTED_LABELS:
        if label in theirs and label not in DELIBERATELY_DIFFERENT_MEMINFO:
            assert abs(theirs[label] - ours[label]) <= USAGE_DRIFT_KB, (label, theirs, ours)
    assert (theirs["SwapTotal"], theirs["SwapFree"]) == (0, 0)
    assert ours["SwapTotal"] == ours["SwapFree"] == 32768
    assert theirs["MemAvailable"] == theirs["MemFree"] + theirs["Cached"]
    reclaimable = ours["Active(file)"] + ours["Inactive(file)"] + ours["SReclaimable"]
    assert abs(ours["MemAvailable"] - (ours["MemFree"] + reclaimable)) <= 3  # kB rounding
    assert theirs["Slab"] == theirs["SReclaimable"] == theirs["SUnreclaim"] == 0
    assert abs(ours["Slab"] - ours["SReclaimable"] - ours["SUnreclaim"]) <= 1 and ours["Slab"] > 0
    assert theirs["Mapped"] == 0
    # CPUs: one CPU both ways (cpu.max 0.5, --enable-cfs), the same cpuinfo block.
    assert pair("proc/cpuinfo")[0] == pair("proc/cpuinfo")[1]
    assert len(processor_blocks(pair("proc/cpuinfo")[1])) == 1
    assert pair("sys/devices/system/cpu/online") == ("0\n", "0\n")
    # stat: the same non-CPU lines and btime; 5.0.3 lists both cpuset CPUs (deliberate).
    their_stat, our_stat = pair("proc/stat")
    assert sorted(stat_cpu_lines(their_stat)) == ["cpu", "cpu0", "cpu1"]
    assert sorted(stat_cpu_lines(our_stat)) == ["cpu", "cpu0"]
    assert [line.split()[0] for line in their_stat.splitlines() if not line.startswith("cpu")] == [
        line.split()[0] for line in our_stat.splitlines() if not line.startswith("cpu")
    ]
    btimes = {line for text in pair("proc/stat") for line in text.splitlines() if "btime" in line}
    assert len(btimes) == 1
    # uptime: the same init, read moments apart; 5.0.3's idle equals its uptime on v2.
    their_uptime, our_uptime = (
        [float(value) for value in text.split()] for text in pair("proc/uptime")
    )
    assert abs(their_uptime[0] - our_uptime[0]) < 3
    assert their_uptime[1] == their_uptime[0]
    for text in pair("proc/loadavg"):
        assert LOADAVG.match(text), text
    # diskstats: 5.0.3 serves the host's file; ours counts only the container's write.
    their_disks, our_disks = pair("proc/diskstats")
    name = os.path.basename(IO_DISK)
    their_disk, our_disk = disk_line(their_disks, name), disk_line(our_disks, name)
    assert their_disk is not None and our_disk is not None
    assert our_disks.count("\n") == 1
    assert their_disk[6] >= our_disk[6] == WRITTEN_BYTES // 512
    # swaps: 5.0.3 shows none on v2.
    their_swaps, our_swaps = pair("proc/swaps")
    assert their_swaps.splitlines()[1:] == []
    assert len(our_swaps.splitlines()) == 2
    assert their_swaps.splitlines()[0].split() == our_swaps.splitlines()[0].split()


# ----------------------------------------------------------------------------------- tools


def test_real_tools_in_a_container_like_probe(container: V2Cgroups, our_mount: FuseMount) -> None:
    """With lxcfs-fuse's files bind-mounted over /proc and /sys in the init's own mount
    namespace, free shows 256 MiB, top shows 256.0 MiB and one CPU's %Cpu line, getconf and
    os.cpu_count() count one CPU; nproc (affinity, not virtualized) still counts two."""
    binds = [
        f"mount --bind {our_mount.path}/{file} /{file} || exit 91"
        for file in (*FILES, *PRESSURE_FILES)
    ]
    tools = [
        "echo '@@@ tool free'; free -k",
        "echo '@@@ tool getconf'; getconf _NPROCESSORS_ONLN",
        f"echo '@@@ tool python'; {shlex.quote(os.environ.get('LXCFS_VM_PYTHON', 'python3'))}"
        " -c 'import os; print(os.cpu_count())'",
        "echo '@@@ tool top'; COLUMNS=200 top -bn1 | head -5",
        "echo '@@@ tool nproc'; nproc",
    ]
    texts = container_init_reads(container, [], (), then="\n".join(binds + tools))
    free = texts[("tool", "free")].splitlines()
    mem = free[1].split()
    assert mem[0] == "Mem:" and mem[1] == "262144", free
    swap = free[2].split()
    assert swap[0] == "Swap:" and swap[1] == "32768", free
    assert texts[("tool", "getconf")] == "1\n"
    assert texts[("tool", "python")] == "1\n"
    top = texts[("tool", "top")]
    assert re.search(r"MiB Mem :\s+256\.0 total", top), top
    assert re.search(r"MiB Swap:\s+32\.0 total", top), top
    assert "%Cpu(s):" in top, top
    assert texts[("tool", "nproc")] == "2\n"
