"""ContainerContent over a fixture root: callers -> containers -> the model, with history."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lxcfs_fuse import loadavg as loadavg_module
from lxcfs_fuse.content import ContainerContent
from lxcfs_fuse.loadavg import LoadavgSampler, scan_cgroup
from lxcfs_model import RenderOptions
from lxcfs_model.history import LoadavgState, StatHistory
from lxcfs_model.io import SystemReader
from lxcfs_model.render.loadavg import TaskCounts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
V1 = FIXTURES / "v1-nested"
INIT, CHILD, ATTACHED = 4242, 4250, 4300


def _content(**options: bool) -> ContainerContent:
    reader = SystemReader(str(V1))
    sampler = LoadavgSampler(
        lambda path: str(V1 / "sys/fs/cgroup/cpu" / path.lstrip("/")),
        proc_root=str(V1 / "proc"),
    )
    return ContainerContent(reader, RenderOptions(**options), sampler=sampler)


def test_processes_of_one_container_share_one_namespace_lookup() -> None:
    """The init, its child and a process that setns'd in resolve to the same container
    with one slow lookup."""
    content = _content()
    containers = [content.container(pid) for pid in (CHILD, ATTACHED, INIT, CHILD)]
    assert {c.target_pid for c in containers if c is not None} == {INIT}
    assert None not in containers
    assert content.callers.misses == 1


def test_cpu_directory_maps_the_containers_cpuset() -> None:
    """c1's cpuset is host CPU 1 only: the container sees it as cpu0."""
    assert dict(_content().cpu_directory(CHILD)) == {"cpu0": "cpu1"}


def test_vanished_caller_reads_the_host_view() -> None:
    """A pid that does not exist is served the empty view: host files (spec 3.12)."""
    content = _content()
    assert content.container(999_999) is None
    host_online = (V1 / "sys/devices/system/cpu/online").read_text()
    assert content.render("sys/devices/system/cpu/online", 999_999) == host_online


def test_stat_history_is_kept_per_container() -> None:
    """Reading /proc/stat stores one history, keyed by the container's cpu cgroup paths."""
    content = _content()
    content.render("proc/stat", CHILD)
    content.render("proc/stat", ATTACHED)
    assert content.stat_histories.snapshot_keys() == [("/lxc/c1", "/lxc/c1", "/lxc/c1")]


def test_first_loadavg_read_registers_the_container_with_the_sampler() -> None:
    """With -l the first read shows zeros and the init's pid, and the sampler starts
    counting the container's cpu cgroup."""
    content = _content(enable_loadavg=True)
    assert content.render("proc/loadavg", CHILD) == f"0.00 0.00 0.00 0/1 {INIT}\n"
    assert content.sampler is not None and content.sampler.state("/lxc/c1") is not None


def _fake_task(proc: Path, pid: int, tid: int, state: str) -> None:
    task = proc / str(pid) / "task" / str(tid)
    task.mkdir(parents=True)
    (task / "stat").write_text(f"{tid} (we) ird) {state} 1 1 1 0 -1\n")


def test_scan_counts_threads_three_levels_deep(tmp_path: Path) -> None:
    """Tasks of the cgroup and three levels below count (R and D as running); a fourth
    level does not; the command name may contain ') '."""
    proc, top = tmp_path / "proc", tmp_path / "cg"
    levels = [top, top / "a", top / "a/b", top / "a/b/c", top / "a/b/c/d"]
    for number, directory in enumerate(levels):
        directory.mkdir(parents=True)
        pid = 100 + number
        (directory / "cgroup.procs").write_text(f"{pid}\n")
        _fake_task(proc, pid, pid, "R" if number % 2 == 0 else "S")
    _fake_task(proc, 100, 150, "D")  # a second thread of the top process
    counts = scan_cgroup(str(top), str(proc))
    assert counts is not None
    assert (counts.running, counts.total, counts.last_pid) == (3, 5, 150)


def test_sampler_forgets_empty_and_vanished_cgroups(tmp_path: Path) -> None:
    """A cgroup without processes or without a directory stops being sampled."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/cgroup.procs").write_text("")
    sampler = LoadavgSampler(lambda path: str(tmp_path / path.lstrip("/")), proc_root=str(tmp_path))
    sampler.register("/empty", LoadavgState())
    sampler.register("/gone", LoadavgState())
    sampler.sample_once()
    assert len(sampler) == 0


def test_a_slow_scan_never_blocks_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the sampler scans a huge cgroup (here: a scan that waits), reads of the state
    and registrations of other containers answer at once: no lock is held across a scan."""
    scanning, release = threading.Event(), threading.Event()

    def slow_scan(directory: str, proc_root: str) -> TaskCounts:
        scanning.set()
        release.wait(10)
        return TaskCounts(running=1, total=10_000, last_pid=99)

    monkeypatch.setattr(loadavg_module, "scan_cgroup", slow_scan)
    sampler = LoadavgSampler(lambda path: str(tmp_path), proc_root=str(tmp_path))
    sampler.register("/big", LoadavgState())
    worker = threading.Thread(target=sampler.sample_once)
    worker.start()
    try:
        assert scanning.wait(5)
        started = time.monotonic()
        assert sampler.state("/big") == LoadavgState()
        sampler.register("/other", LoadavgState())
        assert time.monotonic() - started < 0.5
    finally:
        release.set()
        worker.join()
    state = sampler.state("/big")
    assert state is not None and (state.running, state.total, state.last_pid) == (1, 10_000, 99)


def test_prune_forgets_history_of_vanished_cgroups() -> None:
    """Housekeeping drops /proc/stat history whose cgroups no longer exist and keeps the rest."""
    content = _content()
    content.render("proc/stat", CHILD)
    content.stat_histories.set(("/lxc/gone", "/lxc/gone", "/lxc/gone"), StatHistory())
    content.prune()
    assert content.stat_histories.snapshot_keys() == [("/lxc/c1", "/lxc/c1", "/lxc/c1")]


def test_housekeeping_gives_free_heap_back_after_each_prune(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every prune pass is followed by malloc_trim(0), so memory freed by pruning returns to
    the kernel instead of staying in glibc's heap."""
    from lxcfs_fuse import main

    calls: list[int] = []

    class FakeLibc:
        def malloc_trim(self, pad: int) -> int:
            calls.append(pad)
            return 1

    monkeypatch.setattr(main, "_LIBC", FakeLibc())
    monkeypatch.setattr(main, "PRUNE_SECONDS", 0.0)
    monkeypatch.setattr(main, "_POLL_SECONDS", 0.01)
    content = _content()
    pruned: list[bool] = []
    monkeypatch.setattr(content, "prune", lambda: pruned.append(True))
    housekeeping = main.Housekeeping(content)
    housekeeping.start()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    housekeeping.stop()
    assert calls[:2] == [0, 0] and len(pruned) >= len(calls) >= 2


def test_a_stateless_file_is_rendered_once_while_its_inputs_are_shared() -> None:
    """With a caching reader, two meminfo reads in one window render once and give the same
    text; /proc/stat (stateful) renders on the first read of the window only (its text is
    kept with the history it hands back: a render is a fixed point); after the window
    meminfo renders again."""
    from lxcfs_model.io import CachingReader

    now = [0.0]
    reader = CachingReader(str(V1), monotonic=lambda: now[0])
    content = ContainerContent(reader, RenderOptions())
    renders: list[str] = []
    library = content.library
    original = library.render

    def counting(path: str, inputs: object) -> object:
        renders.append(path)
        return original(path, inputs)

    object.__setattr__(library, "render", counting)
    try:
        first = content.render("proc/meminfo", CHILD)
        assert content.render("proc/meminfo", CHILD) == first
        content.render("proc/stat", CHILD)
        content.render("proc/stat", CHILD)
        content.render("proc/stat", CHILD)
        assert renders == ["proc/meminfo", "proc/stat"]
        now[0] = 1.0
        assert content.render("proc/meminfo", CHILD) == first  # same fixture values
        assert renders[-1] == "proc/meminfo" and len(renders) == 3
    finally:
        object.__setattr__(library, "render", original)
