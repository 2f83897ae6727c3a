"""Pid -> container resolution (spec 2.1/2.3) on the fixture trees."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import attrs
import pytest

from lxcfs_model.errors import LxcfsModelError, NoSuchProcess
from lxcfs_model.io import Container, SystemReader, prune_init_scope

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOST_NS = 4026531836


def reader(tree: str | Path) -> SystemReader:
    return SystemReader(str(FIXTURES / tree))


def test_prune_init_scope() -> None:
    """Only an exact trailing /init.scope is removed; /init.scope alone becomes /."""
    assert prune_init_scope("/lxc/c2/init.scope") == "/lxc/c2"
    assert prune_init_scope("/init.scope") == "/"
    assert prune_init_scope("/lxc/c2/init.scope2") == "/lxc/c2/init.scope2"
    assert prune_init_scope("/lxc/myinit.scope") == "/lxc/myinit.scope"
    assert prune_init_scope("/") == "/"


def test_host_process_resolves_to_itself() -> None:
    """A process in the reader's pid namespace uses its own cgroups; its init is host 1."""
    container = reader("v1-nested").resolve_pid(4241)
    assert container.caller_pid == 4241
    assert container.target_pid == 4241
    assert container.init_pid == 1
    assert container.pid_namespace == HOST_NS
    assert container.cgroup_paths["memory"] == "/"


def test_host_init_scope_pruned() -> None:
    """Host pid 1 sits in /init.scope (systemd and cgroup2 lines): both prune to /."""
    container = reader("v1-nested").resolve_pid(1)
    assert container.cgroup_paths["name=systemd"] == "/"
    assert container.cgroup_paths[""] == "/"


def test_container_init_resolves_to_itself() -> None:
    """The container's init (NSpid ends in 1) is its own namespace's init."""
    container = reader("v1-nested").resolve_pid(4242)
    assert container == Container(
        caller_pid=4242,
        target_pid=4242,
        init_pid=4242,
        pid_namespace=4026532300,
        cgroup_paths=container.cgroup_paths,
    )
    assert {container.cgroup_paths[c] for c in ("memory", "cpu", "cpuacct", "cpuset")} == {
        "/lxc/c1"
    }


def test_container_child_resolves_via_ppid_walk() -> None:
    """A child of the container's init walks PPid up to the init."""
    container = reader("v1-nested").resolve_pid(4250)
    assert (container.caller_pid, container.target_pid, container.init_pid) == (4250, 4242, 4242)


def test_setns_process_resolves_via_scan() -> None:
    """A process that entered the namespace (parent outside it) is resolved by the /proc
    scan for the task whose NSpid ends in 1."""
    container = reader("v1-nested").resolve_pid(4300)
    assert (container.target_pid, container.init_pid) == (4242, 4242)


def test_v2_systemd_container_pruned() -> None:
    """A cron process in a systemd container sees the container's cgroup, /init.scope of its
    init pruned."""
    container = reader("v2-nested").resolve_pid(5150)
    assert container.target_pid == 5101
    assert container.cgroup_paths == {"": "/lxc/c2"}
    hierarchy = reader("v2-nested").layout.hierarchy_for("memory")
    assert hierarchy is not None and container.path_in(hierarchy) == "/lxc/c2"


def test_pid_view_uses_namespace_init_for_uptime() -> None:
    """view_for_pid of a container process carries its namespace init's start time."""
    view = reader("v2-nested").view_for_pid(5150)
    assert view.init is not None
    assert (view.init.pid, view.init.start_ticks) == (5101, 8640000)


def test_host_caller_init_is_host_pid_1() -> None:
    """A host caller's view has host pid 1 as init (uptime: no substitution)."""
    view = reader("v2-nested").view_for_pid(5100)
    assert view.init is not None and view.init.pid == 1 and view.init.start_ticks == 2


def test_pieces_for_the_fuse_cache() -> None:
    """The namespace inode and start time of a pid are exposed for cache validation."""
    tree = reader("v1-nested")
    assert tree.pid_namespace_inode(4242) == 4026532300
    assert tree.pid_namespace_inode("self") == HOST_NS
    assert tree.process_start_ticks(4242) == 250000


@pytest.mark.parametrize("pid", [99999, 0, -3])
def test_missing_pid(pid: int) -> None:
    """A pid that does not exist (or is no pid) is NoSuchProcess."""
    tree = reader("v1-nested")
    with pytest.raises(NoSuchProcess):
        tree.resolve_pid(pid)
    with pytest.raises(NoSuchProcess):
        tree.view_for_pid(pid)


def test_namespace_without_init_uses_caller(tmp_path: Path) -> None:
    """If the namespace's init is gone, the caller's own cgroups are used (spec 2.1 step 3)
    and init_pid is None."""
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "v1-nested", tree, symlinks=True)
    shutil.rmtree(tree / "proc/4242")
    container = SystemReader(str(tree)).resolve_pid(4250)
    assert (container.target_pid, container.init_pid) == (4250, None)
    assert container.cgroup_paths["memory"] == "/lxc/c1"


def test_garbage_proc_cgroup_is_model_error(tmp_path: Path) -> None:
    """A malformed /proc/<pid>/cgroup is an LxcfsModelError naming the file."""
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "v1-nested", tree, symlinks=True)
    (tree / "proc/4241/cgroup").write_text("garbage\n")
    with pytest.raises(LxcfsModelError, match="4241/cgroup"):
        SystemReader(str(tree)).resolve_pid(4241)


def test_live_self_is_host_process() -> None:
    """On the live system this test process resolves to itself with host pid 1 as init
    (the test runs in the host pid namespace)."""
    if not os.path.exists("/proc/self/ns/pid"):
        pytest.skip("no /proc/self/ns/pid")
    container = SystemReader("/").resolve_pid(os.getpid())
    assert container.target_pid == os.getpid()
    assert container.init_pid == 1


def test_a_known_init_start_is_not_read_again() -> None:
    """A container whose resolver already read its init's start time gets that start in
    its view's init (proved by a value the fixture's /proc/5101/stat does not hold), while
    the init's CPU time is still read from its cgroup."""
    tree = reader("v2-nested")
    container = tree.resolve_pid(5150)
    fresh = tree.view_for_container(container, ("init",))
    known = tree.view_for_container(attrs.evolve(container, init_start_ticks=1234), ("init",))
    assert fresh.init is not None and known.init is not None
    assert fresh.init.start_ticks == 8640000 and known.init.start_ticks == 1234
    assert known.init.cpu_busy_ns == fresh.init.cpu_busy_ns


def test_cgroup_paths_share_their_strings_across_hierarchies_and_containers() -> None:
    """Every hierarchy naming the same cgroup gets one path string, and two resolutions
    share their controller names: a thousand cached containers hold a few strings each,
    not a dozen (what a burst of them left fragmented in the daemon's memory)."""
    first = reader("v1-nested").cgroup_paths(4250)
    second = reader("v1-nested").cgroup_paths(4250)
    assert first == second and first["memory"] == "/lxc/c1"
    assert len({id(path) for path in first.values()}) == 1
    for (key, _), (other, _) in zip(first.items(), second.items(), strict=True):
        assert key is other
