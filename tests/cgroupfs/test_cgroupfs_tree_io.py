"""io.CgroupTree on a fixture tree laid out like / (proc/, sys/fs/cgroup/): names, views,
pid translation both ways and the permission gate, without root or real cgroups."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lxcfs_model.cgroupfs import CgroupfsRefusal
from lxcfs_model.io import CgroupTree, Container
from lxcfs_model.io.cgroupfs import Caller

HOST_NAMESPACE = 4026531836
CONTAINER_NAMESPACE = 4026532000
OTHER_NAMESPACE = 4026532111
ALL_CAPABILITIES = "000001ffffffffff"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _process(
    root: Path,
    pid: int,
    nspid: str,
    namespace: int,
    *,
    uid: int = 0,
    capabilities: str = ALL_CAPABILITIES,
    uid_map: str = "0 0 4294967295\n",
    cgroup2: str | None = None,
) -> None:
    directory = root / "proc" / str(pid)
    _write(
        directory / "status",
        f"Name:\tx\nTgid:\t{pid}\n"
        f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
        f"Groups:\t\nNSpid:\t{nspid}\nCapEff:\t{capabilities}\n",
    )
    if cgroup2 is not None:
        _write(directory / "cgroup", f"0::{cgroup2}\n")
    _write(directory / "uid_map", uid_map)
    _write(directory / "gid_map", uid_map)
    (directory / "ns").mkdir()
    os.symlink(f"pid:[{namespace}]", directory / "ns" / "pid")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A hybrid host: memory, cpu,cpuacct (with its links), name=systemd and unified; a
    container /lxc/c1 (init 1001 = ns pid 1, 1002 = ns pid 5), its sibling /lxc/c2 with a
    task 3001 of another namespace (ns pid 1 there)."""
    cgroup = tmp_path / "sys/fs/cgroup"
    for name in ("memory", "cpu,cpuacct", "systemd"):
        _write(cgroup / name / "cgroup.procs", "")
    os.symlink("cpu,cpuacct", cgroup / "cpu")
    os.symlink("cpu,cpuacct", cgroup / "cpuacct")
    _write(cgroup / "unified" / "cgroup.controllers", "")
    memory = cgroup / "memory"
    _write(memory / "lxc/c1/tasks", "1001\n1002\n3001\n")
    _write(memory / "lxc/c1/memory.limit_in_bytes", "9223372036854771712\n")
    _write(memory / "lxc/c1/sub/cgroup.procs", "")
    _write(memory / "lxc/c2/tasks", "3001\n")
    _process(tmp_path, 1, "1", HOST_NAMESPACE)
    (tmp_path / "proc/self/ns").mkdir(parents=True)
    os.symlink(f"pid:[{HOST_NAMESPACE}]", tmp_path / "proc/self/ns/pid")
    _process(tmp_path, 1001, "1001 1", CONTAINER_NAMESPACE)
    _process(tmp_path, 1002, "1002 5", CONTAINER_NAMESPACE, uid=1000, capabilities="0")
    _process(tmp_path, 3001, "3001 1", OTHER_NAMESPACE)
    return tmp_path


def _container(caller: int, namespace: int, path: str, init: int | None) -> Container:
    return Container(
        caller_pid=caller,
        target_pid=init or caller,
        init_pid=init,
        pid_namespace=namespace,
        cgroup_paths={"memory": path, "cpu": path, "cpuacct": path, "name=systemd": path},
    )


def test_hierarchy_directories_and_links(root: Path) -> None:
    """Directories are named like LXCFS, the joined hierarchy gets its two links, and a
    host caller sees them all."""
    tree = CgroupTree(str(root))
    assert sorted(tree.hierarchies) == ["cpu,cpuacct", "memory", "systemd", "unified"]
    assert tree.aliases == {"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct"}
    host = tree.caller(_container(1, HOST_NAMESPACE, "/", 1), 0, 0)
    assert host.host
    entry = tree.lookup(host, "")
    assert tree.listing(host, entry) == [
        "cpu,cpuacct",
        "memory",
        "systemd",
        "unified",
        "cpu",
        "cpuacct",
    ]
    link = tree.lookup(host, "cpu")
    assert (link.kind, link.target) == ("alias", "cpu,cpuacct")


def test_container_view_is_rooted_at_its_cgroup(root: Path) -> None:
    """The container's memory directory is /lxc/c1; the sibling and the parent are
    invisible by any name; a hierarchy it has no path in is not listed."""
    tree = CgroupTree(str(root))
    caller = tree.caller(_container(1002, CONTAINER_NAMESPACE, "/lxc/c1", 1001), 1000, 1000)
    assert not caller.host and caller.depth == 1
    memory = tree.lookup(caller, "memory")
    assert memory.real == str(root / "sys/fs/cgroup/memory/lxc/c1")
    assert tree.listing(caller, memory) == ["memory.limit_in_bytes", "sub", "tasks"]
    for hidden in ("memory/c2", "memory/lxc", "memory/lxc/c2/tasks", "memory/../c2"):
        with pytest.raises(CgroupfsRefusal) as refused:
            tree.lookup(caller, hidden)
        assert refused.value.reason == "invisible"
    assert "unified" not in tree.listing(caller, tree.lookup(caller, ""))


def test_tasks_show_namespace_pids_only(root: Path) -> None:
    """Host pids 1001 and 1002 read as 1 and 5; 3001 (another namespace) is left out."""
    tree = CgroupTree(str(root))
    caller = tree.caller(_container(1002, CONTAINER_NAMESPACE, "/lxc/c1", 1001), 1000, 1000)
    assert tree.read(caller, tree.lookup(caller, "memory/tasks")) == b"1\n5\n"
    host = tree.caller(_container(1, HOST_NAMESPACE, "/", 1), 0, 0)
    tasks = tree.lookup(host, "memory/lxc/c1/tasks")
    assert tree.read(host, tasks) == b"1001\n1002\n3001\n"


def test_written_pids_are_the_callers_namespace_pids(root: Path) -> None:
    """Writing 5 moves host pid 1002 and 1 moves the init 1001; 3001, another
    namespace's pid, names nothing in the caller's namespace (no-such-process)."""
    tree = CgroupTree(str(root))
    caller = tree.caller(_container(1001, CONTAINER_NAMESPACE, "/lxc/c1", 1001), 0, 0)
    procs = tree.lookup(caller, "memory/sub/cgroup.procs")
    real = root / "sys/fs/cgroup/memory/lxc/c1/sub/cgroup.procs"
    assert tree.write(caller, procs, b"5\n") == 2
    assert real.read_text() == "1002"
    assert tree.write(caller, procs, b"1") == 1
    assert real.read_text() == "1001"
    with pytest.raises(CgroupfsRefusal) as refused:
        tree.write(caller, procs, b"3001\n")
    assert refused.value.reason == "no-such-process"
    with pytest.raises(CgroupfsRefusal) as refused:
        tree.write(caller, procs, b"one\n")
    assert refused.value.reason == "invalid"


def test_unprivileged_caller_is_refused_where_the_mode_bits_refuse(root: Path) -> None:
    """uid 1000 without capabilities may read a 0644 root file but not write it, nor make
    or remove a cgroup in a root 0755 directory."""
    if os.geteuid() != 0:
        pytest.skip("the fixture's files must be owned by root (uid 0) for this check")
    real = root / "sys/fs/cgroup/memory/lxc/c1"
    for path in (real, real / "sub"):
        path.chmod(0o755)
    (real / "memory.limit_in_bytes").chmod(0o644)
    tree = CgroupTree(str(root))
    caller = tree.caller(_container(1002, CONTAINER_NAMESPACE, "/lxc/c1", 1001), 1000, 1000)
    limit = tree.lookup(caller, "memory/memory.limit_in_bytes")
    assert tree.open_access(caller, limit, os.O_RDONLY) == 4
    for attempt in (
        lambda: tree.open_access(caller, limit, os.O_WRONLY),
        lambda: tree.mkdir(caller, "memory/new"),
        lambda: tree.rmdir(caller, "memory/sub"),
        lambda: tree.truncate(caller, "memory/memory.limit_in_bytes"),
    ):
        with pytest.raises(CgroupfsRefusal) as refused:
            attempt()
        assert refused.value.reason == "denied"
    assert not (real / "new").exists() and (real / "sub").is_dir()


def test_roots_cannot_be_removed_and_removal_is_real(root: Path) -> None:
    """rmdir of a hierarchy directory (the caller's root) is not permitted; of a child it
    removes the real directory."""
    tree = CgroupTree(str(root))
    caller = tree.caller(_container(1001, CONTAINER_NAMESPACE, "/lxc/c1", 1001), 0, 0)
    for top in ("memory", ""):
        with pytest.raises(CgroupfsRefusal) as refused:
            tree.rmdir(caller, top)
        assert refused.value.reason == "not-permitted"
    tree.mkdir(caller, "memory/made")
    made = root / "sys/fs/cgroup/memory/lxc/c1/made"
    assert made.is_dir()
    tree.rmdir(caller, "memory/made")
    assert not made.exists()


def test_pure_cgroup2_host_serves_the_v2_tree_as_unified(tmp_path: Path) -> None:
    """On a pure cgroup2 root the one hierarchy is the directory unified, rooted at the
    container's cgroup2 path (5.0.3 shows an empty cgroup/ there)."""
    _write(tmp_path / "sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
    _write(tmp_path / "sys/fs/cgroup/ct/cgroup.procs", "1001\n")
    _write(tmp_path / "sys/fs/cgroup/ct/memory.max", "max\n")
    _write(tmp_path / "sys/fs/cgroup/other/memory.max", "max\n")
    _process(tmp_path, 1, "1", HOST_NAMESPACE)
    _process(tmp_path, 1001, "1001 1", CONTAINER_NAMESPACE)
    tree = CgroupTree(str(tmp_path))
    assert list(tree.hierarchies) == ["unified"] and tree.aliases == {}
    container = Container(1001, 1001, 1001, CONTAINER_NAMESPACE, {"": "/ct"})
    caller = tree.caller(container, 0, 0)
    assert tree.listing(caller, tree.lookup(caller, "")) == ["unified"]
    unified = tree.lookup(caller, "unified")
    assert tree.listing(caller, unified) == ["cgroup.procs", "memory.max"]
    assert tree.read(caller, tree.lookup(caller, "unified/cgroup.procs")) == b"1\n"
    with pytest.raises(CgroupfsRefusal):
        tree.lookup(caller, "unified/other")


@pytest.fixture
def v2_root(tmp_path: Path) -> Path:
    """A pure cgroup2 host: the container ct (init 1001 = ns pid 1, in ct/init.scope, as
    root), its child cgroup, a sibling cgroup other; in ct's pid namespace uid 1000's
    task 1002 (ns pid 5) in ct/init.scope, uid 2000's 1003 (ns pid 6) likewise, and
    1004 (ns pid 7) that the host put in other. Every cgroup.procs is root's 0644."""
    cgroup = tmp_path / "sys/fs/cgroup"
    _write(cgroup / "cgroup.controllers", "cpu memory\n")
    for cgroup_path in ("", "ct", "ct/init.scope", "ct/child", "other"):
        _write(cgroup / cgroup_path / "cgroup.procs", "")
        (cgroup / cgroup_path / "cgroup.procs").chmod(0o644)
    _process(tmp_path, 1, "1", HOST_NAMESPACE, cgroup2="/")
    (tmp_path / "proc/self/ns").mkdir(parents=True)
    os.symlink(f"pid:[{HOST_NAMESPACE}]", tmp_path / "proc/self/ns/pid")
    _process(tmp_path, 1001, "1001 1", CONTAINER_NAMESPACE, cgroup2="/ct/init.scope")
    for pid, nspid, uid, where in (
        (1002, 5, 1000, "/ct/init.scope"),
        (1003, 6, 2000, "/ct/init.scope"),
        (1004, 7, 0, "/other"),
    ):
        _process(
            tmp_path,
            pid,
            f"{pid} {nspid}",
            CONTAINER_NAMESPACE,
            uid=uid,
            capabilities="0" if uid else ALL_CAPABILITIES,
            cgroup2=where,
        )
    return tmp_path


def _v2_caller(tree: CgroupTree, caller_pid: int, uid: int) -> Caller:
    container = Container(caller_pid, 1001, 1001, CONTAINER_NAMESPACE, {"": "/ct"})  # pruned
    return tree.caller(container, uid, uid)


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the fixture's cgroup.procs files must be chowned to other users")


def test_v2_move_needs_the_common_ancestors_procs(v2_root: Path) -> None:
    """uid 1000 owning only ct/child's cgroup.procs may not move itself there from
    ct/init.scope (the ancestor ct's cgroup.procs is root's): denied, nothing written."""
    _needs_root()
    child_procs = v2_root / "sys/fs/cgroup/ct/child/cgroup.procs"
    os.chown(child_procs, 1000, 1000)
    tree = CgroupTree(str(v2_root))
    caller = _v2_caller(tree, 1002, 1000)
    procs = tree.lookup(caller, "unified/child/cgroup.procs")
    assert tree.open_access(caller, procs, os.O_WRONLY) == 2
    with pytest.raises(CgroupfsRefusal) as refused:
        tree.write(caller, procs, b"5\n")
    assert refused.value.reason == "denied"
    assert child_procs.read_text() == ""


def test_v2_move_has_no_uid_rule(v2_root: Path) -> None:
    """uid 1000 owning ct's and ct/child's cgroup.procs moves uid 2000's task (ns pid 6)
    and its own into ct/child, which the v1 rule would refuse for the other uid's."""
    _needs_root()
    for cgroup_path in ("ct", "ct/child"):
        os.chown(v2_root / "sys/fs/cgroup" / cgroup_path / "cgroup.procs", 1000, 1000)
    tree = CgroupTree(str(v2_root))
    caller = _v2_caller(tree, 1002, 1000)
    procs = tree.lookup(caller, "unified/child/cgroup.procs")
    assert tree.write(caller, procs, b"6\n") == 2
    assert (v2_root / "sys/fs/cgroup/ct/child/cgroup.procs").read_text() == "1003"
    assert tree.write(caller, procs, b"5") == 1
    assert (v2_root / "sys/fs/cgroup/ct/child/cgroup.procs").read_text() == "1002"


def test_v2_move_from_outside_the_view_is_invisible(v2_root: Path) -> None:
    """Container root may move tasks within ct (ancestor ct), but not its namespace's task
    that sits in the sibling other (ancestor /, above the view): invisible (ENOENT), as
    with nsdelegate; its thread in ct is judged by the thread's own cgroup."""
    tree = CgroupTree(str(v2_root))
    caller = _v2_caller(tree, 1001, 0)
    child = v2_root / "sys/fs/cgroup/ct/child"
    procs = tree.lookup(caller, "unified/child/cgroup.procs")
    assert tree.write(caller, procs, b"5") == 1
    assert (child / "cgroup.procs").read_text() == "1002"
    with pytest.raises(CgroupfsRefusal) as refused:
        tree.write(caller, procs, b"7")
    assert refused.value.reason == "invisible"
    assert (child / "cgroup.procs").read_text() == "1002"
    # Thread 1005 of 1004 lives in ct/init.scope while its leader is in other.
    _write(child / "cgroup.threads", "")
    thread = v2_root / "proc/1004/task/1005"
    _write(thread / "cgroup", "0::/ct/init.scope\n")
    _process(v2_root, 1005, "1005 8", CONTAINER_NAMESPACE, cgroup2="/other")
    status = v2_root / "proc/1005/status"
    status.write_text(status.read_text().replace("Tgid:\t1005", "Tgid:\t1004"))
    threads = tree.lookup(caller, "unified/child/cgroup.threads")
    assert tree.write(caller, threads, b"8") == 1
    assert (child / "cgroup.threads").read_text() == "1005"
    with pytest.raises(CgroupfsRefusal) as refused:
        tree.write(caller, procs, b"8")  # cgroup.procs moves the leader's group: from other
    assert refused.value.reason == "invisible"
