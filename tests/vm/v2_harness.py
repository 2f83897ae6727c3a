"""Real cgroup-v2 containers, processes inside them and FUSE daemons, for the tests in the VM.

Rules:
1. Runs only inside the throwaway VM (tools/vm/cgroup2_vm.py): cgroup2 alone at
   /sys/fs/cgroup, every controller enabled at the root, the tests root. ``v2_problem()``
   says what is wrong when that is not so; the conftest turns it into a skip on the host and
   a failure inside the VM.
2. cgroup etiquette: every cgroup is made under ``/lxcfs_py_test_<random>``; only processes
   started here are put in it or killed (``cgroup.kill`` on our own cgroups, ``Popen.kill``
   on our own children). Teardown runs on failure too and removes cgroups deepest first.
3. A "container" is a parent cgroup with a child (``/lxcfs_py_test_X/c1``), like LXC's
   ``/lxc`` and ``/lxc/c1``, so limits can sit on the parent only.

Theory: ``V2Cgroups.run`` starts a process in one of its cgroups (a shell writes its own
pid to ``cgroup.procs`` and then execs the command), optionally through ``unshare`` so it is
the init of its own pid namespace and the root of its own cgroup namespace; FUSE daemons
(ours and Debian's lxcfs) see that process as the caller when it reads their files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

CGROUP2_ROOT = "/sys/fs/cgroup"
CONTROLLERS = ("cpu", "cpuset", "memory", "io", "pids")
TEST_PREFIX = "lxcfs_py_test_"
# A process that is the init of new pid and cgroup namespaces, with its own /proc.
NAMESPACED = ("unshare", "--cgroup", "--pid", "--fork", "--mount-proc", "--kill-child")
# Enter the cgroup given as $0, then exec the command: the process never runs outside it.
_ENTER = 'echo $$ > "$0/cgroup.procs" || exit 97; exec "$@"'


def inside_vm() -> bool:
    """Whether the runner's stage 2 started this process (it sets LXCFS_IN_VM=1)."""
    return os.environ.get("LXCFS_IN_VM") == "1"


def v2_problem() -> str | None:
    """Why this machine is not the pure cgroup-v2 machine the VM tests need, or None."""
    if os.geteuid() != 0:
        return "needs root"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        entries = [line.split() for line in mounts]
    cgroup_mounts = [(entry[1], entry[2]) for entry in entries if entry[2].startswith("cgroup")]
    if cgroup_mounts != [(CGROUP2_ROOT, "cgroup2")]:
        return f"needs cgroup2 alone at {CGROUP2_ROOT}; cgroup mounts here: {cgroup_mounts}"
    enabled = read_text(f"{CGROUP2_ROOT}/cgroup.subtree_control").split()
    missing = [name for name in CONTROLLERS if name not in enabled]
    if missing:
        return f"controllers not enabled at the cgroup2 root: {', '.join(missing)}"
    if not os.path.exists(f"{CGROUP2_ROOT}/cpu.pressure"):
        return "no PSI (cpu.pressure) at the cgroup2 root"
    return None


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def write_text(path: str, value: str | int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(str(value))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; return the last result."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True


def flat_keyed(text: str) -> dict[str, int]:
    """A cgroup flat-keyed file (``memory.stat``, ``cpu.stat``) as key -> integer."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        values[key] = int(value)
    return values


def read_line(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """The next line ``process`` prints, failing (not hanging) if none comes in time."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"{process.args!r} printed nothing within {timeout} s")
    return process.stdout.readline()


def only_child(pid: int, timeout: float = 10) -> int:
    """The one child of ``pid`` (e.g. the namespace init that ``unshare --fork`` started)."""
    found: list[int] = []

    def has_one_child() -> bool:
        with contextlib.suppress(OSError):
            children = read_text(f"/proc/{pid}/task/{pid}/children").split()
            found[:] = [int(child) for child in children]
        return len(found) == 1

    if not wait_until(has_one_child, timeout):
        raise AssertionError(f"process {pid} has children {found}, expected exactly one")
    return found[0]


# ----------------------------------------------------------------------------------- cgroups


@dataclass
class V2Cgroups:
    """Test cgroups under ``/lxcfs_py_test_<random>`` and the processes started in them.

    Cgroups are named by their path relative to the test root: ``""`` is the root
    (the container's parent), ``"c1"`` its child, ``"c1/init.scope"`` a grandchild.
    """

    root: str = field(default_factory=lambda: "/" + TEST_PREFIX + secrets.token_hex(4))
    created: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def path(self, relative: str = "") -> str:
        """The cgroup path as /proc/<pid>/cgroup prints it."""
        return self.root + ("/" + relative if relative else "")

    def directory(self, relative: str = "") -> str:
        return CGROUP2_ROOT + self.path(relative)

    def make(self, relative: str = "", *, delegate: bool = False) -> str:
        """Create a cgroup (parents first); with ``delegate`` enable every controller for
        its children, as a container manager does (it can then hold no process itself,
        cgroup v2's no-internal-process rule). Returns its directory."""
        directory = self.directory(relative)
        os.mkdir(directory)
        self.created.append(directory)
        if delegate:
            write_text(
                f"{directory}/cgroup.subtree_control", " ".join(f"+{c}" for c in CONTROLLERS)
            )
        return directory

    def write(self, relative: str, file: str, value: str | int) -> None:
        write_text(f"{self.directory(relative)}/{file}", value)

    def read(self, relative: str, file: str) -> str:
        return read_text(f"{self.directory(relative)}/{file}")

    def _argv(self, relative: str, argv: Sequence[str], namespaced: bool) -> list[str]:
        command = [*NAMESPACED, *argv] if namespaced else list(argv)
        return ["sh", "-c", _ENTER, self.directory(relative), *command]

    def run(
        self, relative: str, argv: Sequence[str], *, namespaced: bool = False, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` to completion inside the cgroup (optionally as the init of new pid
        and cgroup namespaces); its output and exit status."""
        process = self.start(relative, argv, namespaced=namespaced)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise AssertionError(f"{argv} in {self.path(relative)} ran over {timeout} s") from None
        return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)

    def start(
        self,
        relative: str,
        argv: Sequence[str],
        *,
        namespaced: bool = False,
        interactive: bool = False,
    ) -> subprocess.Popen[str]:
        """Start ``argv`` inside the cgroup and leave it running (teardown kills it); with
        ``interactive`` its stdin is a pipe the test writes requests to."""
        process = subprocess.Popen(
            self._argv(relative, argv, namespaced),
            stdin=subprocess.PIPE if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()  # our own unreaped child: its pid cannot have been reused
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=5)
        failures = []
        for directory in reversed(self.created):
            if not os.path.isdir(directory):
                continue
            # Only our own processes can be in our own test cgroups.
            with contextlib.suppress(OSError):
                write_text(f"{directory}/cgroup.kill", 1)
            if not wait_until(functools.partial(_rmdir, directory), timeout=10):
                failures.append(directory)
        if failures:
            raise RuntimeError(f"could not remove test cgroups {failures}")


def _rmdir(directory: str) -> bool:
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


@contextlib.contextmanager
def v2_cgroups() -> Iterator[V2Cgroups]:
    """A fresh test root cgroup, delegating every controller; everything removed after."""
    cgroups = V2Cgroups()
    try:
        cgroups.make(delegate=True)
        yield cgroups
    finally:
        cgroups.cleanup()


# ------------------------------------------------------------------------------- daemons


@dataclass
class FuseMount:
    """A running FUSE daemon: ``path`` is its mount point."""

    name: str
    path: str
    process: subprocess.Popen[str]


def our_daemon_argv(options: Sequence[str], mountpoint: str, workdir: str) -> list[str]:
    """``lxcfs-fuse`` from this checkout, with its pid file in ``workdir``."""
    return [
        sys.executable,
        "-m",
        "lxcfs_fuse",
        *options,
        "--runtime-dir",
        workdir,
        "-p",
        f"{workdir}/lxcfs.pid",
        mountpoint,
    ]


def debian_daemon_argv(options: Sequence[str], mountpoint: str, workdir: str) -> list[str]:
    """Debian's lxcfs 5.0.3 in the foreground, with its pid file in ``workdir``."""
    binary = shutil.which("lxcfs")
    if binary is None:
        raise AssertionError("Debian's lxcfs is not installed (apt-get install lxcfs)")
    return [binary, "-f", *options, "-p", f"{workdir}/lxcfs.pid", mountpoint]


@contextlib.contextmanager
def fuse_mount(
    name: str,
    argv_for: Callable[[Sequence[str], str, str], list[str]],
    options: Sequence[str] = ("-l", "--enable-cfs"),
    timeout: float = 90,
) -> Iterator[FuseMount]:
    """Start a FUSE daemon (our child) on a fresh mount point; unmount and stop it after."""
    workdir = tempfile.mkdtemp(prefix=f"{TEST_PREFIX}{name}_")
    mountpoint = f"{workdir}/mnt"
    os.mkdir(mountpoint)
    process = subprocess.Popen(
        argv_for(options, mountpoint, workdir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        mounted = wait_until(
            lambda: (
                process.poll() is not None
                or (os.path.ismount(mountpoint) and os.path.exists(f"{mountpoint}/proc/meminfo"))
            ),
            timeout=timeout,
            step=0.2,
        )
        if process.poll() is not None or not mounted:
            if process.poll() is None:
                process.kill()
            _, stderr = process.communicate()
            raise AssertionError(f"{name} did not mount on {mountpoint}: {stderr[-2000:]}")
        yield FuseMount(name=name, path=mountpoint, process=process)
    finally:
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", mountpoint], capture_output=True, check=False)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
            process.communicate(timeout=10)
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", "-l", mountpoint], capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)
