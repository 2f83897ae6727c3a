"""``lxcfs-fuse --enable-cgroup`` on a real pure cgroup-v2 kernel (runs in the VM).

The container is ``<test root>/ct``, every controller enabled for it by the test root and
by ``ct`` for its children, its init in ``ct/init.scope`` (as systemd places itself in a
container), the init of its own pid namespace but in the host's cgroup namespace: the case
the tree exists for. The tree roots the caller's view at the init's cgroup with
``/init.scope`` pruned, so ``<mount>/cgroup/unified/`` is ``ct``.

The probe is that init itself: one Python process that reads requests (JSON lines) on its
stdin and answers each on stdout, so the host can look at the real cgroups between steps and
a Python start (seconds under emulation) is paid once per test. A request may run as another
uid in a forked child of the init (same cgroup, same namespaces).

Task moves are checked against the real cgroupfs: the same question is asked of it in the
same test (the oracle) and the tree's answer must match it (``TreeDiffers`` otherwise).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from v2_harness import (
    V2Cgroups,
    fuse_mount,
    only_child,
    our_daemon_argv,
    read_line,
    read_text,
    v2_problem,
    write_text,
)

pytestmark = pytest.mark.vm

MIB = 1024 * 1024
USER = 1000
OTHER_USER = 2000
# The daemon's entry_timeout/attr_timeout (0.5 s) and a margin: the kernel may answer a
# lookup from its cache for that long after the caller's view moved.
ATTRIBUTE_TIMEOUT = 0.6
# A pid namespace without a cgroup namespace: the tree is for hosts whose containers have
# none (with one, the kernel itself rebases /proc/self/cgroup and cgroupfs).
PID_NAMESPACE = ("unshare", "--pid", "--fork", "--mount-proc", "--kill-child")

# The probe: ns pid 1; one request per stdin line, one JSON answer per stdout line.
_PROBE = r"""
import ctypes, errno, json, os, signal, sys

CLONE_NEWCGROUP = 0x02000000

def apply(op, path, rest):
    if op == "listdir":
        return sorted(os.listdir(path))
    if op == "read":
        with open(path) as file:
            return file.read()
    if op == "write":
        descriptor = os.open(path, os.O_WRONLY)
        try:
            os.write(descriptor, rest[0].encode())
        finally:
            os.close(descriptor)
        return None
    if op == "write_own_pid":
        return apply("write", path, [str(os.getpid())])
    if op == "mkdir":
        return os.mkdir(path)
    if op == "rmdir":
        return os.rmdir(path)
    if op == "stat":
        return os.stat(path).st_mode
    if op == "cgroup_of":
        with open(f"/proc/{path}/cgroup") as file:
            return file.read()
    raise ValueError("unknown op " + op)

def answers(ops):
    results = []
    for op, path, *rest in ops:
        try:
            results.append({"ok": apply(op, path, rest)})
        except OSError as error:
            results.append({"errno": errno.errorcode.get(error.errno, str(error.errno))})
    return results

def become(uid):
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)

for line in sys.stdin:
    request = json.loads(line)
    uid = request.get("user")
    if request.get("cgroupns"):
        uid = uid or 0  # in a forked child: the init keeps its own cgroup namespace
    if request.get("spawn") is not None:
        # A long-lived task of that uid, left for the host to move (teardown kills it).
        child = os.fork()
        if child == 0:
            null = os.open("/dev/null", os.O_RDWR)
            for descriptor in (0, 1, 2):  # the probe's pipes stay the probe's alone
                os.dup2(null, descriptor)
            become(request["spawn"])
            signal.pause()
            os._exit(0)
        reply = {"pid": child}
    elif uid is None:
        reply = {"pid": os.getpid(), "results": answers(request["ops"])}
    else:
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(reader)
            if request.get("cgroupns"):
                # A cgroup namespace rooted at the probe's cgroup, made as root before
                # dropping to uid: the kernel's own delegation boundary.
                if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWCGROUP) != 0:
                    os._exit(3)
            become(uid)
            os.write(writer, json.dumps(answers(request["ops"])).encode())
            os._exit(0)
        os.close(writer)
        data = b""
        while chunk := os.read(reader, 65536):
            data += chunk
        os.close(reader)
        os.waitpid(child, 0)
        reply = {"pid": child, "results": json.loads(data)}
    print(json.dumps(reply), flush=True)
"""


class TreeDiffers(AssertionError):
    """The tree answered differently from the real cgroupfs."""


class Probe:
    """The container's init (ns pid 1) taking requests; ``host_pid`` is its pid outside."""

    def __init__(self, cgroups: V2Cgroups, relative: str) -> None:
        self.process = cgroups.start(
            relative, [*PID_NAMESPACE, sys.executable, "-c", _PROBE], interactive=True
        )
        self.launcher_pid = self.process.pid  # sh execs unshare: the init's parent
        self.host_pid = only_child(self.launcher_pid, timeout=30)

    def ask(self, request: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = read_line(self.process, timeout)
        if not line:
            _, stderr = self.process.communicate(timeout=10)
            raise AssertionError(f"the probe exited ({self.process.returncode}): {stderr}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(
        self, *operations: Sequence[Any], user: int | None = None, cgroupns: bool = False
    ) -> list[dict[str, Any]]:
        """The answers to ``operations`` (as ``user`` in a forked child, or as the init;
        with ``cgroupns`` in a forked child with a cgroup namespace of its own, rooted at
        the init's cgroup)."""
        request = {"ops": [list(op) for op in operations], "user": user, "cgroupns": cgroupns}
        results: list[dict[str, Any]] = self.ask(request)["results"]
        return results

    def spawn(self, user: int) -> int:
        """A task of ``user`` that waits in the init's cgroup; its namespace pid."""
        return int(self.ask({"spawn": user})["pid"])


@pytest.fixture(scope="module")
def tree() -> Iterator[str]:
    """lxcfs-fuse --enable-cgroup; the path of its ``cgroup/`` directory."""
    problem = v2_problem()
    if problem is not None:
        pytest.fail(f"the VM is not the pure cgroup-v2 machine it should be: {problem}")
    with fuse_mount("lxcfs-fuse-cgroup", our_daemon_argv, ("--enable-cgroup",)) as mount:
        # The mount point's directory is mkdtemp's 0700: let other users reach the mount.
        os.chmod(os.path.dirname(mount.path), 0o755)
        yield f"{mount.path}/cgroup"


@pytest.fixture
def container(cgroups: V2Cgroups) -> V2Cgroups:
    """``ct`` beneath the test root, delegating every controller to its children, with an
    ``init.scope`` for the init."""
    cgroups.make("ct", delegate=True)
    cgroups.make("ct/init.scope")
    return cgroups


def real_listing(directory: str) -> list[str]:
    return sorted(os.listdir(directory))


def proc_cgroup(pid: int) -> str:
    return read_text(f"/proc/{pid}/cgroup")


def test_container_manages_its_own_v2_subtree_and_nothing_else(
    tree: str, container: V2Cgroups
) -> None:
    """A namespaced init in ct/init.scope sees cgroup/unified rebased at ct (ns pids in
    cgroup.procs), makes a child, limits its memory.max and moves itself there through the
    mount (the real cgroup changes), cannot see, write, make or remove anything of its
    sibling or parent (ENOENT) nor remove its own root (EPERM), cannot move another cgroup's
    task (ESRCH), and removes the child once it is empty."""
    cgroups = container
    cgroups.write("ct", "memory.max", 512 * MIB)
    cgroups.make("c2")  # a sibling container, with a task of its own
    cgroups.write("c2", "memory.max", 128 * MIB)
    stranger = cgroups.start("c2", ["sleep", "600"])  # sh execs sleep: the same pid
    probe = Probe(cgroups, "ct/init.scope")
    ct, child, sibling = cgroups.directory("ct"), cgroups.directory("ct/child"), "c2"
    test_root = cgroups.root.lstrip("/")
    init_scope_procs = cgroups.read("ct/init.scope", "cgroup.procs").split()
    assert sorted(init_scope_procs) == sorted([str(probe.launcher_pid), str(probe.host_pid)])

    # The view: ct's own files and children, nothing above or beside; ns pids only.
    answers = probe.run(
        ("listdir", tree),
        ("listdir", f"{tree}/unified"),
        ("read", f"{tree}/unified/memory.max"),
        ("read", f"{tree}/unified/init.scope/cgroup.procs"),
        ("read", f"{tree}/unified/cgroup.procs"),
    )
    assert answers[0] == {"ok": ["unified"]}
    listed = answers[1]["ok"]
    assert listed == real_listing(ct)
    assert {"cgroup.procs", "memory.max", "cpu.max", "cpuset.cpus", "pids.max"} <= set(listed)
    assert "init.scope" in listed and sibling not in listed and test_root not in listed
    assert answers[2] == {"ok": f"{512 * MIB}\n"}
    assert answers[3] == {"ok": "1\n"}  # the unshare process outside the namespace is left out
    assert answers[4] == {"ok": ""}  # ct delegates: no process of its own

    # A child with a memory limit, made through the mount.
    assert probe.run(("mkdir", f"{tree}/unified/child")) == [{"ok": None}]
    cgroups.created.append(child)  # teardown removes it, on failure too
    assert os.path.isdir(child)
    answers = probe.run(
        ("write", f"{tree}/unified/child/memory.max", str(64 * MIB)),
        ("read", f"{tree}/unified/child/memory.max"),
    )
    assert answers == [{"ok": None}, {"ok": f"{64 * MIB}\n"}]
    assert read_text(f"{child}/memory.max") == f"{64 * MIB}\n"

    # Siblings and the parent are not there, by any path; the view's root cannot go.
    limits_before = {name: cgroups.read(name, "memory.max") for name in ("", "c2")}
    attempts = [
        ("listdir", f"{tree}/unified/{sibling}"),
        ("read", f"{tree}/unified/{sibling}/memory.max"),
        ("write", f"{tree}/unified/{sibling}/memory.max", str(MIB)),
        ("write", f"{tree}/unified/../unified/{sibling}/memory.max", str(MIB)),
        ("read", f"{tree}/unified/{sibling}/cgroup.procs"),
        ("listdir", f"{tree}/unified/{test_root}"),
        ("read", f"{tree}/unified/{test_root}/memory.max"),
        ("write", f"{tree}/unified/{test_root}/memory.max", str(MIB)),
        ("write", f"{tree}/unified/{test_root}/{sibling}/memory.max", str(MIB)),
        ("read", f"{tree}/unified/{test_root}/ct/memory.max"),
        ("mkdir", f"{tree}/unified/{sibling}/x"),
        ("mkdir", f"{tree}/unified/{test_root}/x"),
        ("rmdir", f"{tree}/unified/{sibling}"),
        ("rmdir", f"{tree}/unified/{test_root}/{sibling}"),
        ("rmdir", f"{tree}/unified"),
        ("write", f"{tree}/unified/child/cgroup.procs", str(stranger.pid)),
    ]
    expected = ["ENOENT"] * 14 + ["EPERM", "ESRCH"]
    answers = probe.run(*attempts)
    got = {
        f"{a[0]} {a[1]}": answer.get("errno", answer)
        for a, answer in zip(attempts, answers, strict=True)
    }
    assert got == {f"{a[0]} {a[1]}": e for a, e in zip(attempts, expected, strict=True)}
    assert {name: cgroups.read(name, "memory.max") for name in ("", "c2")} == limits_before
    assert os.path.isdir(cgroups.directory("c2")) and not os.path.exists(f"{child}/x")
    assert proc_cgroup(stranger.pid) == f"0::{cgroups.path('c2')}\n"

    # The init (ns pid 1) moves itself into the child.
    assert probe.run(("write", f"{tree}/unified/child/cgroup.procs", "1")) == [{"ok": None}]
    assert proc_cgroup(probe.host_pid) == f"0::{cgroups.path('ct/child')}\n"
    assert read_text(f"{child}/cgroup.procs").split() == [str(probe.host_pid)]
    # The view follows the init: the child is its root now (after the kernel's name cache).
    time.sleep(ATTRIBUTE_TIMEOUT)
    answers = probe.run(
        ("listdir", f"{tree}/unified"),
        ("read", f"{tree}/unified/cgroup.procs"),
        ("read", f"{tree}/unified/memory.max"),
        ("stat", f"{tree}/unified/child"),
        ("rmdir", f"{tree}/unified"),
    )
    assert answers[0] == {"ok": real_listing(child)}
    assert answers[1:] == [
        {"ok": "1\n"},
        {"ok": f"{64 * MIB}\n"},
        {"errno": "ENOENT"},
        {"errno": "EPERM"},
    ]

    # Back in init.scope (the host moves it: ct is out of the child's view), the empty
    # child goes.
    write_text(f"{cgroups.directory('ct/init.scope')}/cgroup.procs", probe.host_pid)
    time.sleep(ATTRIBUTE_TIMEOUT)
    assert probe.run(("rmdir", f"{tree}/unified/child")) == [{"ok": None}]
    assert not os.path.exists(child)
    assert proc_cgroup(probe.host_pid) == f"0::{cgroups.path('ct/init.scope')}\n"


def _delegate(cgroups: V2Cgroups, relative: str, uid: int) -> None:
    """Give ``uid`` the cgroup's ``cgroup.procs`` (what a move into or through it needs)."""
    os.chown(f"{cgroups.directory(relative)}/cgroup.procs", uid, uid)


def test_v2_move_needs_the_common_ancestors_cgroup_procs(tree: str, container: V2Cgroups) -> None:
    """uid 1000 owning only ct/child's cgroup.procs cannot move itself from ct/init.scope
    into ct/child (common ancestor ct, whose cgroup.procs is root's): EACCES on the real
    cgroupfs, and the same through the mount."""
    cgroups = container
    child = cgroups.make("ct/child")
    _delegate(cgroups, "ct/child", USER)
    probe = Probe(cgroups, "ct/init.scope")
    real, mounted = probe.run(
        ("write_own_pid", f"{child}/cgroup.procs"),
        ("write_own_pid", f"{tree}/unified/child/cgroup.procs"),
        user=USER,
    )
    assert real == {"errno": "EACCES"}, "the kernel's own answer changed"
    if mounted != real:
        raise TreeDiffers(f"real cgroupfs: {real}, through the mount: {mounted}")
    assert read_text(f"{child}/cgroup.procs") == ""


def test_v2_move_of_another_users_task_in_a_delegated_subtree(
    tree: str, container: V2Cgroups
) -> None:
    """uid 1000 owning ct's and ct/child's cgroup.procs moves a uid-2000 task from
    ct/init.scope into ct/child on the real cgroupfs, and the same through the mount."""
    cgroups = container
    child = cgroups.make("ct/child")
    for relative in ("ct", "ct/child"):
        _delegate(cgroups, relative, USER)
    probe = Probe(cgroups, "ct/init.scope")
    task = probe.spawn(OTHER_USER)
    # Through the mount first: if it moves the task, the real write after it is a no-op
    # move within ct/child, which the kernel also allows.
    mounted, real, where = probe.run(
        ("write", f"{tree}/unified/child/cgroup.procs", str(task)),
        ("write", f"{child}/cgroup.procs", str(task)),
        ("cgroup_of", str(task)),
        user=USER,
    )
    assert real == {"ok": None}, "the kernel's own answer changed"
    assert where == {"ok": f"0::{cgroups.path('ct/child')}\n"}
    if mounted != real:
        raise TreeDiffers(f"real cgroupfs: {real}, through the mount: {mounted}")


def test_v2_move_from_outside_the_view(tree: str, container: V2Cgroups) -> None:
    """A task of the init's pid namespace that the host put in the sibling c2 cannot be
    moved into ct/child through the mount: root gets ENOENT (c2 is outside the view), uid
    1000 owning only child's cgroup.procs EACCES (the common ancestor, the test root, is
    root's), the kernel's answers and order for a writer in an nsdelegate cgroup namespace
    rooted at ct/init.scope moving the same task into its root."""
    cgroups = container
    child = cgroups.make("ct/child")
    cgroups.make("c2")
    _delegate(cgroups, "ct/child", USER)
    probe = Probe(cgroups, "ct/init.scope")
    task = probe.spawn(0)
    task_host_pid = only_child(probe.host_pid)
    cgroups.write("c2", "cgroup.procs", task_host_pid)
    in_c2 = f"0::{cgroups.path('c2')}\n"
    assert proc_cgroup(task_host_pid) == in_c2

    into_child = ("write", f"{tree}/unified/child/cgroup.procs", str(task))
    mounted_root = probe.run(into_child)[0]
    mounted_user = probe.run(into_child, user=USER)[0]
    assert proc_cgroup(task_host_pid) == in_c2
    # The oracle: the real cgroupfs, the namespace's root being the destination.
    # (the kernel reads a written pid in the writer's pid namespace: the task's ns pid)
    into_root = ("write", f"{cgroups.directory('ct/init.scope')}/cgroup.procs", str(task))
    real_root = probe.run(into_root, cgroupns=True)[0]
    _delegate(cgroups, "ct/init.scope", USER)
    real_user = probe.run(into_root, user=USER, cgroupns=True)[0]
    assert (real_root, real_user) == ({"errno": "ENOENT"}, {"errno": "EACCES"}), (
        "the kernel's own answer changed"
    )
    assert proc_cgroup(task_host_pid) == in_c2
    assert read_text(f"{child}/cgroup.procs") == ""
    if (mounted_root, mounted_user) != (real_root, real_user):
        raise TreeDiffers(
            f"real cgroupfs: {real_root}, {real_user}; "
            f"through the mount: {mounted_root}, {mounted_user}"
        )
