"""Real cgroup-v1 containers, probe processes and a Debian lxcfs mount for system tests.

Rules:
1. cgroup etiquette (shared rules): memory cgroups are made only beneath the memory cgroup
   this test process runs in; every other hierarchy gets them under its root, named
   ``lxcfs_py_test_<random>``. Only processes started here are moved or killed (by pid).
2. Teardown always runs, on failure too: probes are killed, lxcfs is unmounted and killed by
   its pidfile, cgroups are removed deepest first with a few retries.
3. Anything the machine lacks (root, v1 hierarchies, lxcfs, /dev/fuse) is a ``pytest.skip``
   with the reason, never a failure.

Theory: ``container_cgroups()`` yields a ``CgroupSet``: a parent cgroup ``lxcfs_py_test_X``
and a child ``c1`` in each hierarchy, like LXC's ``/lxc`` and ``/lxc/c1``; limits can go on
either. ``CgroupSet.start_probe()`` starts a small Python process inside the child (optionally
as the init of a new pid namespace) that answers JSON requests on its stdin: read these
files, list this directory, run this command. A test can then read a FUSE mount of ours and
one of Debian's lxcfs from the very same process, which is what both daemons look at.

    with container_cgroups() as cgroups, lxcfs_mount() as lxcfs:
        cgroups.set_memory_limit(256 << 20, on_parent=True)
        probe = cgroups.start_probe(new_pid_namespace=True)
        texts = probe.read_files(lxcfs.path, ["proc/meminfo", "proc/uptime"])

Import it as ``from tests.system.harness import ...`` (run pytest as ``python3 -m pytest``
from the repository root). The pytest fixtures ``cgroup_set`` and ``debian_lxcfs`` work once
imported into a test module or conftest.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = [
    "CGROUP_MOUNT",
    "HIERARCHIES",
    "CgroupSet",
    "LxcfsMount",
    "Probe",
    "ProbeError",
    "children_of",
    "container_cgroups",
    "lxcfs_mount",
    "own_cgroup_path",
    "require_fuse",
    "require_lxcfs",
    "require_root",
    "require_v1_cgroups",
    "wait_until",
]

CGROUP_MOUNT = "/sys/fs/cgroup"
# The hierarchies a container-like set spans. cpu and cpuacct are separate here; a
# ``cpu,cpuacct`` co-mount is handled by creating the directory once.
HIERARCHIES = ("memory", "cpu", "cpuacct", "cpuset", "blkio", "pids")
TEST_PREFIX = "lxcfs_py_test_"
LXCFS_BINARY = "lxcfs"


# ------------------------------------------------------------------------------- skipping


def require_root() -> None:
    """Skip unless running as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root (creates cgroups, mounts FUSE)")


def require_v1_cgroups() -> None:
    """Skip unless every hierarchy in HIERARCHIES is a mounted cgroup-v1 hierarchy."""
    require_root()
    missing = [name for name in HIERARCHIES if not _is_v1_hierarchy(name)]
    if missing:
        pytest.skip(f"needs cgroup-v1 hierarchies {', '.join(missing)} under {CGROUP_MOUNT}")


def require_fuse() -> None:
    """Skip unless /dev/fuse exists."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("needs /dev/fuse")


def require_lxcfs() -> str:
    """Skip unless Debian's lxcfs binary is installed; return its path."""
    binary = shutil.which(LXCFS_BINARY)
    if binary is None:
        pytest.skip("needs Debian's lxcfs 5.0.3 (apt-get install lxcfs)")
    return binary


def _is_v1_hierarchy(name: str) -> bool:
    directory = os.path.join(CGROUP_MOUNT, name)
    return os.path.isdir(directory) and os.path.exists(os.path.join(directory, "tasks"))


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, step: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


# -------------------------------------------------------------------------------- cgroups


def own_cgroup_path(controller: str, pid: int | str = "self") -> str:
    """The cgroup path of ``pid`` in the v1 hierarchy of ``controller`` (``/`` if none)."""
    with open(f"/proc/{pid}/cgroup") as file:
        for line in file:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return path
    return "/"


def _write(path: str, value: str | int) -> None:
    with open(path, "w") as file:
        file.write(str(value))


def _read(path: str) -> str:
    with open(path) as file:
        return file.read()


def _hierarchy_directory(controller: str) -> str:
    """Resolve a ``cpu -> cpu,cpuacct`` symlink so co-mounted controllers share a dir."""
    return os.path.realpath(os.path.join(CGROUP_MOUNT, controller))


@dataclass
class CgroupSet:
    """A container-like set of v1 cgroups: ``parent`` and ``child`` paths per controller.

    ``parent_paths``/``child_paths`` are cgroup paths as /proc/<pid>/cgroup prints them
    (memory: beneath this process's own memory cgroup); ``directories`` the real
    directories, in creation order (teardown removes them in reverse).
    """

    name: str
    parent_paths: dict[str, str]
    child_paths: dict[str, str]
    directories: list[str] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)

    def directory(self, controller: str, *, on_parent: bool = False) -> str:
        """The real directory of the child (or parent) cgroup in ``controller``'s hierarchy."""
        paths = self.parent_paths if on_parent else self.child_paths
        return _hierarchy_directory(controller) + paths[controller]

    def write(
        self, controller: str, file: str, value: str | int, *, on_parent: bool = False
    ) -> None:
        """Write one cgroup file of the child (or parent)."""
        _write(os.path.join(self.directory(controller, on_parent=on_parent), file), value)

    def read(self, controller: str, file: str, *, on_parent: bool = False) -> str:
        """Read one cgroup file of the child (or parent)."""
        return _read(os.path.join(self.directory(controller, on_parent=on_parent), file))

    def set_memory_limit(
        self, limit: int | None = None, memsw: int | None = None, *, on_parent: bool = False
    ) -> None:
        """Set ``memory.limit_in_bytes`` and/or ``memory.memsw.limit_in_bytes`` (the kernel
        requires limit <= memsw at all times, so the order is chosen to keep that)."""
        writes = []
        if limit is not None:
            writes.append(("memory.limit_in_bytes", limit))
        if memsw is not None:
            writes.append(("memory.memsw.limit_in_bytes", memsw))
        try:
            for file, value in writes:
                self.write("memory", file, value, on_parent=on_parent)
        except OSError:
            for file, value in reversed(writes):
                self.write("memory", file, value, on_parent=on_parent)

    def set_cpuset(self, cpus: str, mems: str | None = None, *, on_parent: bool = False) -> None:
        """Set ``cpuset.cpus`` (and ``cpuset.mems``, default: the root's)."""
        if mems is None:
            mems = _read(os.path.join(_hierarchy_directory("cpuset"), "cpuset.mems")).strip()
        self.write("cpuset", "cpuset.mems", mems, on_parent=on_parent)
        self.write("cpuset", "cpuset.cpus", cpus, on_parent=on_parent)

    def set_cfs(self, quota_us: int, period_us: int = 100_000, *, on_parent: bool = False) -> None:
        """Set the CFS bandwidth (``cpu.cfs_period_us`` then ``cpu.cfs_quota_us``; -1 = none)."""
        self.write("cpu", "cpu.cfs_period_us", period_us, on_parent=on_parent)
        self.write("cpu", "cpu.cfs_quota_us", quota_us, on_parent=on_parent)

    def procs_files(self, subgroup: str | None = None) -> list[str]:
        """``cgroup.procs`` of the child (or of ``child/subgroup``) in every hierarchy, once
        per co-mounted directory."""
        directories = {self.directory(c) for c in self.child_paths}
        if subgroup is not None:
            directories = {os.path.join(d, subgroup) for d in directories}
        return sorted(os.path.join(d, "cgroup.procs") for d in directories)

    def add_subgroup(self, subgroup: str) -> None:
        """Create ``child/subgroup`` in every hierarchy (e.g. ``init.scope``); removed in
        teardown before the child."""
        for directory in sorted({self.directory(c) for c in self.child_paths}):
            path = os.path.join(directory, subgroup)
            if path in self.directories:
                continue
            os.mkdir(path)
            self.directories.append(path)
            if os.path.exists(os.path.join(path, "cpuset.cpus")):
                # v1 cpusets start empty; a task can only join one with CPUs and mems.
                for file in ("cpuset.mems", "cpuset.cpus"):
                    _write(os.path.join(path, file), _read(os.path.join(directory, file)).strip())

    def add_pid(self, pid: int) -> None:
        """Move a process this test started into the child cgroups."""
        for procs in self.procs_files():
            _write(procs, pid)

    def start_probe(self, *, new_pid_namespace: bool = False, subgroup: str | None = None) -> Probe:
        """Start a probe inside the child cgroups (or ``child/subgroup``, created if
        needed); with ``new_pid_namespace`` it is the init (pid 1) of a fresh pid namespace
        with its own /proc, like a container's init."""
        if subgroup is not None:
            self.add_subgroup(subgroup)
        probe = Probe.start(self.procs_files(subgroup), new_pid_namespace=new_pid_namespace)
        self.probes.append(probe)
        return probe


def _remove_directory(directory: str, timeout: float = 5.0) -> str | None:
    """rmdir a cgroup, retrying while its (killed) tasks exit; the error text if it stays."""
    last_error = ""

    def removed() -> bool:
        nonlocal last_error
        try:
            os.rmdir(directory)
            return True
        except FileNotFoundError:
            return True
        except OSError as error:
            last_error = error.strerror or str(error)
            return False

    if wait_until(removed, timeout=timeout, step=0.1):
        return None
    return f"{directory}: {last_error}"


@contextlib.contextmanager
def container_cgroups(
    controllers: Sequence[str] = HIERARCHIES, child: str = "c1"
) -> Iterator[CgroupSet]:
    """Create ``lxcfs_py_test_X/<child>`` in each hierarchy (memory: beneath our own memory
    cgroup), with the cpuset copied from the root so tasks can be attached. Removes it all
    on exit, killing the probes started in it."""
    require_v1_cgroups()
    name = TEST_PREFIX + secrets.token_hex(4)
    parents: dict[str, str] = {}
    children: dict[str, str] = {}
    for controller in controllers:
        base = own_cgroup_path("memory") if controller == "memory" else "/"
        parents[controller] = base.rstrip("/") + "/" + name
        children[controller] = parents[controller] + "/" + child
    cgroups = CgroupSet(name=name, parent_paths=parents, child_paths=children)
    try:
        for on_parent in (True, False):
            for controller in controllers:
                directory = cgroups.directory(controller, on_parent=on_parent)
                if directory in cgroups.directories:
                    continue  # co-mounted with a controller already handled
                os.mkdir(directory)
                cgroups.directories.append(directory)
                if controller == "cpuset":
                    cgroups.set_cpuset(
                        _read(os.path.join(_hierarchy_directory("cpuset"), "cpuset.cpus")).strip(),
                        on_parent=on_parent,
                    )
        yield cgroups
    finally:
        for probe in cgroups.probes:
            probe.stop()
        failures = [
            error
            for directory in reversed(cgroups.directories)
            if (error := _remove_directory(directory)) is not None
        ]
        if failures:
            raise RuntimeError("could not remove test cgroups: " + "; ".join(failures))


# --------------------------------------------------------------------------------- probes


class ProbeError(RuntimeError):
    """The probe died, timed out or answered with an error."""


# The probe's program: JSON requests on stdin, one answer per line on stdout. It reads files
# itself (so FUSE daemons see *its* pid) and runs commands as its children.
_PROBE_SOURCE = r"""
import json, os, subprocess, sys
def read(path):
    try:
        with open(path, "rb") as f:
            return {"text": f.read().decode("utf-8", "replace")}
    except OSError as e:
        return {"error": e.strerror or str(e), "errno": e.errno}
print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    op = request["op"]
    if op == "read":
        answer = {p: read(p) for p in request["paths"]}
    elif op == "listdir":
        try:
            answer = {"names": sorted(os.listdir(request["path"]))}
        except OSError as e:
            answer = {"error": e.strerror, "errno": e.errno}
    elif op == "run":
        done = subprocess.run(request["argv"], capture_output=True, text=True,
                              timeout=request.get("timeout", 30))
        answer = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    elif op == "exit":
        break
    else:
        answer = {"error": "unknown op " + op}
    print(json.dumps(answer), flush=True)
"""

# A shell that moves itself into each cgroup.procs file given before "--", then execs the
# program after it (through unshare when a pid namespace is wanted), so the probe never runs
# outside the cgroups.
_LAUNCHER = (
    'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 97; done; '
    'while [ "$1" != -- ]; do shift; done; shift; exec "$@"'
)


@dataclass
class Probe:
    """A process inside test cgroups that reads files and runs commands on request.

    ``pid``: its host pid (the namespace init's host pid with a new pid namespace).
    ``namespace_pid``: its pid as it sees itself (1 when it is a namespace init).
    ``launcher_pid``: the ``unshare`` parent in the host namespace, or ``pid`` itself.
    """

    process: subprocess.Popen[str]
    pid: int
    namespace_pid: int
    launcher_pid: int

    @classmethod
    def start(cls, procs_files: Sequence[str], *, new_pid_namespace: bool = False) -> Probe:
        """Start a probe that first enters ``procs_files`` (cgroup.procs paths)."""
        program = [sys.executable, "-u", "-c", _PROBE_SOURCE]
        if new_pid_namespace:
            program = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", *program]
        argv = ["sh", "-c", _LAUNCHER, "sh", *procs_files, "--", *program]
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        probe = cls(process=process, pid=process.pid, namespace_pid=0, launcher_pid=process.pid)
        try:
            hello = probe._answer(timeout=10.0)
            probe.namespace_pid = int(hello["pid"])
            if new_pid_namespace:
                probe.pid = _only_child(process.pid)
        except BaseException:
            probe.stop()
            raise
        return probe

    def _answer(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise ProbeError(f"probe {self.pid} did not answer within {timeout} s")
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise ProbeError(
                f"probe {self.pid} exited (status {self.process.poll()}): {stderr.strip()}"
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    def request(self, request: Mapping[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Send one JSON request and return the probe's answer."""
        if self.process.poll() is not None or self.process.stdin is None:
            raise ProbeError(f"probe {self.pid} is not running")
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer(timeout)

    def read_raw(self, paths: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Read absolute paths from inside the probe: ``{path: {"text"} or {"error","errno"}}``."""
        return self.request({"op": "read", "paths": list(paths)})

    def read_files(self, directory: str, names: Sequence[str]) -> dict[str, str]:
        """Read ``names`` below ``directory`` from inside the probe; ProbeError if any fails."""
        answers = self.read_raw([os.path.join(directory, name) for name in names])
        texts = {}
        for name in names:
            answer = answers[os.path.join(directory, name)]
            if "text" not in answer:
                raise ProbeError(f"probe could not read {directory}/{name}: {answer['error']}")
            texts[name] = answer["text"]
        return texts

    def listdir(self, path: str) -> list[str]:
        """``os.listdir`` from inside the probe."""
        answer = self.request({"op": "listdir", "path": path})
        if "names" not in answer:
            raise ProbeError(f"probe could not list {path}: {answer['error']}")
        return list(answer["names"])

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a command as a child of the probe (same cgroups and pid namespace)."""
        answer = self.request({"op": "run", "argv": list(argv), "timeout": timeout}, timeout + 5)
        if "returncode" not in answer:
            raise ProbeError(f"probe could not run {argv}: {answer.get('error')}")
        return subprocess.CompletedProcess(
            list(argv), answer["returncode"], answer["stdout"], answer["stderr"]
        )

    def stop(self) -> None:
        """End the probe: ask it to exit, then kill the processes started for it."""
        if self.process.poll() is None and self.process.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.process.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.process.stdin.flush()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=2)
        if self.pid != self.launcher_pid and _parent_of(self.pid) == self.launcher_pid:
            # Still unshare's child, so the pid is certainly our probe: kill the namespace
            # init (the kernel then kills everything else in its namespace).
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()  # our unreaped child: its pid cannot have been reused
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _parent_of(pid: int) -> int | None:
    try:
        for line in _read(f"/proc/{pid}/status").splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def children_of(pid: int) -> list[int]:
    """Host pids of the children of ``pid`` (its main thread's, from /proc)."""
    try:
        return [int(child) for child in _read(f"/proc/{pid}/task/{pid}/children").split()]
    except OSError:
        return []


def _only_child(pid: int, timeout: float = 5.0) -> int:
    """The one child of ``pid`` (unshare's forked namespace init), from /proc children."""
    found: list[int] = []

    def has_child() -> bool:
        try:
            children = _read(f"/proc/{pid}/task/{pid}/children").split()
        except OSError:
            return False
        found[:] = [int(child) for child in children]
        return len(found) == 1

    if not wait_until(has_child, timeout=timeout):
        raise ProbeError(f"unshare {pid} has children {found}, expected exactly one")
    return found[0]


# ---------------------------------------------------------------------------------- lxcfs


@dataclass
class LxcfsMount:
    """A running Debian lxcfs: ``path`` is the mount point, ``pid`` the daemon's pid."""

    path: str
    pid: int
    pidfile: str
    process: subprocess.Popen[str]


def wait_for_mount(process: subprocess.Popen[str], mountpoint: str, timeout: float) -> bool:
    """Wait until a FUSE daemon serves ``mountpoint`` (its proc/meminfo exists); False if the
    daemon exited first or the time ran out."""
    ready = wait_until(
        lambda: (
            process.poll() is not None
            or (os.path.ismount(mountpoint) and os.path.exists(f"{mountpoint}/proc/meminfo"))
        ),
        timeout=timeout,
    )
    return ready and process.poll() is None


def unmount(path: str) -> None:
    """Unmount ``path`` if it is mounted: a clean unmount first, a lazy one if that fails."""
    for command in (["fusermount3", "-u", path], ["fusermount", "-u", path], ["umount", path]):
        if shutil.which(command[0]) is None:
            continue
        if subprocess.run(command, capture_output=True).returncode == 0:
            return
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", path], capture_output=True)


@contextlib.contextmanager
def lxcfs_mount(options: Sequence[str] = ("-l", "--enable-cfs")) -> Iterator[LxcfsMount]:
    """Mount Debian's lxcfs (in the foreground, our child) on a temporary directory with
    ``options`` and a private pidfile; unmount it and kill it (by pidfile) on exit."""
    require_root()
    require_fuse()
    binary = require_lxcfs()
    workdir = tempfile.mkdtemp(prefix="lxcfs_py_test_lxcfs_")
    mountpoint = os.path.join(workdir, "mnt")
    pidfile = os.path.join(workdir, "lxcfs.pid")
    os.mkdir(mountpoint)
    process = subprocess.Popen(
        [binary, "-f", *options, "-p", pidfile, mountpoint],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        if not wait_for_mount(process, mountpoint, timeout=10):
            stderr = process.stderr.read() if process.stderr and process.poll() is not None else ""
            raise RuntimeError(f"lxcfs did not mount on {mountpoint}: {stderr.strip()[-500:]}")
        yield LxcfsMount(path=mountpoint, pid=process.pid, pidfile=pidfile, process=process)
    finally:
        unmount(mountpoint)
        pids = {process.pid}
        with contextlib.suppress(OSError, ValueError):
            pids.add(int(_read(pidfile).strip()))
        for pid in pids:
            # Only our own daemon: the pidfile is private to this mount.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", "-l", mountpoint], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------ pytest fixtures


@pytest.fixture
def cgroup_set() -> Iterator[CgroupSet]:
    """A fresh container-like cgroup set (see ``container_cgroups``)."""
    with container_cgroups() as cgroups:
        yield cgroups


@pytest.fixture
def debian_lxcfs() -> Iterator[LxcfsMount]:
    """Debian's lxcfs mounted with ``-l --enable-cfs`` (see ``lxcfs_mount``)."""
    with lxcfs_mount() as mount:
        yield mount
