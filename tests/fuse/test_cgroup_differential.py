"""Differential: the cgroup tree of Debian's lxcfs 5.0.3 and of ``lxcfs-fuse --enable-cgroup``,
mounted side by side and driven by one probe (the init of its own pid namespace, in a
container-like cgroup set) through the same operations: 5.0.3's test_cgroup, test_confinement
and test_syscalls, run against both.

Path mapping: 5.0.3 shows full host paths with only the chain down to the caller's cgroup
visible (``cgroup/cpu/lxcfs_py_test_X/c1/...``); ours shows the container's cgroup as the root
of each hierarchy (``cgroup/cpu/...``). What matches is asserted equal through that mapping;
every deliberate difference (docs/cgroupfs.md, "Differences from 5.0.3") is asserted to be
exactly that difference.

Rules: cgroups come from tests.system.harness (memory ones beneath this process's own memory
cgroup, the others ``lxcfs_py_test_*`` under the roots); every directory made through either
mount is registered for teardown before it is made, so a failure leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fuse.daemon import lxcfs_fuse_mount
from tests.system.harness import (
    HIERARCHIES,
    CgroupSet,
    Probe,
    container_cgroups,
    lxcfs_mount,
    own_cgroup_path,
    wait_until,
)

pytestmark = [pytest.mark.root, pytest.mark.lxcfs]

#: The hierarchy every single-file operation below goes through (a plain v1 hierarchy here).
CPU = "cpu"
#: The devices hierarchy: the container is placed in it too, for the capability test.
DEVICES = "devices"
#: Runs inside the probe's pid namespace: performs ``[op, path, argument?]`` in order and
#: prints one JSON result per operation, ``{"ok": value}`` or ``{"errno": "ENOENT"}``. A child
#: of the probe is in the same cgroups and pid namespace, so both daemons resolve the same
#: container for it. Only the standard library: it also runs as uid 1000 under
#: /usr/bin/python3.
OPERATIONS = r"""
import errno, json, os, sys
results = []
for op in json.loads(sys.argv[1]):
    kind, path = op[0], op[1]
    try:
        if kind == "read":
            with open(path, "rb") as file:
                value = file.read().decode()
        elif kind == "pread":
            fd = os.open(path, os.O_RDONLY)
            try:
                value = os.pread(fd, 4096, op[2]).decode()
            finally:
                os.close(fd)
        elif kind == "listdir":
            value = sorted(os.listdir(path))
        elif kind == "mkdir":
            value = os.mkdir(path)
        elif kind == "rmdir":
            value = os.rmdir(path)
        elif kind == "stat":
            info = os.stat(path)
            value = {"size": info.st_size, "mode": info.st_mode, "uid": info.st_uid}
        elif kind == "chmod":
            value = os.chmod(path, op[2])
        elif kind == "chown":
            value = os.chown(path, op[2], -1)
        elif kind == "symlink":
            value = os.symlink(op[2], path)
        elif kind == "write":  # as the shell's ">" opens it
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                value = os.write(fd, op[2].encode())
            finally:
                os.close(fd)
        elif kind == "move-self":  # echo $$ > cgroup.procs
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
            with open("/proc/self/cgroup") as file:
                value = file.read()
        else:
            raise ValueError(kind)
        results.append({"ok": value})
    except OSError as error:
        results.append({"errno": errno.errorcode.get(error.errno, str(error.errno))})
print(json.dumps(results))
"""

#: Runs argv as root of a new user namespace whose ids 0-65535 are host 100000-165535 (what
#: an unprivileged LXC container gets). The maps are written here because util-linux's
#: ``unshare --map-users`` needs newuidmap, which this machine lacks.
USER_NAMESPACE_BASE = 100000
IN_USER_NAMESPACE = r"""
import ctypes, os, sys
CLONE_NEWUSER = 0x10000000
ready, go = os.pipe(), os.pipe()
child = os.fork()
if child == 0:
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWUSER) != 0:
        os._exit(90)
    os.write(ready[1], b"u")
    os.read(go[0], 1)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    os.execv(sys.argv[1], sys.argv[1:])
os.read(ready[0], 1)
maps = (("uid_map", "0 100000 65536"), ("setgroups", "deny"), ("gid_map", "0 100000 65536"))
for name, text in maps:
    with open(f"/proc/{child}/{name}", "w") as file:
        file.write(text)
os.write(go[1], b"g")
sys.exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
"""


def enable_cgroup_supported() -> bool:
    """Whether this tree's lxcfs-fuse has the --enable-cgroup option (issue 8's core)."""
    usage = subprocess.run(
        [sys.executable, "-m", "lxcfs_fuse", "--help"], capture_output=True, text=True, timeout=30
    )
    return "--enable-cgroup" in usage.stdout


@dataclass
class World:
    """Both mounts, the container's cgroups, a sibling cgroup beside its own, the probe."""

    theirs: str
    ours: str
    cgroups: CgroupSet
    probe: Probe
    sibling: str  # the sibling's name, beside the container's own c1

    def theirs_path(self, hierarchy: str, relative: str = "") -> str:
        """A path of the container's cgroup in 5.0.3's tree (full host path)."""
        base = f"{self.theirs}/cgroup/{hierarchy}{self.cgroups.child_paths[hierarchy]}"
        return f"{base}/{relative}" if relative else base

    def ours_path(self, hierarchy: str, relative: str = "") -> str:
        """The same path in ours (the container's cgroup is the hierarchy's root)."""
        base = f"{self.ours}/cgroup/{hierarchy}"
        return f"{base}/{relative}" if relative else base

    def real_path(self, hierarchy: str, relative: str = "") -> str:
        """The same cgroup in the real cgroupfs."""
        base = self.cgroups.directory(hierarchy)
        return f"{base}/{relative}" if relative else base

    def parent_name(self) -> str:
        return self.cgroups.name

    def run(
        self,
        operations: Sequence[Sequence[Any]],
        *,
        user: int | None = None,
        user_namespace: bool = False,
        without_capabilities: bool = False,
    ) -> list[dict[str, Any]]:
        """Perform ``operations`` in a child of the probe: as root, as uid/gid ``user``, as
        root of a new user namespace mapping 0-65535 to host 100000-165535, or as root
        without any capability (a Docker-like container keeps uid 0 but drops CAP_SYS_ADMIN)."""
        encoded = json.dumps([list(op) for op in operations])
        # /usr/bin/python3 for the unprivileged runs: this interpreter may sit below /root.
        argv = [sys.executable, "-c", OPERATIONS, encoded]
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
            argv += ["/usr/bin/python3", "-c", OPERATIONS, encoded]
        elif user_namespace:
            argv = [sys.executable, "-c", IN_USER_NAMESPACE]
            argv += ["/usr/bin/python3", "-c", OPERATIONS, encoded]
        elif without_capabilities:
            argv = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
            argv += ["/usr/bin/python3", "-c", OPERATIONS, encoded]
        done = self.probe.run(argv)
        assert done.returncode == 0, done.stderr
        results: list[dict[str, Any]] = json.loads(done.stdout)
        return results

    def rmdir(self, path: str) -> bool:
        """rmdir ``path`` from inside the container; whether it worked."""
        return "ok" in self.run([("rmdir", path)])[0]

    def adopt(self, hierarchy: str, relative: str) -> str:
        """Register a cgroup a test is about to create (through either mount) for teardown."""
        path = self.real_path(hierarchy, relative)
        if path not in self.cgroups.directories:
            self.cgroups.directories.append(path)
        return path


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Debian's lxcfs and ours with --enable-cgroup; a container (lxcfs_py_test_X/c1) with a
    sibling c2 in every hierarchy; a probe as the init of a fresh pid namespace in c1."""
    if not enable_cgroup_supported():
        pytest.skip(
            "waits for issue 8's core: lxcfs-fuse --enable-cgroup (the cgroup tree in "
            "lxcfs_fuse, its lxcfs_model decisions and io layer) has not landed"
        )
    with contextlib.ExitStack() as stack:
        cgroups = stack.enter_context(container_cgroups((*HIERARCHIES, DEVICES)))
        sibling = "c2"
        for hierarchy in HIERARCHIES:
            path = os.path.join(os.path.dirname(cgroups.directory(hierarchy)), sibling)
            if path not in cgroups.directories:
                os.mkdir(path)
                cgroups.directories.append(path)
        theirs = stack.enter_context(lxcfs_mount(()))
        ours = stack.enter_context(lxcfs_fuse_mount(("--enable-cgroup",)))
        for mountpoint in (theirs.path, ours.path):
            # mkdtemp made the work directories 0700; uid 1000 must reach the mounts.
            os.chmod(os.path.dirname(mountpoint), 0o755)
        probe = cgroups.start_probe(new_pid_namespace=True)
        yield World(theirs.path, ours.path, cgroups, probe, sibling)


def _ok(result: dict[str, Any]) -> Any:
    assert "ok" in result, result
    return result["ok"]


def _errno(result: dict[str, Any]) -> str:
    assert "errno" in result, f"expected a refusal, got {result}"
    return str(result["errno"])


def test_controller_directories(world: World) -> None:
    """Both list one directory per mounted v1 hierarchy under the same names; ours adds the
    hybrid cgroup2 mount as ``unified`` and a symlink per member of a joined hierarchy, which
    5.0.3 does not show."""
    theirs, ours = world.run(
        [("listdir", f"{world.theirs}/cgroup"), ("listdir", f"{world.ours}/cgroup")]
    )
    expected = set(_ok(theirs))
    if os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers"):
        expected.add("unified")
    for joined in [name for name in _ok(theirs) if "," in name]:
        expected.update(joined.split(","))
    assert sorted(expected) == _ok(ours)
    assert {"cpu", "cpuacct", "memory", "cpuset", "systemd"} <= set(_ok(theirs))


def test_the_containers_cgroup_is_the_root(world: World) -> None:
    """5.0.3 shows each hierarchy from the host root with only the chain down to the caller's
    cgroup; ours shows the container's cgroup as the root: its listing is 5.0.3's listing of
    the full path, which is the real directory's, and the chain is not there."""
    operations: list[tuple[str, str]] = []
    for hierarchy in HIERARCHIES:
        operations += [
            ("listdir", f"{world.theirs}/cgroup/{hierarchy}"),
            ("listdir", world.theirs_path(hierarchy)),
            ("listdir", world.ours_path(hierarchy)),
            ("listdir", f"{world.ours}/cgroup/{hierarchy}/{world.parent_name()}"),
        ]
    results = world.run(operations)
    for index, hierarchy in enumerate(HIERARCHIES):
        chain, theirs_full, ours_root, ours_chain = results[4 * index : 4 * index + 4]
        first_component = world.cgroups.child_paths[hierarchy].split("/")[1]
        assert _ok(chain) == [first_component], hierarchy
        assert _ok(ours_root) == _ok(theirs_full), hierarchy
        assert _ok(ours_root) == sorted(os.listdir(world.real_path(hierarchy))), hierarchy
        assert _errno(ours_chain) == "ENOENT", hierarchy


def test_reads_pass_through(world: World) -> None:
    """A file of the container's cgroup reads the same through both, equal to the real file
    (memory.limit_in_bytes after a 96 MiB limit, cpu.shares, cpuset.cpus); a read at offset
    2 returns the rest of the file in ours and nothing in 5.0.3, which serves offset 0 only."""
    world.cgroups.set_memory_limit(96 << 20)
    world.cgroups.write("cpu", "cpu.shares", 512)
    files = [("memory", "memory.limit_in_bytes"), ("cpu", "cpu.shares"), ("cpuset", "cpuset.cpus")]
    operations: list[tuple[Any, ...]] = []
    for hierarchy, name in files:
        operations += [
            ("read", world.theirs_path(hierarchy, name)),
            ("read", world.ours_path(hierarchy, name)),
        ]
    operations += [
        ("pread", world.theirs_path(CPU, "cpu.shares"), 2),
        ("pread", world.ours_path(CPU, "cpu.shares"), 2),
    ]
    results = world.run(operations)
    for index, (hierarchy, name) in enumerate(files):
        real = world.cgroups.read(hierarchy, name)
        assert _ok(results[2 * index]) == real, name
        assert _ok(results[2 * index + 1]) == real, name
    assert _ok(results[-2]) == ""
    assert _ok(results[-1]) == "512\n"[2:]
    assert world.cgroups.read("memory", "memory.limit_in_bytes") == f"{96 << 20}\n"


def test_tasks_show_namespace_pids(world: World) -> None:
    """The probe reads its own cgroup's tasks and cgroup.procs: 5.0.3 shows its namespace pid
    1 and a 0 for the unshare(1) process outside the namespace; ours shows 1 only. The host
    sees host pids through both, the real file's."""
    names = ["tasks", "cgroup.procs"]
    paths = [world.theirs_path(CPU, n) for n in names] + [world.ours_path(CPU, n) for n in names]
    answers = world.probe.read_raw(paths)
    theirs_tasks, theirs_procs, ours_tasks, ours_procs = (answers[p] for p in paths)
    assert sorted(theirs_tasks["text"].split()) == ["0", "1"]
    assert sorted(theirs_procs["text"].split()) == ["0", "1"]
    assert ours_tasks["text"] == "1\n"
    assert ours_procs["text"] == "1\n"
    # The host (this process, whose container is the host's init at every root) sees host pids.
    real = world.cgroups.read(CPU, "tasks")
    assert sorted(real.split()) == sorted([str(world.probe.launcher_pid), str(world.probe.pid)])
    relative = world.cgroups.child_paths[CPU]
    with open(f"{world.theirs}/cgroup/{CPU}{relative}/tasks") as theirs_host:
        assert theirs_host.read() == real
    with open(f"{world.ours}/cgroup/{CPU}{relative}/tasks") as ours_host:
        assert ours_host.read() == real


def test_manage_a_child_cgroup(world: World) -> None:
    """5.0.3's test_cgroup through both: a child made through each is one real cgroup both
    list; memory.limit_in_bytes and cpuset.cpus written through each reach it; a process
    moves itself into it by writing its namespace pid; rmdir removes it. Its empty tasks file
    reads empty through ours and EINVAL through 5.0.3."""
    kids = {"theirs": "kid_theirs", "ours": "kid_ours"}
    mems = world.cgroups.read("cpuset", "cpuset.mems").strip()
    for hierarchy in ("memory", "cpuset", CPU):
        for kid in kids.values():
            world.adopt(hierarchy, kid)
    for side, kid in kids.items():
        path = world.theirs_path if side == "theirs" else world.ours_path
        results = world.run(
            [
                ("mkdir", path("memory", kid)),
                ("mkdir", path("cpuset", kid)),
                ("mkdir", path(CPU, kid)),
                ("write", path("memory", f"{kid}/memory.limit_in_bytes"), str(64 << 20)),
                ("write", path("cpuset", f"{kid}/cpuset.mems"), mems),
                ("write", path("cpuset", f"{kid}/cpuset.cpus"), "0"),
                ("read", path(CPU, f"{kid}/tasks")),
            ]
        )
        for result in results[:6]:
            _ok(result)
        if side == "theirs":
            assert _errno(results[6]) == "EINVAL"
        else:
            assert _ok(results[6]) == ""
        assert world.cgroups.read("memory", f"{kid}/memory.limit_in_bytes") == f"{64 << 20}\n"
        assert world.cgroups.read("cpuset", f"{kid}/cpuset.cpus") == "0\n"
    listings = world.run([("listdir", world.theirs_path(CPU)), ("listdir", world.ours_path(CPU))])
    for listing in listings:
        assert set(kids.values()) <= set(_ok(listing))
    for side, kid in kids.items():
        path = world.theirs_path if side == "theirs" else world.ours_path
        moved = _ok(world.run([("move-self", path(CPU, f"{kid}/cgroup.procs"))])[0])
        assert f":cpu:{world.cgroups.child_paths[CPU]}/{kid}\n" in moved, (side, moved)
    for side, kid in kids.items():
        path = world.theirs_path if side == "theirs" else world.ours_path
        for hierarchy in ("memory", "cpuset", CPU):
            # The mover has exited, but the kernel may still be releasing it: retry EBUSY.
            target = path(hierarchy, kid)
            assert wait_until(functools.partial(world.rmdir, target), 5, 0.1), target
            assert not os.path.exists(world.real_path(hierarchy, kid)), (side, hierarchy)


def test_rmdir_of_a_cgroup_with_children(world: World) -> None:
    """rmdir of a child cgroup that has a child of its own: ours gets the kernel's EBUSY and
    removes nothing; 5.0.3 removes the grandchild first, then the child, and succeeds."""
    for name in ("nest", "nest/inner"):
        os.mkdir(world.adopt(CPU, name))
    ours = world.run([("rmdir", world.ours_path(CPU, "nest"))])
    assert _errno(ours[0]) == "EBUSY"
    assert os.path.isdir(world.real_path(CPU, "nest/inner"))
    theirs = world.run([("rmdir", world.theirs_path(CPU, "nest"))])
    assert _ok(theirs[0]) is None
    assert not os.path.exists(world.real_path(CPU, "nest"))


def test_confinement(world: World) -> None:
    """5.0.3's test_confinement and test_syscalls through both: nothing beside or above the
    container's cgroup can be read, written, made or removed, with the errno each daemon
    gives (5.0.3 EPERM where it can name the path, ours ENOENT: the path is not there)."""
    parent = world.parent_name()
    sibling = f"{parent}/{world.sibling}"
    theirs_root = f"{world.theirs}/cgroup/{CPU}"
    ours_root = f"{world.ours}/cgroup/{CPU}"
    real_before = {
        "parent": _read_real(f"/sys/fs/cgroup/{CPU}/{parent}/cpu.shares"),
        "sibling": _read_real(f"/sys/fs/cgroup/{CPU}/{sibling}/cpu.shares"),
    }
    # (what, 5.0.3 operation, its errno, our operation, our errno)
    cases: list[tuple[str, tuple[Any, ...], str, tuple[Any, ...], str]] = [
        (
            "read the parent's file",
            ("read", f"{theirs_root}/{parent}/cpu.shares"),
            "ENOENT",
            ("read", f"{ours_root}/../cpu.shares"),
            "ENOENT",
        ),
        (
            "read the parent's file by its host path",
            ("read", f"{theirs_root}/cpu.shares"),
            "ENOENT",
            ("read", f"{ours_root}/{parent}/cpu.shares"),
            "ENOENT",
        ),
        (
            "read a sibling's file",
            ("read", f"{theirs_root}/{sibling}/cpu.shares"),
            "ENOENT",
            ("read", f"{ours_root}/{sibling}/cpu.shares"),
            "ENOENT",
        ),
        (
            "write the parent's file",
            ("write", f"{theirs_root}/{parent}/cpu.shares", "2"),
            "ENOENT",
            ("write", f"{ours_root}/{parent}/cpu.shares", "2"),
            "ENOENT",
        ),
        (
            "write a sibling's file",
            ("write", f"{theirs_root}/{sibling}/cpu.shares", "2"),
            "ENOENT",
            ("write", f"{ours_root}/{sibling}/cpu.shares", "2"),
            "ENOENT",
        ),
        (
            "mkdir beside the container's cgroup",
            ("mkdir", f"{theirs_root}/{parent}/c3"),
            "EPERM",
            ("mkdir", f"{ours_root}/{parent}/c3"),
            "ENOENT",
        ),
        (
            "mkdir inside a sibling",
            ("mkdir", f"{theirs_root}/{sibling}/x"),
            "ENOENT",
            ("mkdir", f"{ours_root}/{sibling}/x"),
            "ENOENT",
        ),
        (
            "rmdir a sibling",
            ("rmdir", f"{theirs_root}/{sibling}"),
            "ENOENT",
            ("rmdir", f"{ours_root}/{sibling}"),
            "ENOENT",
        ),
        (
            "rmdir the parent",
            ("rmdir", f"{theirs_root}/{parent}"),
            "EPERM",
            ("rmdir", f"{ours_root}/{parent}"),
            "ENOENT",
        ),
        (
            "rmdir the hierarchy directory",
            ("rmdir", theirs_root),
            "EPERM",
            ("rmdir", ours_root),
            "EPERM",
        ),
        (
            "rmdir the container's own cgroup",
            ("rmdir", world.theirs_path(CPU)),
            "EINVAL",
            ("rmdir", ours_root),
            "EPERM",
        ),
        (
            "mkdir a hierarchy",
            ("mkdir", f"{world.theirs}/cgroup/lxcfs_py_test_new"),
            "EPERM",
            ("mkdir", f"{world.ours}/cgroup/lxcfs_py_test_new"),
            "EPERM",
        ),
        (
            "make a symlink to the parent",
            ("symlink", world.theirs_path(CPU, "up"), f"{theirs_root}/{parent}"),
            "ENOSYS",
            ("symlink", f"{ours_root}/up", "../.."),
            "ENOSYS",
        ),
    ]
    results = world.run([op for _, theirs, _, ours, _ in cases for op in (theirs, ours)])
    seen: dict[str, tuple[str, str]] = {}
    for index, (what, *_) in enumerate(cases):
        seen[what] = (_errno(results[2 * index]), _errno(results[2 * index + 1]))
    assert seen == {
        what: (theirs_errno, ours_errno) for what, _, theirs_errno, _, ours_errno in cases
    }
    assert not os.path.exists(f"/sys/fs/cgroup/{CPU}/{parent}/c3")
    assert os.path.isdir(f"/sys/fs/cgroup/{CPU}/{sibling}")
    assert os.path.isdir(world.real_path(CPU))
    assert _read_real(f"/sys/fs/cgroup/{CPU}/{parent}/cpu.shares") == real_before["parent"]
    assert _read_real(f"/sys/fs/cgroup/{CPU}/{sibling}/cpu.shares") == real_before["sibling"]


def test_pid_writes_that_cannot_move_anything(world: World) -> None:
    """Into a child's cgroup.procs, 5.0.3 reports success and moves nothing for a pid the
    container cannot see (this test's host pid), a namespace pid nobody has (999) and text
    that is no pid; ours refuses them as the kernel would: ESRCH, ESRCH, EINVAL. Nothing moves."""
    kid = "kid_spoof"
    os.mkdir(world.adopt(CPU, kid))
    host_pid = str(os.getpid())
    attempts = [host_pid, "999", "abc"]
    operations = []
    for text in attempts:
        operations += [
            ("write", world.theirs_path(CPU, f"{kid}/cgroup.procs"), text),
            ("write", world.ours_path(CPU, f"{kid}/cgroup.procs"), text),
        ]
    results = world.run(operations)
    assert [_ok(results[2 * i]) for i in range(3)] == [len(text) for text in attempts]
    assert [_errno(results[2 * i + 1]) for i in range(3)] == ["ESRCH", "ESRCH", "EINVAL"]
    assert world.cgroups.read(CPU, f"{kid}/cgroup.procs") == ""
    with open(f"/proc/{host_pid}/cgroup") as own:
        assert f":cpu:{world.cgroups.child_paths[CPU]}" not in own.read()
    os.rmdir(world.real_path(CPU, kid))


def test_file_metadata_chmod_and_chown(world: World) -> None:
    """A cgroup file stats as 4096 bytes in 5.0.3 and as the real file (0 bytes) in ours;
    chmod and chown of the container's own file succeed in 5.0.3, changing the real file,
    and are EPERM in ours, leaving it alone."""
    name = "notify_on_release"
    real = world.real_path(CPU, name)
    results = world.run(
        [
            ("stat", world.theirs_path(CPU, name)),
            ("stat", world.ours_path(CPU, name)),
            ("chmod", world.ours_path(CPU, name), 0o600),
            ("chown", world.ours_path(CPU, name), 1000),
        ]
    )
    assert _ok(results[0])["size"] == 4096
    assert _ok(results[1])["size"] == os.stat(real).st_size == 0
    assert [_errno(result) for result in results[2:]] == ["EPERM", "EPERM"]
    assert (os.stat(real).st_mode & 0o777, os.stat(real).st_uid) == (0o644, 0)
    results = world.run(
        [
            ("chmod", world.theirs_path(CPU, name), 0o600),
            ("chown", world.theirs_path(CPU, name), 1000),
        ]
    )
    assert [_ok(result) for result in results] == [None, None]
    assert (os.stat(real).st_mode & 0o777, os.stat(real).st_uid) == (0o600, 1000)


def test_host_callers(world: World) -> None:
    """A process in the host's pid namespace (this test) sees, in 5.0.3, only the chain down
    to its own memory cgroup; in ours, the host init's cgroup: the whole hierarchy here.
    Host root may make a cgroup at a hierarchy's root through ours (as on the real cgroupfs,
    whose root directory is 0555) but not through 5.0.3 (EACCES: it checks the mode bits)."""
    own = own_cgroup_path("memory")
    init_memory = own_cgroup_path("memory", 1).removesuffix("/init.scope") or "/"
    if own == "/" or init_memory != "/":
        pytest.skip("needs this process below the memory root and the host init at it")
    assert sorted(os.listdir(f"{world.theirs}/cgroup/memory")) == [own.split("/")[1]]
    assert sorted(os.listdir(f"{world.ours}/cgroup/memory")) == sorted(
        os.listdir("/sys/fs/cgroup/memory")
    )
    name = world.cgroups.name + "_hostroot"
    real = f"/sys/fs/cgroup/{CPU}/{name}"
    world.cgroups.directories.insert(0, real)  # removed last, after the container's own
    with pytest.raises(OSError) as refused:
        os.mkdir(f"{world.theirs}/cgroup/{CPU}/{name}")
    assert refused.value.errno == errno.EACCES
    os.mkdir(f"{world.ours}/cgroup/{CPU}/{name}")
    assert os.path.isdir(real)
    os.rmdir(f"{world.ours}/cgroup/{CPU}/{name}")
    assert not os.path.exists(real)


def test_unprivileged_caller(world: World) -> None:
    """uid 1000 in the container may read its cgroup's files but not make a child or write a
    root-owned file: EACCES from both, as from the real cgroupfs."""
    world.adopt(CPU, "kid_user")
    results = world.run(
        [
            ("read", world.theirs_path(CPU, "cpu.shares")),
            ("read", world.ours_path(CPU, "cpu.shares")),
            ("mkdir", world.theirs_path(CPU, "kid_user")),
            ("mkdir", world.ours_path(CPU, "kid_user")),
            ("write", world.theirs_path(CPU, "cpu.shares"), "2"),
            ("write", world.ours_path(CPU, "cpu.shares"), "2"),
        ],
        user=1000,
    )
    assert _ok(results[0]) == _ok(results[1]) == world.cgroups.read(CPU, "cpu.shares")
    assert [_errno(result) for result in results[2:]] == ["EACCES"] * 4
    assert not os.path.exists(world.real_path(CPU, "kid_user"))


def test_user_namespace_root(world: World) -> None:
    """Root of a user namespace (0 -> host 100000) reads the container's files but may not
    make a child of or write to a cgroup owned by host root (EACCES from both, as from the
    real cgroupfs); once the host chowned a cgroup to 100000, as LXC does for unprivileged
    containers, both let it make a child (owned by 100000), write and remove it."""
    delegated = "delegated"
    real = world.adopt(CPU, delegated)
    os.mkdir(real)
    plain = [
        ("read", world.theirs_path(CPU, "cpu.shares")),
        ("read", world.ours_path(CPU, "cpu.shares")),
        ("mkdir", world.theirs_path(CPU, f"{delegated}/kid")),
        ("mkdir", world.ours_path(CPU, f"{delegated}/kid")),
        ("write", world.theirs_path(CPU, f"{delegated}/cpu.shares"), "2"),
        ("write", world.ours_path(CPU, f"{delegated}/cpu.shares"), "2"),
    ]
    results = world.run(plain, user_namespace=True)
    assert _ok(results[0]) == _ok(results[1]) == world.cgroups.read(CPU, "cpu.shares")
    assert [_errno(result) for result in results[2:]] == ["EACCES"] * 4
    for name in ("", "tasks", "cgroup.procs", "cpu.shares"):
        os.chown(os.path.join(real, name), USER_NAMESPACE_BASE, USER_NAMESPACE_BASE)
    for side, path in (("theirs", world.theirs_path), ("ours", world.ours_path)):
        kid = world.adopt(CPU, f"{delegated}/kid_{side}")
        results = world.run(
            [
                ("mkdir", path(CPU, f"{delegated}/kid_{side}")),
                ("stat", path(CPU, f"{delegated}/kid_{side}")),
                ("write", path(CPU, f"{delegated}/cpu.shares"), "3"),
            ],
            user_namespace=True,
        )
        assert _ok(results[0]) is None, side
        assert _ok(results[1])["uid"] == 0, side  # 100000, as the namespace numbers it
        assert os.stat(kid).st_uid == USER_NAMESPACE_BASE, side
        assert _ok(results[2]) == 1, side
        assert world.cgroups.read(CPU, f"{delegated}/cpu.shares") == "3\n"
        assert (
            _ok(
                world.run([("rmdir", path(CPU, f"{delegated}/kid_{side}"))], user_namespace=True)[0]
            )
            is None
        )
        assert not os.path.exists(kid), side


def test_capability_checked_file_in_5_0_3(world: World) -> None:
    """5.0.3 checks mode bits only: root of a container without CAP_SYS_ADMIN (as Docker runs
    it) writes ``a`` to its own devices.allow through the tree and is granted every device,
    which the kernel refuses it on the real file (EPERM)."""
    world.cgroups.write(DEVICES, "devices.deny", "a")
    results = world.run(
        [
            ("write", world.real_path(DEVICES, "devices.allow"), "a"),
            ("write", world.theirs_path(DEVICES, "devices.allow"), "a"),
        ],
        without_capabilities=True,
    )
    assert _errno(results[0]) == "EPERM"
    assert _ok(results[1]) == 1
    assert world.cgroups.read(DEVICES, "devices.list") == "a *:* rwm\n"


def test_capability_checked_file_in_ours(world: World) -> None:
    """Root of a container without CAP_SYS_ADMIN writing its own devices.allow through ours
    gets the kernel's EPERM and its device list stays empty."""
    world.cgroups.write(DEVICES, "devices.deny", "a")
    try:
        results = world.run(
            [("write", world.ours_path(DEVICES, "devices.allow"), "a")],
            without_capabilities=True,
        )
        assert _errno(results[0]) == "EPERM"
        assert world.cgroups.read(DEVICES, "devices.list") == ""
    finally:
        world.cgroups.write(DEVICES, "devices.allow", "a")  # as it was: the parent's all


def _read_real(path: str) -> str:
    with open(path) as file:
        return file.read()
