"""Faults during requests, in-process: the daemon's own operations and content over a fixture
root that changes under them. 10,000 fault events leave no handle, cache entry or thread
behind, every read answers, and each kind of fault logs one line; a stalled cgroup read is
answered with the host's file within the request deadline and logged.

The same faults on a real mount (killed readers, a removed cgroup, pid reuse) are in
test_live_mount.py; these in-process runs count what a mount cannot show from outside.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import types
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcfs_fuse.content import ContainerContent
from lxcfs_fuse.deadline import Deadline, DeadlineExceeded, LogOncePer
from lxcfs_fuse.operations import LxcfsOperations
from lxcfs_model import RenderOptions
from lxcfs_model.io import CachingReader
from tests.fuse.fakes import FakeCaller

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
INIT, CHILD = 4242, 4250  # v1-nested: c1's namespace init and a process inside it
C1_MEMTOTAL = "MemTotal:         524288 kB\n"  # 512 MiB on /lxc (c1 itself is unlimited)
ROOT_MEMTOTAL = "MemTotal:       24684096 kB\n"  # the host's RAM: no limit at the root
EVENTS = 10_000
MEMSTAT = "sys/fs/cgroup/memory/lxc/c1/memory.stat"


@pytest.fixture
def tree() -> Iterator[Path]:
    """A private copy of v1-nested (on tmpfs when there is one: 10,000 events rename and
    rewrite files)."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    directory = Path(tempfile.mkdtemp(prefix="lxcfs_py_test_faults_", dir=base))
    shutil.copytree(FIXTURES / "v1-nested", directory / "root", symlinks=True)
    try:
        yield directory / "root"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _file_info() -> types.SimpleNamespace:
    return types.SimpleNamespace(fh=0, direct_io=0, flags=os.O_RDONLY)


def _stat_with_start(stat: str, start_ticks: int) -> str:
    """/proc/<pid>/stat with field 22 (start time) replaced."""
    head, tail = stat.rsplit(")", 1)
    fields = tail.split()
    fields[19] = str(start_ticks)  # field 22 is the 20th after "(comm)"
    return head + ") " + " ".join(fields) + "\n"


class FaultyTree:
    """The five fault kinds of the issue, each applied to and undone on the tree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.init_stat = (root / f"proc/{INIT}/stat").read_text()
        self.init_cgroup = (root / f"proc/{INIT}/cgroup").read_text()
        self.host_meminfo = (root / "proc/meminfo").read_text()
        self.reused_start = int(self.init_stat.rsplit(")", 1)[1].split()[19])

    def caller_exits(self, pid: int) -> None:
        shutil.rmtree(self.root / f"proc/{pid}")

    def cgroup_removed(self) -> None:
        for controller in ("memory", "cpu", "cpuacct", "cpuset", "blkio"):
            base = self.root / "sys/fs/cgroup" / controller / "lxc"
            (base / "c1").rename(base / "c1.removed")

    def cgroup_restored(self) -> None:
        for controller in ("memory", "cpu", "cpuacct", "cpuset", "blkio"):
            base = self.root / "sys/fs/cgroup" / controller / "lxc"
            (base / "c1.removed").rename(base / "c1")

    def init_pid_reused(self) -> None:
        """c1's init exits and a host-root process gets its pid (a later start time)."""
        self.reused_start += 1
        (self.root / f"proc/{INIT}/stat").write_text(
            _stat_with_start(self.init_stat, self.reused_start)
        )
        (self.root / f"proc/{INIT}/cgroup").write_text(
            "".join(line.rsplit(":", 1)[0] + ":/\n" for line in self.init_cgroup.splitlines())
        )

    def init_restored(self) -> None:
        (self.root / f"proc/{INIT}/stat").write_text(self.init_stat)
        (self.root / f"proc/{INIT}/cgroup").write_text(self.init_cgroup)

    def proc_unreadable(self) -> None:
        path = self.root / f"proc/{INIT}/cgroup"
        path.unlink()
        path.mkdir()  # read() -> EISDIR: an error that is not "no such process"

    def proc_readable(self) -> None:
        path = self.root / f"proc/{INIT}/cgroup"
        path.rmdir()
        path.write_text(self.init_cgroup)

    def cgroup_file_errors(self) -> None:
        path = self.root / MEMSTAT
        path.rename(path.with_name("memory.stat.saved"))
        path.mkdir()

    def cgroup_file_restored(self) -> None:
        path = self.root / MEMSTAT
        path.rmdir()
        path.with_name("memory.stat.saved").rename(path)


def test_ten_thousand_fault_events_leave_nothing_behind(
    tree: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """EVENTS fault events (a caller exiting mid-request, its cgroup removed under an open
    handle, its init's pid reused by a host process, /proc/<pid> unreadable, a cgroup file
    that errors): every read answers a whole meminfo (the container's, or the host's where
    the container is gone), open handles return to 0, caches stay bounded, no thread
    leaks, and each distinct fault logs one line."""
    caplog.set_level(logging.DEBUG, logger="lxcfs_fuse")
    faults = FaultyTree(tree)
    # No sharing window: each event must see the tree as it is now, not as it was 10 ms ago.
    reader = CachingReader(str(tree), max_age=0.0)
    content = ContainerContent(reader, RenderOptions())
    caller = FakeCaller(CHILD)
    ops = LxcfsOperations(content, sys_root=str(tree / "sys"), caller=caller)
    threads_before = threading.active_count()
    answers: Counter[tuple[str, str]] = Counter()

    def whose(text: str) -> str:
        """Whose meminfo ``text`` is: c1's (its 512 MiB), the host's file, or the root
        cgroup's (host RAM, root usage: a container whose init is in the root), nothing else."""
        if text == faults.host_meminfo:
            return "host"
        if text.startswith(ROOT_MEMTOTAL):
            return "root"
        assert text.startswith(C1_MEMTOTAL), text[:80]
        return "c1"

    def read(info: types.SimpleNamespace) -> str:
        text = ops.read("/proc/meminfo", 1 << 16, 0, info).decode()
        assert text.startswith("MemTotal:") and text.endswith("kB\n"), text[:80]
        return text

    kinds = ("caller_exits", "cgroup_removed", "pid_reused", "proc_unreadable", "file_errors")
    for event in range(EVENTS):
        kind = kinds[event % len(kinds)]
        info = _file_info()
        if kind == "caller_exits":
            # A fresh caller in c1 (a copy of CHILD's /proc entry) opens, reads, exits.
            pid = 50_000 + event
            shutil.copytree(tree / f"proc/{CHILD}", tree / f"proc/{pid}", symlinks=True)
            caller.pid = pid
            ops.open("/proc/meminfo", info)
            assert read(info).startswith(C1_MEMTOTAL)
            faults.caller_exits(pid)
            answers[kind, whose(read(info))] += 1
            caller.pid = CHILD
        elif kind == "cgroup_removed":
            ops.open("/proc/meminfo", info)
            read(info)
            faults.cgroup_removed()
            answers[kind, whose(read(info))] += 1
            faults.cgroup_restored()
        elif kind == "pid_reused":
            # c1's init exits and a host-root process gets its pid; a caller of that
            # namespace (a fresh pid: the resolver reuses a pid's answer for 10 ms) must
            # not be answered from the dead init's cached container but from the root's.
            faults.init_pid_reused()
            pid = 50_000 + event
            shutil.copytree(tree / f"proc/{CHILD}", tree / f"proc/{pid}", symlinks=True)
            caller.pid = pid
            ops.open("/proc/meminfo", info)
            answers[kind, whose(read(info))] += 1
            faults.init_restored()
            faults.caller_exits(pid)
            caller.pid = CHILD
        elif kind == "proc_unreadable":
            faults.proc_unreadable()
            ops.open("/proc/meminfo", info)
            answers[kind, whose(read(info))] += 1
            faults.proc_readable()
        else:
            faults.cgroup_file_errors()
            ops.open("/proc/meminfo", info)
            answers[kind, whose(read(info))] += 1
            faults.cgroup_file_restored()
        ops.release("/proc/meminfo", info)
        assert ops.open_handles == 0

    per_kind = EVENTS // len(kinds)
    assert sum(answers.values()) == EVENTS
    # Where c1 is gone or unreadable, the host's file (spec 3.12), every time. A caller
    # that exited, or whose init's /proc is unreadable, may still get c1's own file: the
    # resolver reuses a caller pid's answer for 10 ms (callers.py rule 5). Never anything
    # else (``whose`` checks that).
    for kind in ("cgroup_removed", "file_errors"):
        assert answers[kind, "host"] == per_kind, answers
    assert answers["pid_reused", "root"] == per_kind, answers
    for kind in ("caller_exits", "proc_unreadable"):
        assert answers[kind, "host"] + answers[kind, "c1"] == per_kind, answers
    assert ops.open_handles == 0
    assert len(content.callers) <= 2  # c1's namespace, at most one stale entry
    assert len(content.stat_histories) == 0  # only /proc/stat keeps history
    assert len(reader) <= 4  # views of the last max_age only
    assert content.deadline.in_flight == 0
    assert threading.active_count() <= threads_before + 16  # the deadline's workers at most
    # One line per distinct fault: the erroring cgroup file is reported once (a minute),
    # however many reads hit it, and nothing escaped as an error.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("memory.stat: unreadable" in w for w in warnings) == 1, warnings[:5]
    assert sum("lxc/c1: no such cgroup" in w for w in warnings) == 1, warnings[:5]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(warnings) <= 4, warnings


def test_a_stalled_cgroup_read_falls_back_within_the_deadline(
    tree: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """memory.stat is a named pipe nobody writes (open() blocks forever): meminfo answers
    the host's file after the deadline, again at once when the stall goes on (no second
    log line), and the container's own file once the stall ends."""
    caplog.set_level(logging.WARNING, logger="lxcfs_fuse")
    host = (tree / "proc/meminfo").read_text()
    (tree / MEMSTAT).unlink()
    os.mkfifo(tree / MEMSTAT)
    content = ContainerContent(CachingReader(str(tree)), RenderOptions(), request_deadline=0.3)
    ops = LxcfsOperations(content, sys_root=str(tree / "sys"), caller=FakeCaller(CHILD))
    try:
        for attempt in range(3):
            started = time.monotonic()
            info = _file_info()
            ops.open("/proc/meminfo", info)
            text = ops.read("/proc/meminfo", 1 << 16, 0, info).decode()
            ops.release("/proc/meminfo", info)
            elapsed = time.monotonic() - started
            assert text == host, attempt
            assert elapsed < 0.3 + 0.5, elapsed
        stalls = [r.getMessage() for r in caplog.records if "stalled" in r.getMessage()]
        assert len(stalls) == 1 and f"pid {CHILD}" in stalls[0]
        assert content.deadline.expired == 3
    finally:
        # End the stall: each stuck worker's open() returns when a writer comes and goes.
        deadline = time.monotonic() + 10
        while content.deadline.in_flight and time.monotonic() < deadline:
            # ENXIO while no worker is (yet) blocked opening the pipe.
            with contextlib.suppress(OSError):
                os.close(os.open(tree / MEMSTAT, os.O_WRONLY | os.O_NONBLOCK))
            time.sleep(0.02)
    assert content.deadline.in_flight == 0
    (tree / MEMSTAT).unlink()
    (tree / MEMSTAT).write_text((FIXTURES / "v1-nested" / MEMSTAT).read_text())
    time.sleep(0.011)
    assert content.render("proc/meminfo", CHILD).startswith(C1_MEMTOTAL)


def test_deadline_bounds_stuck_workers_and_waits_no_longer_than_the_deadline() -> None:
    """With every worker stuck, a new call waits for a free one at most its deadline and
    gives up; a worker freed meanwhile serves it; results and exceptions of calls that
    finish in time pass through unchanged; concurrency below the bound never waits."""
    deadline = Deadline(0.05, workers=2)
    release = threading.Event()
    assert deadline.call(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        deadline.call(lambda: 1 // 0)
    for _ in range(2):
        with pytest.raises(DeadlineExceeded):
            deadline.call(release.wait)
    assert deadline.in_flight == 2
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="busy"):
        deadline.call(lambda: 0)
    assert 0.04 <= time.monotonic() - started < 0.5
    release.set()
    assert _eventually(lambda: deadline.in_flight == 0)
    assert deadline.call(lambda: "served again") == "served again"
    assert deadline.expired == 3
    # 2 slow-but-timely calls at once on 2 workers: neither is refused.
    wide = Deadline(1.0, workers=2)
    results: list[str] = []

    def slow() -> str:
        time.sleep(0.1)
        return "ok"

    threads = [threading.Thread(target=lambda: results.append(wide.call(slow))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["ok", "ok"] and wide.expired == 0


def test_log_once_per_interval_and_bounded() -> None:
    """A line repeats in the log only after the interval; at most ``capacity`` lines are
    remembered."""
    now = [0.0]
    logger = logging.getLogger("lxcfs_py_test_log_once")
    once = LogOncePer(logger, 60.0, capacity=3, monotonic=lambda: now[0])
    assert once.warning("a") and not once.warning("a")
    now[0] = 59.9
    assert not once.warning("a")
    now[0] = 60.0
    assert once.warning("a")
    for line in "bcdef":
        once.warning(line)
    assert len(once) == 3


def _eventually(condition: object, timeout: float = 5.0) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False
