"""The caller cache: one init lookup per pid namespace, validated, bounded and pruned."""

from __future__ import annotations

import attrs
import pytest

from lxcfs_fuse.callers import CallerResolver
from lxcfs_model.errors import NoSuchProcess
from lxcfs_model.io import Container

HOST_NS = 4026531836


@attrs.define
class FakeProcesses:
    """pid -> (namespace inode, start ticks, namespace init, cgroup path)."""

    table: dict[int, tuple[int, int, int, str]]
    resolves: int = 0

    def pid_namespace_inode(self, pid: int | str) -> int:
        if pid == "self":
            return HOST_NS
        return self._row(int(pid))[0]

    def process_start_ticks(self, pid: int) -> int:
        return self._row(pid)[1]

    def process_identity(self, pid: int) -> int:
        return self._row(pid)[1] * 7  # one per process, as /proc/<pid>'s inode is

    def cgroup_paths(self, pid: int) -> dict[str, str]:
        return {"memory": self._row(pid)[3]}

    def resolve_pid(self, pid: int) -> Container:
        self.resolves += 1
        namespace, _, init, _ = self._row(pid)
        target = pid if namespace == HOST_NS else init
        return Container(
            caller_pid=pid,
            target_pid=target,
            init_pid=1 if namespace == HOST_NS else init,
            pid_namespace=namespace,
            cgroup_paths=self.cgroup_paths(target),
        )

    def _row(self, pid: int) -> tuple[int, int, int, str]:
        if pid not in self.table:
            raise NoSuchProcess(f"process {pid} does not exist")
        return self.table[pid]


def _containers() -> FakeProcesses:
    return FakeProcesses(
        {
            10: (HOST_NS, 5, 1, "/host"),
            500: (111, 700, 500, "/lxc/a"),
            501: (111, 710, 500, "/lxc/a/sub"),
            502: (111, 720, 500, "/lxc/a/sub"),
            600: (222, 800, 600, "/lxc/b"),
        }
    )


def test_callers_of_one_namespace_share_one_lookup() -> None:
    """Every caller of a namespace after the first is answered from the cache, with the
    init's cgroups."""
    processes = _containers()
    resolver = CallerResolver(processes)
    for pid in (501, 502, 500, 501):
        container = resolver.resolve(pid)
        assert container.target_pid == 500 and container.caller_pid == pid
        assert container.cgroup_paths == {"memory": "/lxc/a"}
    assert processes.resolves == 1 and resolver.misses == 1


def test_host_callers_use_their_own_cgroup_and_are_not_cached() -> None:
    """A caller in the daemon's pid namespace is its own target and takes no cache slot."""
    resolver = CallerResolver(_containers())
    assert resolver.resolve(10).target_pid == 10
    assert len(resolver) == 0


def test_a_recycled_init_pid_is_not_trusted() -> None:
    """When the cached init's pid now names another process (other start time), the
    namespace is resolved again rather than mapped to the dead container."""
    processes = _containers()
    resolver = CallerResolver(processes)
    resolver.resolve(501)
    processes.table[500] = (333, 999, 500, "/elsewhere")  # pid 500 reused by a new process
    processes.table[501] = (111, 710, 777, "/lxc/a/sub")
    processes.table[777] = (111, 1000, 777, "/lxc/a2")
    container = resolver.resolve(501)
    assert container.target_pid == 777 and container.cgroup_paths == {"memory": "/lxc/a2"}
    assert processes.resolves == 2


def test_cgroup_paths_are_read_fresh_on_every_hit() -> None:
    """A cached namespace whose init moved to another cgroup is seen in the new one."""
    processes = _containers()
    resolver = CallerResolver(processes)
    resolver.resolve(501)
    processes.table[500] = (111, 700, 500, "/lxc/moved")
    assert resolver.resolve(502).cgroup_paths == {"memory": "/lxc/moved"}


def test_the_namespace_cache_keeps_no_cgroup_paths_of_its_own() -> None:
    """A cached init's entry holds no cgroup paths (they are read afresh at every use, so
    a thousand containers' paths are not held for the idle minute), and callers answered
    from it still get their init's paths."""
    processes = _containers()
    resolver = CallerResolver(processes)
    assert resolver.resolve(501).cgroup_paths == {"memory": "/lxc/a"}
    entries = [init.container for init, _ in resolver._cache.values()]
    assert len(entries) == 1 and entries[0].cgroup_paths == {}
    assert entries[0].target_pid == 500 and entries[0].pid_namespace == 111
    assert resolver.resolve(502).cgroup_paths == {"memory": "/lxc/a"}


def test_cache_is_bounded_and_idle_entries_are_pruned() -> None:
    """At most ``capacity`` namespaces are kept and idle ones are dropped by ``prune``."""
    now = [0.0]
    processes = _containers()
    for n in range(10):
        processes.table[1000 + n] = (5000 + n, 1, 1000 + n, f"/c{n}")
    resolver = CallerResolver(processes, capacity=4, idle_seconds=60, monotonic=lambda: now[0])
    for n in range(10):
        resolver.resolve(1000 + n)
    assert len(resolver) == 4
    now[0] = 61.0
    resolver.resolve(1009)
    resolver.prune()
    assert len(resolver) == 1


def test_a_vanished_caller_raises_no_such_process() -> None:
    """A caller that exited before it was resolved is reported, not guessed."""
    with pytest.raises(NoSuchProcess):
        CallerResolver(_containers()).resolve(4242)


def test_recent_answers_are_reused_only_within_recent_seconds() -> None:
    """With recent_seconds, a caller's answer is reused for that long and no longer: an init
    that moved is seen once the window has passed, and the memo stays bounded."""
    now = [0.0]
    processes = _containers()
    resolver = CallerResolver(processes, capacity=2, recent_seconds=0.01, monotonic=lambda: now[0])
    first = resolver.resolve(501)
    processes.table[500] = (111, 700, 500, "/lxc/moved")
    now[0] = 0.009
    assert resolver.resolve(501) is first
    now[0] = 0.010
    assert resolver.resolve(501).cgroup_paths == {"memory": "/lxc/moved"}
    for pid in (500, 502, 501):
        resolver.resolve(pid)
    assert len(resolver._recent) <= 2


def test_recent_answers_without_reading() -> None:
    """``recent`` gives a fresh answer without any read, and None once it has expired or
    when the memo is off."""
    now = [0.0]
    processes = _containers()
    resolver = CallerResolver(processes, recent_seconds=0.01, monotonic=lambda: now[0])
    assert resolver.recent(501) is None
    container = resolver.resolve(501)
    resolves = processes.resolves
    assert resolver.recent(501) is container and processes.resolves == resolves
    now[0] = 0.01
    assert resolver.recent(501) is None
    assert CallerResolver(processes).recent(501) is None


def test_resolved_containers_carry_the_init_start_they_were_validated_with() -> None:
    """A container's init start time, read to validate the cache, travels with the
    container (first lookup and cached hits alike), so its view need not read it again."""
    processes = _containers()
    resolver = CallerResolver(processes, recent_seconds=0)
    assert resolver.resolve(501).init_start_ticks == 700
    assert resolver.resolve(502).init_start_ticks == 700  # from the cache, revalidated
    assert resolver.resolve(600).init_start_ticks == 800
    assert resolver.resolve(10).init_start_ticks is None  # a host caller: none read


def test_prune_drops_expired_recent_answers() -> None:
    """Recent answers older than the window go at prune, with no resolve needed."""
    now = [0.0]
    resolver = CallerResolver(_containers(), recent_seconds=0.01, monotonic=lambda: now[0])
    resolver.resolve(501)
    resolver.prune()
    assert len(resolver._recent) == 1
    now[0] = 0.02
    resolver.prune()
    assert len(resolver._recent) == 0


def test_a_recent_answer_is_never_served_to_a_new_process_on_the_same_pid() -> None:
    """Within the recent window, a pid handed to a new process in another container is
    resolved afresh (its /proc/<pid> is another directory), the old answer is not served."""
    processes = _containers()
    clock = [100.0]
    resolver = CallerResolver(processes, recent_seconds=0.1, monotonic=lambda: clock[0])
    assert resolver.resolve(600).cgroup_paths == {"memory": "/lxc/b"}
    assert resolver.recent(600) is not None
    processes.table[600] = (333, 900, 600, "/lxc/c")  # b's init died; c's init got pid 600
    clock[0] += 0.001
    assert resolver.recent(600) is None
    assert resolver.resolve(600).cgroup_paths == {"memory": "/lxc/c"}
    assert resolver.recent(600) is not None
    del processes.table[600]
    assert resolver.recent(600) is None
