"""Bad input to the reader: missing or malformed cgroup files make one controller None with
one problem line; bad requests raise LxcfsModelError subclasses, never anything else."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxcfs_model.errors import LxcfsModelError, NoSuchCgroup, NoSuchProcess
from lxcfs_model.io import SystemReader, discover_layout
from lxcfs_model.values import LimitLevel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def v1_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "v1"
    shutil.copytree(FIXTURES / "v1-nested", tree, symlinks=True)
    return tree


@pytest.fixture
def v2_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "v2"
    shutil.copytree(FIXTURES / "v2-nested", tree, symlinks=True)
    return tree


V1_C1 = "sys/fs/cgroup/{}/lxc/c1"
V2_C2 = "sys/fs/cgroup/lxc/c2"


def test_malformed_memory_stat_only_drops_memory(v1_tree: Path) -> None:
    """A garbage memory.stat makes memory None, names the file, keeps the other controllers."""
    (v1_tree / V1_C1.format("memory") / "memory.stat").write_text("cache lots\n")
    view = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")
    assert view.memory is None
    assert view.cpu is not None and view.cpuset is not None and view.io is not None
    assert len(view.problems) == 1
    assert "/sys/fs/cgroup/memory/lxc/c1/memory.stat" in view.problems[0]


def test_missing_usage_is_a_problem(v1_tree: Path) -> None:
    """A missing memory.usage_in_bytes makes memory None and says 'missing'."""
    os.remove(v1_tree / V1_C1.format("memory") / "memory.usage_in_bytes")
    view = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")
    assert view.memory is None
    assert view.problems == ("/sys/fs/cgroup/memory/lxc/c1/memory.usage_in_bytes: missing",)


def test_malformed_parent_limit_drops_memory(v1_tree: Path) -> None:
    """A parse error anywhere in the limit chain aborts the memory controller (spec 3.1)."""
    (v1_tree / "sys/fs/cgroup/memory/lxc/memory.limit_in_bytes").write_text("lots\n")
    view = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")
    assert view.memory is None
    assert "/sys/fs/cgroup/memory/lxc/memory.limit_in_bytes" in view.problems[0]


def test_no_memsw_means_no_swap_accounting(v1_tree: Path) -> None:
    """Without the memsw files (swapaccount=0) swap is None and that is no problem."""
    for level in ("", "lxc", "lxc/c1"):
        directory = v1_tree / "sys/fs/cgroup/memory" / level
        os.remove(directory / "memory.memsw.usage_in_bytes")
        os.remove(directory / "memory.memsw.limit_in_bytes")
    view = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")
    assert view.memory is not None and view.memory.swap is None
    assert view.problems == ()


def test_malformed_swappiness_defaults_to_none(v1_tree: Path) -> None:
    """A bad optional file falls back to its default (None) with one problem line."""
    (v1_tree / V1_C1.format("memory") / "memory.swappiness").write_text("high\n")
    view = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")
    assert view.memory is not None and view.memory.swappiness is None
    assert len(view.problems) == 1 and "memory.swappiness" in view.problems[0]


def test_malformed_cpuset(v1_tree: Path) -> None:
    """A garbage cpu list makes cpuset None and names the file."""
    (v1_tree / V1_C1.format("cpuset") / "cpuset.effective_cpus").write_text("1-x\n")
    view = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")
    assert view.cpuset is None
    assert "cpuset.effective_cpus" in view.problems[0]


def test_usage_all_missing_falls_back_to_percpu(v1_tree: Path) -> None:
    """Without cpuacct.usage_all, usage_percpu gives user = total, system = 0."""
    os.remove(v1_tree / V1_C1.format("cpuacct") / "cpuacct.usage_all")
    view = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")
    assert view.cpu_usage is not None
    assert view.cpu_usage.per_cpu is not None
    assert view.cpu_usage.per_cpu[1].user_ns == 3150000000
    assert view.cpu_usage.per_cpu[1].system_ns == 0
    assert view.problems == ()


def test_cfq_files_preferred(v1_tree: Path) -> None:
    """When the five CFQ blkio files exist they are the source ("blkio.cfq")."""
    directory = v1_tree / V1_C1.format("blkio")
    lines = (
        "8:0 Read {}\n8:0 Write {}\n8:0 Sync 0\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 0\nTotal 0\n"
    )
    (directory / "blkio.io_serviced_recursive").write_text(lines.format(5, 6))
    (directory / "blkio.io_merged_recursive").write_text(lines.format(1, 2))
    (directory / "blkio.io_service_bytes_recursive").write_text(lines.format(4096, 8192))
    (directory / "blkio.io_service_time_recursive").write_text(lines.format(3_000_000, 0))
    (directory / "blkio.io_wait_time_recursive").write_text(lines.format(2_000_000, 0))
    io = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1").io
    assert io is not None and io.source == "blkio.cfq"
    (device,) = io.devices
    assert (device.read_ios, device.read_merges, device.read_bytes, device.read_ticks_ms) == (
        5,
        1,
        4096,
        5,
    )


def test_v2_missing_memory_max_means_unlimited_level(v2_tree: Path) -> None:
    """On v2 a level without memory.max (memory not enabled there) limits nothing."""
    os.remove(v2_tree / "sys/fs/cgroup/lxc/memory.max")
    memory = SystemReader(str(v2_tree)).view_for_cgroup("/lxc/c2").memory
    assert memory is not None
    assert memory.limits == (LimitLevel("/lxc/c2", None), LimitLevel("/lxc", None))


def test_v2_malformed_cpu_max(v2_tree: Path) -> None:
    """A garbage cpu.max makes cpu None and names the file."""
    (v2_tree / V2_C2 / "cpu.max").write_text("lots 100000\n")
    view = SystemReader(str(v2_tree)).view_for_cgroup("/lxc/c2")
    assert view.cpu is None
    assert view.problems == ("/sys/fs/cgroup/lxc/c2/cpu.max: 'lots' is not an integer",)


def test_v2_no_swap_accounting(v2_tree: Path) -> None:
    """Without memory.swap.current anywhere (no swap accounting) swap is None."""
    for directory, _, files in os.walk(v2_tree / "sys/fs/cgroup"):
        if "memory.swap.current" in files:
            os.remove(os.path.join(directory, "memory.swap.current"))
    memory = SystemReader(str(v2_tree)).view_for_cgroup("/lxc/c2").memory
    assert memory is not None and memory.swap is None


def test_v2_missing_pressure_files(v2_tree: Path) -> None:
    """A kernel without PSI: pressure is None, no problem."""
    for name in ("cpu", "io", "memory"):
        os.remove(v2_tree / V2_C2 / f"{name}.pressure")
    view = SystemReader(str(v2_tree)).view_for_cgroup("/lxc/c2")
    assert view.pressure is None and view.problems == ()


def test_nonexistent_cgroup() -> None:
    """A path in no hierarchy is NoSuchCgroup."""
    with pytest.raises(NoSuchCgroup):
        SystemReader(str(FIXTURES / "v1-nested")).view_for_cgroup("/lxc/nope")


@pytest.mark.parametrize("path", ["/lxc/../..", "../etc", "/lxc/./c1"])
def test_dot_paths_refused(path: str) -> None:
    """Paths with . or .. components never leave the hierarchy: NoSuchCgroup."""
    with pytest.raises(NoSuchCgroup):
        SystemReader(str(FIXTURES / "v1-nested")).view_for_cgroup(path)


def test_path_missing_in_one_hierarchy(v1_tree: Path) -> None:
    """A cgroup that exists in some hierarchies only: the others are None with a problem."""
    shutil.rmtree(v1_tree / V1_C1.format("blkio"))
    view = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")
    assert view.io is None and view.memory is not None
    assert view.problems == ("/sys/fs/cgroup/blkio/lxc/c1: no such cgroup",)


def test_unreadable_root(tmp_path: Path) -> None:
    """A directory without proc/ is not a root: LxcfsModelError with the path."""
    with pytest.raises(LxcfsModelError, match="no proc/ directory"):
        SystemReader(str(tmp_path))


def test_missing_host_file(v1_tree: Path) -> None:
    """A host file the snapshot needs is missing: LxcfsModelError naming it."""
    os.remove(v1_tree / "proc/meminfo")
    with pytest.raises(LxcfsModelError, match="proc/meminfo"):
        SystemReader(str(v1_tree)).host_snapshot()


def test_optional_host_files(v1_tree: Path) -> None:
    """No PSI and no slabinfo on the host: those snapshot fields are None."""
    shutil.rmtree(v1_tree / "proc/pressure")
    os.remove(v1_tree / "proc/slabinfo")
    host = SystemReader(str(v1_tree)).host_snapshot()
    assert host.pressure_cpu is None and host.pressure_io is None and host.slabinfo is None


def test_bad_uptime_clock(v1_tree: Path) -> None:
    """A fixture's proc/uptime without a number: LxcfsModelError."""
    (v1_tree / "proc/uptime").write_text("\n")
    with pytest.raises(LxcfsModelError, match="uptime"):
        SystemReader(str(v1_tree)).clock()


def test_layout_without_cgroups(tmp_path: Path) -> None:
    """No sys/fs/cgroup: layout "none" and every controller None."""
    (tmp_path / "proc").mkdir()
    reader = SystemReader(str(tmp_path))
    assert reader.layout.kind == "none"
    with pytest.raises(NoSuchCgroup):
        reader.view_for_cgroup("/")


def test_layout_comounted_cpu_cpuacct(tmp_path: Path) -> None:
    """``cpu,cpuacct`` with ``cpu``/``cpuacct`` symlinks is one hierarchy for both."""
    mount = tmp_path / "sys/fs/cgroup"
    (mount / "cpu,cpuacct").mkdir(parents=True)
    (mount / "cpu,cpuacct/cgroup.procs").write_text("")
    (mount / "cpu").symlink_to("cpu,cpuacct")
    (mount / "cpuacct").symlink_to("cpu,cpuacct")
    (mount / "empty").mkdir()
    layout = discover_layout(str(tmp_path))
    assert layout.kind == "v1"
    assert len(layout.hierarchies) == 1
    cpu = layout.hierarchy_for("cpu")
    assert cpu is not None and cpu is layout.hierarchy_for("cpuacct")
    assert cpu.directory == "sys/fs/cgroup/cpu,cpuacct"
    assert layout.hierarchy_for("empty") is None


def _vanish_on_open(monkeypatch: pytest.MonkeyPatch, trigger: str, remove: Path) -> None:
    """Make the reader's first open of a file ending in ``trigger`` find ``remove`` gone."""
    from lxcfs_model.io.kernel_files import KernelFiles

    real_read_text = KernelFiles.read_text

    def read_after_removal(files: KernelFiles, file: str) -> str:
        if str(file).endswith(trigger) and remove.exists():
            shutil.rmtree(remove)
        return real_read_text(files, file)

    monkeypatch.setattr(KernelFiles, "read_text", read_after_removal)


def test_cgroup_vanishing_mid_read(v1_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cgroup removed while its files are being read is NoSuchCgroup, not OSError."""
    _vanish_on_open(monkeypatch, "memory.stat", v1_tree / V1_C1.format("memory"))
    with pytest.raises(NoSuchCgroup, match="vanished"):
        SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")


def test_process_vanishing_mid_read(v1_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A target process that exits while its view is read is NoSuchProcess."""
    _vanish_on_open(monkeypatch, "memory.stat", v1_tree / "proc/4242")
    with pytest.raises(NoSuchProcess):
        SystemReader(str(v1_tree)).view_for_pid(4250)


@pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup"), reason="needs the live cgroup tree")
def test_a_live_process_gone_after_its_view_was_read_is_no_such_process() -> None:
    """On the live root the target's existence is asked with signal 0, not /proc: a view of
    a running process comes back, and of the same process once exited and reaped (its
    cgroups still there, they are this test's own) it is NoSuchProcess."""
    reader = SystemReader("/")
    child = subprocess.Popen(["sleep", "30"])
    try:
        container = reader.resolve_pid(child.pid)
        assert container.target_pid == child.pid
        assert reader.view_for_container(container, {"memory", "cpuset"}).cpuset is not None
    finally:
        child.kill()
        child.wait()
    with pytest.raises(NoSuchProcess, match="exited while being read"):
        reader.view_for_container(container, {"memory", "cpuset"})


def _cgroup_files(tree: Path) -> list[Path]:
    return sorted(path for path in (tree / "sys/fs/cgroup").rglob("*") if path.is_file())


_TREE_COPIES: dict[str, Path] = {}


@pytest.mark.parametrize("tree_name", ["v1-nested", "v2-nested", "v2-root-unlimited"])
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_garbage_in_any_cgroup_file_never_raises(
    tree_name: str, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Whatever text any one cgroup file holds, the views still come back (controllers
    None, problems listed) and no exception escapes."""
    if tree_name not in _TREE_COPIES:
        _TREE_COPIES[tree_name] = tmp_path_factory.mktemp("garbage") / tree_name
        shutil.copytree(FIXTURES / tree_name, _TREE_COPIES[tree_name], symlinks=True)
    tree = _TREE_COPIES[tree_name]
    files = _cgroup_files(tree)
    target = data.draw(st.sampled_from(files), label="file")
    original = target.read_bytes()
    garbage = data.draw(
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(["", "\n", "max\n", "-1\n", "1 2\n", "x y z\n", "9" * 40]),
        ),
        label="garbage",
    )
    target.write_text(garbage)
    try:
        reader = SystemReader(str(tree))
        pid = {"v1-nested": 4250, "v2-nested": 5150}.get(tree_name, 700)
        path = {"v1-nested": "/lxc/c1", "v2-nested": "/lxc/c2"}.get(tree_name, "/")
        for view in (reader.view_for_pid(pid), reader.view_for_cgroup(path)):
            assert all(isinstance(problem, str) and problem for problem in view.problems)
    finally:
        target.write_bytes(original)


def test_malformed_memsw_usage_drops_swap_only(v1_tree: Path) -> None:
    """A garbage memory.memsw.usage_in_bytes makes swap None with one problem naming it;
    the memory values stay."""
    (v1_tree / V1_C1.format("memory") / "memory.memsw.usage_in_bytes").write_text("lots\n")
    view = SystemReader(str(v1_tree)).view_for_cgroup("/lxc/c1")
    assert view.memory is not None and view.memory.swap is None
    assert view.memory.usage == 73400320
    assert len(view.problems) == 1
    assert "/sys/fs/cgroup/memory/lxc/c1/memory.memsw.usage_in_bytes" in view.problems[0]
