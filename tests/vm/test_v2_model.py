"""The model's I/O layer and renderers on a real kernel with pure cgroup v2 (runs in the VM).

Each test builds a container in real cgroups (``/lxcfs_py_test_X`` with a child ``c1``),
makes the kernel account something there (memory, CPU time, I/O), then reads it with
``SystemReader`` and renders it with ``lxcfs_model.render``. Expected values are computed
here from the kernel's own cgroup files, read independently of the reader, by the formulas
the renderers document; where the kernel may move a value between two reads (PSI averages,
lazily flushed memory.stat) the rendered value must equal one of the reads around it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from v2_harness import V2Cgroups, flat_keyed, only_child, read_line, read_text

from lxcfs_model import ContainerHistory, RenderInputs, RenderOptions, render
from lxcfs_model.io import SystemReader

pytestmark = pytest.mark.vm

MIB = 1024 * 1024
IO_DISK = os.environ.get("LXCFS_VM_DISK", "/dev/vda")


def rendered(cgroup_path: str, name: str, options: RenderOptions | None = None) -> str:
    """``name`` as the container at ``cgroup_path`` sees it, read live and rendered."""
    reader = SystemReader("/")
    inputs = RenderInputs(
        view=reader.view_for_cgroup(cgroup_path),
        host=reader.host_snapshot(),
        options=options or RenderOptions(),
        clock=reader.clock(),
    )
    return render(name, inputs).text


def around(read: Callable[[], str], render_it: Callable[[], str]) -> tuple[str, str, str]:
    """(kernel value before, rendered, kernel value after)."""
    before = read()
    text = render_it()
    return before, text, read()


def meminfo_kb(text: str) -> dict[str, int]:
    values = {}
    for line in text.splitlines():
        label, _, rest = line.partition(":")
        values[label] = int(rest.split()[0])
    return values


def processors(cpuinfo: str) -> list[str]:
    """The cpuinfo blocks, each without its ``processor`` line."""
    blocks = []
    for block in cpuinfo.strip("\n").split("\n\n"):
        lines = block.splitlines()
        assert lines[0].startswith("processor\t: "), block
        blocks.append("\n".join(lines[1:]))
    return blocks


def host_cpu_block(cpu: int) -> str:
    for block in read_text("/proc/cpuinfo").strip("\n").split("\n\n"):
        lines = block.splitlines()
        if lines[0] == f"processor\t: {cpu}":
            return "\n".join(lines[1:])
    raise AssertionError(f"no host cpuinfo block for CPU {cpu}")


def stat_lines(text: str) -> dict[str, list[int]]:
    return {
        line.split()[0]: [int(value) for value in line.split()[1:]]
        for line in text.splitlines()
        if line.startswith("cpu")
    }


def device_number(device: str) -> str:
    """``major:minor`` of a block device, as io.stat names it."""
    return read_text(f"/sys/class/block/{os.path.basename(device)}/dev").strip()


def require_two_cpus() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("the VM should have 2 CPUs (tools/vm/cgroup2_vm.py --cpus 2)")


# ------------------------------------------------------------------------------------ memory


def test_memory_limits_on_the_parent_only(cgroups: V2Cgroups) -> None:
    """memory.max 256 MiB and memory.swap.max 32 MiB set on the parent alone become the
    child's MemTotal and SwapTotal, and MemFree, Shmem and Cached come from the child's own
    memory.current and memory.stat."""
    cgroups.write("", "memory.max", 256 * MIB)
    cgroups.write("", "memory.swap.max", 32 * MIB)
    cgroups.make("c1")
    assert cgroups.read("c1", "memory.max") == "max\n"
    assert cgroups.read("c1", "memory.swap.max") == "max\n"
    shm_file = f"/dev/shm/{os.path.basename(cgroups.root)}"
    try:
        # tmpfs pages stay charged to c1 after dd exits: a usage that holds still.
        done = cgroups.run("c1", ["dd", "if=/dev/zero", f"of={shm_file}", "bs=1M", "count=16"])
        assert done.returncode == 0, done.stderr
        before, text, after = around(
            lambda: cgroups.read("c1", "memory.current") + cgroups.read("c1", "memory.stat"),
            lambda: rendered(cgroups.path("c1"), "meminfo"),
        )
        swaps = rendered(cgroups.path("c1"), "swaps")
    finally:
        os.unlink(shm_file)
    values = meminfo_kb(text)
    host = meminfo_kb(read_text("/proc/meminfo"))
    assert values["MemTotal"] == 262144
    assert host["MemTotal"] > 262144
    assert host["SwapTotal"] > 32768, "the VM's swap disk should be on"
    assert values["SwapTotal"] == 32768
    assert values["SwapFree"] == 32768 - int(cgroups.read("c1", "memory.swap.current")) // 1024
    matches = []
    for kernel in (before, after):
        current_text, _, stat_text = kernel.partition("\n")
        current, stat = int(current_text), flat_keyed(stat_text)
        assert stat["shmem"] >= 16 * MIB
        matches.append(
            values["MemFree"] == 262144 - current // 1024
            and values["Shmem"] == stat["shmem"] // 1024
            and values["Cached"] == stat["file"] // 1024
            and values["Active(file)"] == stat["active_file"] // 1024
        )
    assert any(matches), (before, after, text)
    assert swaps.splitlines()[0].startswith("Filename")
    assert [line.split()[2] for line in swaps.splitlines()[1:]] == ["32768"]


# --------------------------------------------------------------------------------------- cpu


def test_cpuset_effective_from_the_parent(cgroups: V2Cgroups) -> None:
    """cpuset.cpus 1 on the parent alone gives the child cpuset.cpus.effective 1: one CPU,
    host CPU 1's cpuinfo block shown as processor 0, online ``0``, one cpuN line in stat."""
    require_two_cpus()
    cgroups.write("", "cpuset.cpus", "1")
    cgroups.make("c1")
    assert cgroups.read("c1", "cpuset.cpus").strip() == ""
    assert cgroups.read("c1", "cpuset.cpus.effective") == "1\n"
    child = cgroups.path("c1")
    cpuinfo = rendered(child, "cpuinfo")
    assert cpuinfo.startswith("processor\t: 0\n")
    assert processors(cpuinfo) == [host_cpu_block(1)]
    assert rendered(child, "sys/devices/system/cpu/online") == "0\n"
    assert sorted(stat_lines(rendered(child, "stat"))) == ["cpu", "cpu0"]


def test_cpu_max_counts_only_with_enable_cfs(cgroups: V2Cgroups) -> None:
    """cpu.max on the parent caps the child's CPUs at ceil(quota/period) with --enable-cfs
    (0.5 -> 1, 1.5 -> 2) and is ignored without it."""
    require_two_cpus()
    cgroups.write("", "cpu.max", "50000 100000")
    cgroups.make("c1")
    assert cgroups.read("c1", "cpu.max") == "max 100000\n"
    child = cgroups.path("c1")
    cfs = RenderOptions(enable_cfs=True)
    assert len(processors(rendered(child, "cpuinfo", cfs))) == 1
    assert rendered(child, "sys/devices/system/cpu/online", cfs) == "0\n"
    assert len(processors(rendered(child, "cpuinfo"))) == 2
    assert rendered(child, "sys/devices/system/cpu/online") == "0-1\n"
    cgroups.write("", "cpu.max", "150000 100000")
    assert len(processors(rendered(child, "cpuinfo", cfs))) == 2


def test_stat_shows_the_containers_cpu_times_from_cpu_stat(cgroups: V2Cgroups) -> None:
    """/proc/stat's aggregate user and system ticks are the child's cpu.stat user_usec and
    system_usec in USER_HZ (usec // 10000), spread over its CPU lines, not the host's times;
    read again with the returned history after more work, they are the new totals and no
    line went backwards."""
    require_two_cpus()
    cgroups.make("c1")
    assert os.sysconf("SC_CLK_TCK") == 100
    child = cgroups.path("c1")
    history = ContainerHistory()
    previous: dict[str, list[int]] = {}
    for _ in range(2):
        busy = cgroups.run("c1", ["timeout", "1", "sh", "-c", "while :; do :; done"])
        assert busy.returncode == 124, busy.stderr  # timeout ended the loop
        usage = flat_keyed(cgroups.read("c1", "cpu.stat"))  # still: nothing runs in c1 now
        reader = SystemReader("/")
        result = render(
            "stat",
            RenderInputs(
                view=reader.view_for_cgroup(child),
                host=reader.host_snapshot(),
                clock=reader.clock(),
                history=history,
            ),
        )
        history = result.history
        lines = stat_lines(result.text)
        assert sorted(lines) == ["cpu", "cpu0", "cpu1"]
        aggregate = lines["cpu"]
        assert aggregate[0] == usage["user_usec"] // 10_000
        assert aggregate[2] == usage["system_usec"] // 10_000
        assert aggregate[1] == aggregate[4] == aggregate[5] == aggregate[6] == 0
        columns = zip(lines["cpu0"], lines["cpu1"], strict=True)
        assert [sum(column) for column in columns] == aggregate
        for label, before in previous.items():
            assert all(now >= then for now, then in zip(lines[label], before, strict=True))
        previous = lines
    assert aggregate[0] + aggregate[2] >= 60, usage  # about two seconds of a busy loop
    host_user = stat_lines(read_text("/proc/stat"))["cpu"][0]
    assert aggregate[0] < host_user


def test_the_root_cgroup_sees_the_host(pure_cgroup2: None) -> None:
    """The cgroup2 root (no memory.current, memory.max or cpu.max there) shows the host's
    MemTotal and every host CPU."""
    memory = meminfo_kb(rendered("/", "meminfo"))
    assert memory["MemTotal"] == meminfo_kb(read_text("/proc/meminfo"))["MemTotal"]
    assert 0 < memory["MemFree"] <= memory["MemTotal"]
    host_cpus = read_text("/sys/devices/system/cpu/online")
    assert rendered("/", "sys/devices/system/cpu/online") == host_cpus
    assert len(processors(rendered("/", "cpuinfo"))) == len(os.sched_getaffinity(0))


# ---------------------------------------------------------------------------------- pressure


def test_pressure_files_are_the_childs_psi(cgroups: V2Cgroups) -> None:
    """pressure/cpu, io and memory are the child's own cpu.pressure, io.pressure and
    memory.pressure, verbatim; two busy loops on one CPU give it a non-zero cpu stall."""
    cgroups.make("c1")
    cgroups.write("c1", "cpuset.cpus", "0")
    loop = "timeout 1 sh -c 'while :; do :; done' & timeout 1 sh -c 'while :; do :; done'; wait"
    cgroups.run("c1", ["sh", "-c", loop])
    child = cgroups.path("c1")
    for resource in ("cpu", "io", "memory"):
        before, text, after = around(
            lambda r=resource: cgroups.read("c1", f"{r}.pressure"),  # type: ignore[misc]
            lambda r=resource: rendered(child, f"pressure/{r}"),  # type: ignore[misc]
        )
        assert text in (before, after), resource
        assert text.startswith("some avg10="), text
    cpu_total = int(cgroups.read("c1", "cpu.pressure").split("total=")[1].split()[0])
    assert cpu_total > 0


# ---------------------------------------------------------------------------------------- io


def test_diskstats_from_io_stat_with_real_io(cgroups: V2Cgroups) -> None:
    """Direct I/O by a process in the child to the VM's virtio disk appears in the child's
    io.stat and as the disk's only diskstats line: ios and sectors (bytes / 512) from io.stat,
    everything io.stat cannot know 0, as many columns as the host's line."""
    cgroups.make("c1")
    script = (
        f"dd if=/dev/zero of={IO_DISK} bs=64k count=32 oflag=direct status=none && "
        f"dd if={IO_DISK} of=/dev/null bs=64k count=16 iflag=direct status=none"
    )
    done = cgroups.run("c1", ["sh", "-c", script])
    assert done.returncode == 0, done.stderr
    number = device_number(IO_DISK)
    io_stat = {
        line.split()[0]: dict(field.split("=") for field in line.split()[1:])
        for line in cgroups.read("c1", "io.stat").splitlines()
    }
    disk = {key: int(value) for key, value in io_stat[number].items()}
    assert disk["wbytes"] == 32 * 65536
    assert disk["rbytes"] == 16 * 65536
    text = rendered(cgroups.path("c1"), "diskstats")
    lines = text.splitlines()
    assert len(lines) == 1, text
    fields = lines[0].split()
    name = os.path.basename(IO_DISK)
    assert f"{fields[0]}:{fields[1]}" == number and fields[2] == name
    host_line = next(
        line.split()
        for line in read_text("/proc/diskstats").splitlines()
        if line.split()[2] == name
    )
    assert len(fields) == len(host_line)
    numbers = [int(value) for value in fields[3:]]
    expected = [0] * len(numbers)
    expected[0], expected[2] = disk["rios"], disk["rbytes"] // 512
    expected[4], expected[6] = disk["wios"], disk["wbytes"] // 512
    if len(numbers) >= 15:
        expected[11], expected[13] = disk["dios"], disk["dbytes"] // 512
    assert numbers == expected
    assert disk["wios"] >= 32 and disk["rios"] >= 16


# ----------------------------------------------------------------- init.scope, namespaces


def test_init_scope_is_pruned_for_a_namespaced_init(cgroups: V2Cgroups) -> None:
    """A container init in ``c1/init.scope`` with its own cgroup and pid namespaces (it sees
    itself as pid 1 in cgroup ``/``) resolves to ``c1``: its view carries c1's chain of
    limits (memory.max 192 MiB on the parent), and so does another process of the namespace."""
    cgroups.write("", "memory.max", 192 * MIB)
    cgroups.make("c1", delegate=True)
    cgroups.make("c1/init.scope")
    launcher = cgroups.start(
        "c1/init.scope",
        ["sh", "-c", "cat /proc/self/cgroup; echo $$; sleep 300 & wait"],
        namespaced=True,
    )
    assert read_line(launcher) == "0::/\n"  # its own cgroup namespace
    assert read_line(launcher) == "1\n"  # the init of its own pid namespace
    init = only_child(launcher.pid)
    assert read_text(f"/proc/{init}/cgroup") == f"0::{cgroups.path('c1/init.scope')}\n"
    reader = SystemReader("/")
    for pid in (init, only_child(init)):
        container = reader.resolve_pid(pid)
        assert container.target_pid == init
        assert container.cgroup_paths[""] == cgroups.path("c1")
        view = reader.view_for_container(container)
        assert view.memory is not None and view.memory.path == cgroups.path("c1")
        text = render("meminfo", RenderInputs(view=view, host=reader.host_snapshot())).text
        assert meminfo_kb(text)["MemTotal"] == 196608
