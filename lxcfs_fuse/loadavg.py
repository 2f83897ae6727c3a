"""The loadavg sampler (``-l``): counts each known container's tasks every 5 seconds.

Rules:
1. The arithmetic is the model's (``lxcfs_model.render.loadavg.sample`` and ``count_tasks``);
   this module only lists tasks: ``cgroup.procs`` of the container's cpu cgroup and of its
   descendants three levels deep (spec 3.8), then ``/proc/<pid>/task/<tid>/stat`` state of
   every thread of those processes. tids are host numbers.
2. A container is sampled once a read of its /proc/loadavg has registered it (the model's
   render hands back the fresh state); a cgroup that vanished or has no task left is
   forgotten, and reads afterwards start it again from zero, like upstream.
3. No lock is held while a cgroup is scanned: a container with 10,000 tasks makes the
   sampler slower, never a reader. The store's lock is taken only to read the list of
   cgroups and to write each result.
4. Live reload: with ``library`` the arithmetic is that of the library generation serving now
   (``lxcfs_fuse.reload``); a state kept by an older generation is carried over as plain data
   (``reload.carry``), or forgotten if it does not convert (the next read starts it again).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator

from lxcfs_fuse.reload import Library, carry
from lxcfs_fuse.state import KeyedStore
from lxcfs_model.history import LoadavgState
from lxcfs_model.render.loadavg import TaskCounts, count_tasks, sample

__all__ = ["LoadavgSampler", "scan_cgroup"]

#: Levels below the container's cgroup whose tasks count (spec 3.8: CG, children,
#: grandchildren, great-grandchildren).
DESCENDANT_LEVELS = 3


def _cgroup_directories(top: str, levels: int) -> Iterator[str]:
    yield top
    if levels <= 0:
        return
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _cgroup_directories(entry.path, levels - 1)


def _pids(directory: str) -> list[int]:
    try:
        with open(os.path.join(directory, "cgroup.procs"), encoding="ascii") as file:
            return [int(token) for token in file.read().split() if token.isdigit()]
    except (OSError, ValueError):
        return []


def _thread_states(proc_root: str, pid: int) -> Iterator[tuple[int, str]]:
    task_dir = os.path.join(proc_root, str(pid), "task")
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return  # exited since cgroup.procs was read
    for tid in tids:
        if not tid.isdigit():
            continue
        try:
            with open(os.path.join(task_dir, tid, "stat"), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        # The state follows the command name, which may itself contain ") ": take the last.
        state = text.rpartition(")")[2].strip()[:1]
        if state:
            yield int(tid), state


def scan_cgroup(
    cgroup_dir: str,
    proc_root: str = "/proc",
    *,
    count: Callable[[Iterable[tuple[int, str]]], TaskCounts] = count_tasks,
) -> TaskCounts | None:
    """Count the tasks of one cpu cgroup (rule 1); None if it is gone or has no process."""
    if not os.path.isdir(cgroup_dir):
        return None
    states: list[tuple[int, str]] = []
    seen_pid = False
    for directory in _cgroup_directories(cgroup_dir, DESCENDANT_LEVELS):
        for pid in _pids(directory):
            seen_pid = True
            states.extend(_thread_states(proc_root, pid))
    if not seen_pid:
        return None
    return count(states)


class LoadavgSampler:
    """Load averages per cpu cgroup path. ``cgroup_dir(path)`` is where that cgroup lives
    in the cpu hierarchy (None when there is no cpu hierarchy)."""

    def __init__(
        self,
        cgroup_dir: Callable[[str], str | None],
        *,
        proc_root: str = "/proc",
        capacity: int = 4096,
        library: Callable[[], Library] | None = None,
    ) -> None:
        self._cgroup_dir = cgroup_dir
        self._library = library
        self._proc_root = proc_root
        # Never idle-pruned: a sampled cgroup stays until it vanishes or empties (rule 2).
        self._states: KeyedStore[str, LoadavgState] = KeyedStore(
            capacity=capacity, idle_seconds=float("inf")
        )

    def __len__(self) -> int:
        return len(self._states)

    def state(self, cpu_path: str) -> LoadavgState | None:
        """The averages of ``cpu_path``, None before its first read."""
        return self._states.get(cpu_path)

    def register(self, cpu_path: str, state: LoadavgState) -> None:
        """Start sampling ``cpu_path`` from ``state`` unless it is sampled already."""
        self._states.update(cpu_path, lambda current: (None, current or state))

    def sample_once(self) -> None:
        """One pass over every registered cgroup (rule 3: scans run unlocked)."""
        library = None if self._library is None else self._library()
        for cpu_path in self._states.snapshot_keys():
            directory = self._cgroup_dir(cpu_path)
            counts = None if directory is None else self._scan(directory, library)
            if counts is None:
                self._states.discard(cpu_path)
            else:
                self._states.update(cpu_path, functools.partial(_advance, counts, library))

    def _scan(self, directory: str, library: Library | None) -> TaskCounts | None:
        if library is None:
            return scan_cgroup(directory, self._proc_root)
        return scan_cgroup(directory, self._proc_root, count=library.count_tasks)


def _advance(
    counts: TaskCounts, library: Library | None, current: LoadavgState | None
) -> tuple[None, LoadavgState | None]:
    if library is not None:
        current = carry(current, library.loadavg_state)  # rule 4
    # None: forgotten while the scan ran (discarded), or not carried over a reload; it
    # stays forgotten until read again.
    if current is None:
        return None, None
    advance = sample if library is None else library.sample_loadavg
    return None, advance(current, counts.running, counts.total, counts.last_pid)
