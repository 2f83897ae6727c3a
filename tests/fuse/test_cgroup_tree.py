"""``lxcfs-fuse --enable-cgroup``: a probe in its own pid namespace, in real v1 cgroups, sees
and manages only its container's cgroups through ``<mnt>/cgroup``, with the kernel's answers.

Each probe operation runs as a child of the probe (same cgroups, same pid namespace), so the
daemon resolves it to the probe's container exactly as it would a container's process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.fuse.daemon import Daemon, lxcfs_fuse_mount
from tests.reload.library_copy import copy_library, edit_copy
from tests.system.harness import (
    CgroupSet,
    Probe,
    container_cgroups,
    own_cgroup_path,
    wait_until,
)

pytestmark = pytest.mark.root

NOBODY = 65534
CONTAINER_ROOT = 100000  # host uid/gid of root in an unprivileged container's user namespace
ATTRIBUTE_TIMEOUT = 0.6  # the daemon's entry_timeout/attr_timeout (0.5 s) and a margin

# Runs inside the probe's namespace: applies operations, answers JSON (errno names on failure).
_OPERATIONS = r"""
import errno, json, os, sys
spec = json.loads(sys.argv[1])
if spec.get("userns") is not None:
    # Become root of a new user namespace mapping ns 0.. to host <first>..: the parent (still
    # host root) writes the maps, as newuidmap would.
    import ctypes
    first, count = spec["userns"]
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:
        if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:
            os._exit(90)
        os.write(ready_write, b"u")
        os.read(go_read, 1)
        os.setgroups([])
        os.setgid(0)
        os.setuid(0)
    else:
        os.read(ready_read, 1)
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{child}/{name}", "w") as file:
                file.write(f"0 {first} {count}\n")
        os.write(go_write, b"g")
        _, status = os.waitpid(child, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
if spec.get("user") is not None:
    os.setgroups([])
    os.setgid(spec["user"])
    os.setuid(spec["user"])
results = []
for op, path, *rest in spec["ops"]:
    try:
        if op == "listdir":
            value = sorted(os.listdir(path))
        elif op == "listdir_loop":
            first = sorted(os.listdir(path))
            value = [first, sum(sorted(os.listdir(path)) == first for _ in range(rest[0] - 1))]
        elif op == "read":
            with open(path) as file:
                value = file.read()
        elif op == "write":
            with open(path, "w") as file:
                file.write(rest[0])
            value = None
        elif op == "write_own_pid":
            with open(path, "w") as file:
                file.write(str(os.getpid()))
            value = os.getpid()
        elif op == "mkdir":
            value = os.mkdir(path)
        elif op == "rmdir":
            value = os.rmdir(path)
        elif op == "stat":
            info = os.stat(path)
            value = [info.st_mode, info.st_uid, info.st_gid]
        elif op == "readlink":
            value = os.readlink(path)
        elif op == "symlink":
            value = os.symlink(rest[0], path)
        elif op == "own_cgroup":
            with open("/proc/self/cgroup") as file:
                value = file.read()
        else:
            value = "unknown op " + op
        results.append({"ok": value})
    except OSError as error:
        results.append({"errno": errno.errorcode.get(error.errno, str(error.errno))})
print(json.dumps({"pid": os.getpid(), "results": results}))
"""


def run_operations(
    probe: Probe,
    operations: Sequence[Sequence[Any]],
    *,
    user: int | None = None,
    userns: tuple[int, int] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Apply ``operations`` from a child of ``probe`` (as ``user``, or as root of a new user
    namespace mapping ``userns`` = (first host id, count)); (its namespace pid, answers)."""
    spec = json.dumps({"ops": [list(op) for op in operations], "user": user, "userns": userns})
    done = probe.run([sys.executable, "-c", _OPERATIONS, spec], timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    return int(answer["pid"]), list(answer["results"])


def only(probe: Probe, *operation: Any, user: int | None = None) -> dict[str, Any]:
    """One operation's answer."""
    return run_operations(probe, [operation], user=user)[1][0]


def real_listing(directory: str) -> list[str]:
    return sorted(os.listdir(directory))


def real_read(path: str) -> str:
    with open(path) as file:
        return file.read()


def track(cgroups: CgroupSet, directory: str) -> None:
    """Let teardown remove ``directory`` (deepest first), on failure too."""
    if directory not in cgroups.directories:
        cgroups.directories.append(directory)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    """lxcfs-fuse --enable-cgroup."""
    with lxcfs_fuse_mount(("--enable-cgroup",)) as mounted:
        yield mounted


@pytest.fixture
def container() -> Iterator[tuple[CgroupSet, Probe]]:
    """A container-like cgroup set with a probe as the init of its own pid namespace."""
    with container_cgroups() as cgroups:
        yield cgroups, cgroups.start_probe(new_pid_namespace=True)


def test_tree_lists_every_hierarchy_and_is_absent_without_the_option(daemon: Daemon) -> None:
    """cgroup/ lists one directory per mounted hierarchy, named like LXCFS (systemd,
    unified), and the mount root lists cgroup only with --enable-cgroup."""
    names = sorted(os.listdir(os.path.join(daemon.path, "cgroup")))
    real = sorted(os.listdir("/sys/fs/cgroup"))
    assert (
        names == real
    )  # here: blkio cpu cpuacct cpuset devices freezer memory pids systemd unified
    assert "cgroup" in os.listdir(daemon.path)
    with lxcfs_fuse_mount(()) as plain:
        assert "cgroup" not in os.listdir(plain.path)
        assert not os.path.exists(os.path.join(plain.path, "cgroup"))


def test_host_caller_sees_the_whole_hierarchy_with_host_pids(
    daemon: Daemon, container: tuple[CgroupSet, Probe]
) -> None:
    """A host caller's view is rooted at the real root: the container's cgroup is at its full
    path, and its tasks file lists host pids."""
    cgroups, probe = container
    child = cgroups.child_paths["memory"]
    mounted = os.path.join(daemon.path, "cgroup/memory", child.lstrip("/"))
    assert real_listing(mounted) == real_listing(cgroups.directory("memory"))
    assert str(probe.pid) in real_read(os.path.join(mounted, "tasks")).split()
    real_stat = os.stat(os.path.join(cgroups.directory("memory"), "memory.limit_in_bytes"))
    mounted_stat = os.stat(os.path.join(mounted, "memory.limit_in_bytes"))
    assert (mounted_stat.st_mode, mounted_stat.st_uid, mounted_stat.st_gid) == (
        real_stat.st_mode,
        real_stat.st_uid,
        real_stat.st_gid,
    )


def test_container_sees_only_its_subtree_with_namespace_pids(
    daemon: Daemon, container: tuple[CgroupSet, Probe]
) -> None:
    """In a container, cgroup/memory and cgroup/cpuset are its own cgroups (same entries as
    the real ones), and tasks lists the pids of its namespace: 1 and the reader."""
    cgroups, probe = container
    tree = os.path.join(daemon.path, "cgroup")
    pid, answers = run_operations(
        probe,
        [
            ("listdir", f"{tree}/memory"),
            ("listdir", f"{tree}/cpuset"),
            ("read", f"{tree}/memory/tasks"),
            ("read", f"{tree}/cpuset/cgroup.procs"),
            ("read", f"{tree}/memory/memory.limit_in_bytes"),
        ],
    )
    assert answers[0] == {"ok": real_listing(cgroups.directory("memory"))}
    assert answers[1] == {"ok": real_listing(cgroups.directory("cpuset"))}
    assert sorted(int(p) for p in answers[2]["ok"].split()) == [1, pid]
    assert sorted(int(p) for p in answers[3]["ok"].split()) == [1, pid]
    assert answers[4] == {"ok": cgroups.read("memory", "memory.limit_in_bytes")}
    # The real file holds host pids: the probe's is among them, the namespace's 1 is not.
    real_tasks = cgroups.read("memory", "tasks").split()
    assert str(probe.pid) in real_tasks and "1" not in real_tasks


def test_create_limit_move_and_remove_through_the_mount(
    daemon: Daemon, container: tuple[CgroupSet, Probe]
) -> None:
    """The container makes a child cgroup, limits it to 64 MiB and moves its init (ns pid 1)
    there through the mount; the real cgroup changes; the view then follows the init (the
    container's root is its init's cgroup, spec 2.1); moved back, it removes the child."""
    cgroups, probe = container
    tree = os.path.join(daemon.path, "cgroup")
    real_sub = os.path.join(cgroups.directory("memory"), "sub")
    answers = run_operations(probe, [("mkdir", f"{tree}/memory/sub")])[1]
    track(cgroups, real_sub)
    assert answers == [{"ok": None}]
    assert os.path.isdir(real_sub)
    answers = run_operations(
        probe,
        [
            ("write", f"{tree}/memory/sub/memory.limit_in_bytes", str(64 << 20)),
            ("read", f"{tree}/memory/sub/memory.limit_in_bytes"),
            ("write", f"{tree}/memory/sub/cgroup.procs", "1"),
        ],
    )[1]
    assert answers == [{"ok": None}, {"ok": f"{64 << 20}\n"}, {"ok": None}]
    assert real_read(os.path.join(real_sub, "memory.limit_in_bytes")) == f"{64 << 20}\n"
    assert own_cgroup_path("memory", probe.pid) == cgroups.child_paths["memory"] + "/sub"
    assert real_read(os.path.join(real_sub, "tasks")).split() == [str(probe.pid)]
    # The init now lives in sub: that is the container's root from now on. The kernel keeps
    # names and attributes it was given for the mount's entry/attr timeout (0.5 s) for every
    # caller alike, so a stat of the old 'sub' could still be answered from its cache: wait
    # that out (opens and listings always reach the daemon and are decided afresh).
    time.sleep(ATTRIBUTE_TIMEOUT)
    pid, answers = run_operations(
        probe,
        [
            ("listdir", f"{tree}/memory"),
            ("read", f"{tree}/memory/memory.limit_in_bytes"),
            ("read", f"{tree}/memory/tasks"),
            ("stat", f"{tree}/memory/sub"),
            ("own_cgroup", "-"),
        ],
    )
    assert answers[0] == {"ok": real_listing(real_sub)}
    assert answers[1] == {"ok": f"{64 << 20}\n"}
    assert sorted(int(p) for p in answers[2]["ok"].split()) == [1, pid]
    assert answers[3] == {"errno": "ENOENT"}
    assert f"memory:{cgroups.child_paths['memory']}/sub\n" in answers[4]["ok"]
    # Its own pid moves a task too: back to where the harness put the container.
    cgroups.add_pid(probe.pid)  # the host moves the init back
    pid, answers = run_operations(
        probe, [("rmdir", f"{tree}/memory/sub"), ("rmdir", f"{tree}/memory")]
    )
    assert answers == [{"ok": None}, {"errno": "EPERM"}]
    assert not os.path.exists(real_sub)


def test_own_pid_moves_the_writer(daemon: Daemon, container: tuple[CgroupSet, Probe]) -> None:
    """Writing its own namespace pid to a child's tasks moves the writing task itself."""
    cgroups, probe = container
    tree = os.path.join(daemon.path, "cgroup")
    real_sub = os.path.join(cgroups.directory("cpuset"), "sub")
    run_operations(probe, [("mkdir", f"{tree}/cpuset/sub")])
    track(cgroups, real_sub)
    cpus = cgroups.read("cpuset", "cpuset.cpus").strip()
    mems = cgroups.read("cpuset", "cpuset.mems").strip()
    pid, answers = run_operations(
        probe,
        [
            ("write", f"{tree}/cpuset/sub/cpuset.cpus", cpus),
            ("write", f"{tree}/cpuset/sub/cpuset.mems", mems),
            ("write_own_pid", f"{tree}/cpuset/sub/tasks"),
            ("own_cgroup", "-"),
            ("read", f"{tree}/cpuset/sub/tasks"),
        ],
    )
    assert answers[:3] == [{"ok": None}, {"ok": None}, {"ok": pid}]
    assert f"cpuset:{cgroups.child_paths['cpuset']}/sub\n" in answers[3]["ok"]
    assert answers[4] == {"ok": f"{pid}\n"}
    assert real_read(os.path.join(real_sub, "cpuset.cpus")).strip() == cpus


def test_siblings_and_parents_are_out_of_reach(
    daemon: Daemon, container: tuple[CgroupSet, Probe]
) -> None:
    """A sibling cgroup, the parent and another container's cgroups cannot be seen, read,
    written or removed by name, full path, '..' or symlink, and another container's pids
    (host pids) cannot be moved: nothing real changes."""
    cgroups, probe = container
    tree = os.path.join(daemon.path, "cgroup")
    parent = cgroups.directory("memory", on_parent=True)
    sibling = os.path.join(parent, "c2")
    os.mkdir(sibling)
    track(cgroups, sibling)
    limit_before = real_read(os.path.join(sibling, "memory.limit_in_bytes"))
    parent_limit_before = real_read(os.path.join(parent, "memory.limit_in_bytes"))
    full_child = cgroups.child_paths["memory"].lstrip("/")
    full_parent = cgroups.parent_paths["memory"].lstrip("/")
    with container_cgroups() as other:
        stranger = other.start_probe(new_pid_namespace=True)
        stranger_cgroup = own_cgroup_path("memory", stranger.pid)
        attempts = [
            ("listdir", f"{tree}/memory/c2"),
            ("read", f"{tree}/memory/c2/memory.limit_in_bytes"),
            ("read", f"{tree}/memory/../memory/c2/tasks"),
            ("read", f"{tree}/memory/sub/../c2/tasks"),
            ("listdir", f"{tree}/memory/{cgroups.name}"),
            ("listdir", f"{tree}/memory/{full_parent}"),
            ("read", f"{tree}/memory/{full_parent}/c2/tasks"),
            ("listdir", f"{tree}/memory/{full_child}"),
            ("read", f"{tree}/memory/{stranger_cgroup.lstrip('/')}/tasks"),
            ("write", f"{tree}/memory/c2/memory.limit_in_bytes", str(32 << 20)),
            ("write", f"{tree}/memory/{full_parent}/memory.limit_in_bytes", str(32 << 20)),
            ("mkdir", f"{tree}/memory/c2/x"),
            ("rmdir", f"{tree}/memory/c2"),
            ("rmdir", f"{tree}/memory/{full_parent}/c2"),
            ("symlink", f"{tree}/memory/up", "../../.."),
            ("write", f"{tree}/memory/tasks", str(stranger.pid)),
            ("write", f"{tree}/memory/cgroup.procs", str(other_pid_for(stranger))),
        ]
        answers = run_operations(probe, attempts)[1]
        for attempt, answer in zip(attempts, answers, strict=True):
            assert "errno" in answer, f"{attempt} succeeded: {answer}"
        by_name = dict(zip((a[0] + " " + a[1] for a in attempts), answers, strict=True))
        assert by_name[f"listdir {tree}/memory/c2"] == {"errno": "ENOENT"}
        assert by_name[f"write {tree}/memory/tasks"] == {"errno": "ESRCH"}
        assert by_name[f"rmdir {tree}/memory/c2"] == {"errno": "ENOENT"}
        assert own_cgroup_path("memory", stranger.pid) == stranger_cgroup
        assert str(stranger.pid) not in cgroups.read("memory", "tasks").split()
    assert real_read(os.path.join(sibling, "memory.limit_in_bytes")) == limit_before
    assert real_read(os.path.join(parent, "memory.limit_in_bytes")) == parent_limit_before
    assert os.path.isdir(sibling)
    assert not os.path.lexists(os.path.join(cgroups.directory("memory"), "up"))


def other_pid_for(probe: Probe) -> int:
    """A host pid of another container that is not a small number any namespace of ours
    could also have (the stranger's launcher)."""
    return probe.launcher_pid


def test_a_thousand_readdirs_stay_correct(
    daemon: Daemon, container: tuple[CgroupSet, Probe]
) -> None:
    """1,000 listings of cgroup/cpuset from the container are all the same, and equal to
    the real cpuset cgroup's entries (5.0.3's test_readdir)."""
    cgroups, probe = container
    answer = only(probe, "listdir_loop", f"{daemon.path}/cgroup/cpuset", 1000)
    first, same = answer["ok"]
    assert first == real_listing(cgroups.directory("cpuset"))
    assert same == 999


def _delegate(cgroups: CgroupSet, owner: int) -> str:
    """A child memory cgroup handed to ``owner`` the way LXC delegates one (the directory
    and its files chowned); removed with the set."""
    delegated = os.path.join(cgroups.directory("memory"), "delegated")
    os.mkdir(delegated)
    track(cgroups, delegated)
    os.chown(delegated, owner, owner)
    for name in os.listdir(delegated):
        os.chown(os.path.join(delegated, name), owner, owner)
    return delegated


def test_unprivileged_caller_gets_what_the_real_cgroupfs_gives(
    daemon: Daemon, container: tuple[CgroupSet, Probe]
) -> None:
    """As nobody, every operation through the mount fails or succeeds exactly as on the real
    cgroupfs: reads of 0644 files work, writes, mkdir and task moves are EACCES; in a cgroup
    delegated to nobody (chowned), nobody writes, makes and removes cgroups."""
    cgroups, probe = container
    real = cgroups.directory("memory")
    delegated = _delegate(cgroups, NOBODY)
    tree = os.path.join(daemon.path, "cgroup/memory")
    os.chmod(os.path.dirname(daemon.path), 0o755)  # mkdtemp's 0700 would stop nobody first

    def attempts(root: str) -> list[tuple[Any, ...]]:
        return [
            ("listdir", root),
            ("read", f"{root}/memory.limit_in_bytes"),
            ("write", f"{root}/memory.limit_in_bytes", str(32 << 20)),
            ("mkdir", f"{root}/x"),
            ("write", f"{root}/tasks", "1"),
            ("rmdir", f"{root}/delegated"),
            ("write", f"{root}/delegated/memory.limit_in_bytes", str(48 << 20)),
            ("mkdir", f"{root}/delegated/mine"),
            ("rmdir", f"{root}/delegated/mine"),
        ]

    through_mount = run_operations(probe, attempts(tree), user=NOBODY)[1]
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(os.path.join(delegated, "mine"))
    directly = run_operations(probe, attempts(real), user=NOBODY)[1]
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(os.path.join(delegated, "mine"))
    outcomes = [answer.get("errno", "ok") for answer in through_mount]
    assert outcomes == [answer.get("errno", "ok") for answer in directly]
    assert outcomes == ["ok", "ok", "EACCES", "EACCES", "EACCES", "EACCES", "ok", "ok", "ok"]
    assert real_read(os.path.join(delegated, "memory.limit_in_bytes")) == f"{48 << 20}\n"


def test_sigusr1_reload_serves_the_new_librarys_tree(tmp_path: Path) -> None:
    """The tree is the library's: after SIGUSR1 loads a copy whose cgroup2 directory is
    named differently, cgroup/ lists the new name; the old name is gone."""
    library = copy_library(tmp_path)
    with lxcfs_fuse_mount(
        ("--enable-cgroup",), extra_env={"PYTHONPATH": str(library)}, cwd=str(library)
    ) as upgradable:
        tree = os.path.join(upgradable.path, "cgroup")
        assert "unified" in os.listdir(tree)
        edit_copy(library, "cgroupfs.py", 'UNIFIED_NAME = "unified"', 'UNIFIED_NAME = "v2"')
        upgradable.process.send_signal(signal.SIGUSR1)
        assert wait_until(lambda: "SIGUSR1: reloaded" in upgradable.log(), timeout=30)
        names = os.listdir(tree)
        assert "v2" in names and "unified" not in names
        assert sorted(os.listdir(os.path.join(tree, "v2"))) == real_listing(
            "/sys/fs/cgroup/unified"
        )


def test_user_namespace_root_gets_what_the_real_cgroupfs_gives(
    daemon: Daemon, container: tuple[CgroupSet, Probe]
) -> None:
    """Root of a user namespace mapping 0 to host 100000 (an unprivileged container) gets
    exactly the real cgroupfs's answers through the mount: nothing in root's cgroups; in a
    cgroup delegated to 100000 it writes, makes a cgroup, moves itself (not the host-root
    init) and removes it."""
    cgroups, probe = container
    real = cgroups.directory("memory")
    delegated = _delegate(cgroups, CONTAINER_ROOT)
    os.chmod(os.path.dirname(daemon.path), 0o755)

    def attempts(root: str) -> list[tuple[Any, ...]]:
        return [
            ("listdir", root),
            ("read", f"{root}/memory.limit_in_bytes"),
            ("write", f"{root}/memory.limit_in_bytes", str(32 << 20)),
            ("mkdir", f"{root}/x"),
            ("write", f"{root}/tasks", "1"),
            ("write", f"{root}/delegated/memory.limit_in_bytes", str(48 << 20)),
            ("mkdir", f"{root}/delegated/mine"),
            ("write", f"{root}/delegated/mine/tasks", "1"),
            ("write_own_pid", f"{root}/delegated/mine/tasks"),
            ("write_own_pid", f"{root}/delegated/tasks"),
            ("rmdir", f"{root}/delegated/mine"),
        ]

    mapping = (CONTAINER_ROOT, 65536)
    tree = os.path.join(daemon.path, "cgroup/memory")
    through_mount = run_operations(probe, attempts(tree), userns=mapping)[1]
    directly = run_operations(probe, attempts(real), userns=mapping)[1]
    outcomes = [answer.get("errno", "ok") for answer in through_mount]
    assert outcomes == [answer.get("errno", "ok") for answer in directly]
    assert (
        outcomes == ["ok", "ok", "EACCES", "EACCES", "EACCES"] + ["ok", "ok", "EACCES"] + ["ok"] * 3
    )
    assert real_read(os.path.join(delegated, "memory.limit_in_bytes")) == f"{48 << 20}\n"
