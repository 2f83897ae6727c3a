"""CachingReader: the same values as SystemReader, shared for at most max_age, bounded."""

from __future__ import annotations

import shutil
from pathlib import Path

import attrs
import pytest

from lxcfs_model.errors import LxcfsModelError, NoSuchProcess
from lxcfs_model.files import KMEM_SLABINFO
from lxcfs_model.io import CachingReader, Container, SystemReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
C1_MEMORY = "sys/fs/cgroup/memory/lxc/c1"


class FakeClock:
    """A monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A private copy of the v1-nested fixture tree (tests change its files)."""
    copy = tmp_path / "v1"
    shutil.copytree(FIXTURES / "v1-nested", copy, symlinks=True)
    return copy


def _set_usage(tree: Path, value: int) -> None:
    (tree / C1_MEMORY / "memory.usage_in_bytes").write_text(f"{value}\n")


def test_same_values_as_the_uncached_reader(tree: Path) -> None:
    """A cold CachingReader returns exactly what SystemReader reads."""
    cached, plain = CachingReader(str(tree)), SystemReader(str(tree))
    container = plain.resolve_pid(4242)
    assert cached.view_for_container(container) == plain.view_for_container(container)
    assert cached.host_snapshot() == plain.host_snapshot()


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ((), ("memory",)),
        ((), ("init",)),
        ((), ("cpu", "cpuset", "cpu_usage")),
        ((), ("io", "pressure")),
        (("cpu", "cpuset"), ("cpu", "cpuset", "memory")),
        (("memory",), ("memory", "init", "cpu_usage")),
    ],
)
def test_a_view_read_whole_or_in_part_is_the_uncached_readers(
    tree: Path, first: tuple[str, ...], then: tuple[str, ...]
) -> None:
    """A view whose every field is read at once (answered as read) and one made of fields
    still shared and fields read now (assembled) are both what SystemReader reads for those
    parts, problems included."""
    cached, plain = CachingReader(str(tree)), SystemReader(str(tree))
    container = plain.resolve_pid(4242)
    if first:
        cached.view_for_container(container, first)
    assert cached.view_for_container(container, then) == plain.view_for_container(container, then)


def test_view_shared_within_max_age_then_reread(tree: Path) -> None:
    """A cgroup value changed in place shows once max_age has passed, not before."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, monotonic=clock)
    container = reader.resolve_pid(4242)
    _set_usage(tree, 1000)
    first = reader.view_for_container(container)
    assert first.memory is not None and first.memory.usage == 1000
    _set_usage(tree, 2000)
    clock.now += 0.009
    assert reader.view_for_container(container) == first
    clock.now += 0.001
    later = reader.view_for_container(container)
    assert later.memory is not None and later.memory.usage == 2000


def test_moved_container_is_read_at_once(tree: Path) -> None:
    """Another cgroup path is another key: a container that moved is never served the old
    cgroup's values."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=10.0, monotonic=clock)
    container = reader.resolve_pid(4242)
    in_c1 = reader.view_for_container(container)
    moved = attrs.evolve(container, cgroup_paths={**container.cgroup_paths, "memory": "/lxc"})
    in_parent = reader.view_for_container(moved)
    assert in_c1.memory is not None and in_parent.memory is not None
    assert (in_c1.memory.path, in_parent.memory.path) == ("/lxc/c1", "/lxc")


def test_host_snapshot_shared_within_max_age(tree: Path) -> None:
    """The host snapshot is one object within max_age and re-read after it."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, monotonic=clock)
    first = reader.host_snapshot()
    (tree / "proc/loadavg").write_text("9.99 9.99 9.99 1/1 1\n")
    assert reader.host_snapshot() is first
    clock.now += 0.01
    assert reader.host_snapshot().loadavg == "9.99 9.99 9.99 1/1 1\n"


def test_a_host_snapshot_read_again_unchanged_is_the_same_object(tree: Path) -> None:
    """Past max_age the texts are read again: all unchanged, the very snapshot comes back
    (its parsed layouts, and the texts made from it, keep serving); one text changed, a
    new snapshot with it."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, setting_max_age=0.01, monotonic=clock)
    first = reader.host_snapshot({"cpuinfo", "online"})
    layout = first.cpuinfo_layout
    clock.now += 0.01
    again = reader.host_snapshot({"cpuinfo", "online"})
    assert again is first and again.cpuinfo_layout is layout
    (tree / "sys/devices/system/cpu/online").write_text("0\n")
    assert reader.host_snapshot({"cpuinfo", "online"}) is first  # within max_age
    clock.now += 0.01
    changed = reader.host_snapshot({"cpuinfo", "online"})
    assert changed is not first and changed.online == "0\n"
    assert changed == SystemReader(str(tree)).host_snapshot({"cpuinfo", "online"})


def test_the_cpu_texts_alone_are_shared_as_long_as_a_setting(tree: Path) -> None:
    """A snapshot of the online CPU list and /proc/cpuinfo alone is shared for
    setting_max_age (rule 3a), and so is its expiry; with any other text in it, max_age."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, setting_max_age=0.1, monotonic=clock)
    cpus = reader.host_snapshot({"cpuinfo", "online"})
    online = reader.host_snapshot({"online"})
    mixed = reader.host_snapshot({"cpuinfo", "online", "loadavg"})
    container = reader.resolve_pid(4242)
    reader.view_for_container(container, ("cpuset",))
    start = clock.now
    assert reader.fresh_until(container, ("cpuset",), {"cpuinfo", "online"}) == start + 0.1
    assert reader.fresh_until(container, ("cpuset",), {"online", "loadavg"}) == 0.0  # none
    (tree / "sys/devices/system/cpu/online").write_text("0\n")
    clock.now += 0.05
    assert reader.host_snapshot({"cpuinfo", "online"}) is cpus
    assert reader.host_snapshot({"online"}) is online
    changed = reader.host_snapshot({"cpuinfo", "online", "loadavg"})
    assert changed is not mixed and changed.online == "0\n"
    reader.drop_expired()
    assert reader.host_snapshot({"online"}) is online  # kept by the housekeeping too
    clock.now += 0.051
    assert reader.host_snapshot({"cpuinfo", "online"}).online == "0\n"
    assert reader.host_snapshot({"online"}).online == "0\n"


def test_a_setting_field_read_again_unchanged_is_the_same_object(tree: Path) -> None:
    """Past setting_max_age the cpuset and cpu fields are read again: unchanged, the very
    objects come back, in a view equal to the uncached reader's; a changed file gives a
    new value at once."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, setting_max_age=0.1, monotonic=clock)
    container = reader.resolve_pid(4242)
    parts = {"cpuset", "cpu"}
    first = reader.view_for_container(container, parts)
    clock.now += 0.1
    again = reader.view_for_container(container, parts)
    assert again.cpuset is first.cpuset and again.cpu is first.cpu
    assert again == SystemReader(str(tree)).view_for_container(container, parts)
    (tree / "sys/fs/cgroup/cpuset/lxc/c1/cpuset.effective_cpus").write_text("0-1\n")
    clock.now += 0.1
    changed = reader.view_for_container(container, parts)
    assert changed.cpuset is not None and changed.cpuset != first.cpuset
    assert changed.cpu is first.cpu
    assert changed == SystemReader(str(tree)).view_for_container(container, parts)


def test_clock_never_cached(tree: Path) -> None:
    """The clock is read anew on every call (uptime and stat must advance)."""
    reader = CachingReader(str(tree), max_age=10.0)
    assert reader.clock().boottime == 5000.25
    (tree / "proc/uptime").write_text("6000.50 1.00\n")
    assert reader.clock().boottime == 6000.50


def test_failures_are_not_cached(tree: Path) -> None:
    """A request that fails is not remembered: the next one reads again and succeeds."""
    reader = CachingReader(str(tree), max_age=10.0)
    container = reader.resolve_pid(4242)
    hidden = tree / "proc/4242.hidden"
    (tree / "proc/4242").rename(hidden)
    with pytest.raises(NoSuchProcess):
        reader.view_for_container(container)
    hidden.rename(tree / "proc/4242")
    view = reader.view_for_container(container)
    assert view.memory is not None and view.memory.path == "/lxc/c1"


def test_bounded_by_capacity_and_age(tree: Path) -> None:
    """Never more than capacity views; expired views are dropped at the next insert."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=1.0, capacity=2, monotonic=clock)
    container = reader.resolve_pid(4242)
    paths = ["/lxc/c1", "/lxc", "/"]
    for path in paths:
        reader.view_for_container(
            attrs.evolve(container, cgroup_paths={**container.cgroup_paths, "memory": path})
        )
        assert len(reader) <= 2
    clock.now += 1.0
    reader.view_for_container(container)
    assert len(reader) == 1


def test_only_the_requested_parts_are_read(tree: Path) -> None:
    """A request for the memory field reads no other controller; a later request for more
    fields reads just the missing ones and reuses the fresh memory field."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, monotonic=clock)
    container = reader.resolve_pid(4242)
    (tree / "sys/fs/cgroup/cpuset/lxc/c1/cpuset.effective_cpus").write_text("garbage\n")
    memory_only = reader.view_for_container(container, {"memory"})
    assert memory_only.memory is not None and memory_only.cpuset is None
    assert memory_only.problems == ()  # the broken cpuset file was never read
    _set_usage(tree, 4242)
    both = reader.view_for_container(container, {"memory", "cpuset"})
    assert both.memory == memory_only.memory  # shared, not re-read
    assert both.cpuset is None and any("cpuset.effective_cpus" in p for p in both.problems)


def test_only_the_requested_host_texts_are_read(tree: Path) -> None:
    """A snapshot for meminfo reads /proc/meminfo alone (others left empty), so a host file
    it does not need cannot fail it; each set of texts is shared on its own."""
    reader = CachingReader(str(tree), max_age=10.0)
    (tree / "proc/stat").unlink()
    memory_only = reader.host_snapshot({"meminfo"})
    assert memory_only.meminfo.startswith("MemTotal:")
    assert (memory_only.stat, memory_only.cpuinfo, memory_only.slabinfo) == ("", "", None)
    assert reader.host_snapshot({"meminfo"}) is memory_only
    with pytest.raises(LxcfsModelError, match="proc/stat"):
        reader.host_snapshot({"stat"})


def test_cached_view_answers_only_when_every_part_is_fresh(tree: Path) -> None:
    """``cached_view`` returns the shared fields without reading, and None when any field
    asked for is missing or expired."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, monotonic=clock)
    container = reader.resolve_pid(4242)
    assert reader.cached_view(container, {"memory"}) is None
    read = reader.view_for_container(container, {"memory"})
    _set_usage(tree, 7)
    assert reader.cached_view(container, {"memory"}) == read
    assert reader.cached_view(container, {"memory", "cpu"}) is None
    clock.now += 0.01
    assert reader.cached_view(container, {"memory"}) is None


def _limits(reader: CachingReader, container: Container) -> list[int | None]:
    view = reader.view_for_container(container, ("memory",))
    assert view.memory is not None
    return [level.limit for level in view.memory.limits]


def test_settings_shared_for_setting_max_age_usage_for_max_age(tree: Path) -> None:
    """A limit changed in place, on an ancestor or on the container's own cgroup, shows
    once setting_max_age has passed; usage changed in place shows after max_age."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, setting_max_age=0.1, monotonic=clock)
    container = reader.resolve_pid(4242)
    parent = tree / "sys/fs/cgroup/memory/lxc/memory.limit_in_bytes"
    own = tree / C1_MEMORY / "memory.limit_in_bytes"
    usage = tree / C1_MEMORY / "memory.usage_in_bytes"
    first = _limits(reader, container)
    assert first[1] == 536870912  # c1, lxc, root: lxc's limit is the parent's
    parent.write_text("268435456\n")
    own.write_text("134217728\n")
    usage.write_text("4096\n")
    clock.now += 0.02  # past max_age, within setting_max_age
    second = _limits(reader, container)
    assert second[:2] == first[:2]
    memory = reader.view_for_container(container, {"memory"}).memory
    assert memory is not None and memory.usage == 4096
    clock.now += 0.09  # past setting_max_age since the first read
    assert _limits(reader, container)[:2] == [134217728, 268435456]


def test_setting_files_are_shared_between_containers_and_bounded(tree: Path) -> None:
    """Containers below one ancestor share its files; a file not in SETTING_FILES is read
    afresh unless read as an ancestor's limit; the store never holds more than capacity
    files and drops expired ones."""
    clock = FakeClock()
    reader = CachingReader(str(tree), capacity=2, setting_max_age=0.1, monotonic=clock)
    root_limit = reader.path("sys/fs/cgroup/memory/memory.limit_in_bytes")
    first = reader.read_cgroup_file(root_limit, ancestor=True)
    Path(root_limit).write_text("1\n")
    assert reader.read_cgroup_file(root_limit, ancestor=True) == first
    assert reader.read_cgroup_file(root_limit) == first  # a setting by name as well
    stat = reader.path("sys/fs/cgroup/memory/memory.stat")
    text = Path(stat).read_text()
    assert reader.read_cgroup_file(stat) == text
    Path(stat).write_text(text + "extra 1\n")
    assert reader.read_cgroup_file(stat).endswith("extra 1\n")  # not a setting: fresh
    for name in ("memory.memsw.limit_in_bytes", "memory.swappiness", "memory.stat"):
        reader.read_cgroup_file(reader.path("sys/fs/cgroup/memory", name), ancestor=True)
        assert reader.setting_files() <= 2
    clock.now += 0.2
    reader.read_cgroup_file(root_limit, ancestor=True)
    assert reader.setting_files() == 1


def test_ancestor_failures_are_not_kept(tree: Path) -> None:
    """An ancestor file that cannot be read is read again next time, not remembered."""
    reader = CachingReader(str(tree), monotonic=FakeClock())
    missing = reader.path("sys/fs/cgroup/memory/lxc/memory.nothing")
    for _ in range(2):
        with pytest.raises(FileNotFoundError):
            reader.read_cgroup_file(missing, ancestor=True)
    assert reader.setting_files() == 0


def test_cgroup_slabinfo_is_read_only_when_asked_for(tree: Path) -> None:
    """memory.kmem.slabinfo is read only for the KMEM_SLABINFO sub-part: a memory request
    (meminfo's) leaves it None and never touches the file, a slabinfo request gets exactly
    what the uncached reader reads, with the memory values read at the same time."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, monotonic=clock)
    plain = SystemReader(str(tree))
    container = reader.resolve_pid(4242)
    slab = tree / C1_MEMORY / "memory.kmem.slabinfo"
    text = slab.read_text()
    slab.unlink()
    slab.mkdir()  # unreadable: reading it would be a problem
    memory_only = reader.view_for_container(container, {"memory"})
    assert memory_only.memory is not None and memory_only.memory.kmem_slabinfo is None
    assert memory_only.problems == ()
    assert plain.view_for_container(container, {"memory"}) == memory_only
    slab.rmdir()
    slab.write_text(text)
    _set_usage(tree, 4242)
    with_slab = reader.view_for_container(container, {"memory", KMEM_SLABINFO})
    assert with_slab.memory is not None and with_slab.memory.kmem_slabinfo == text
    assert with_slab.memory.usage == 4242  # read together with the slabinfo text
    assert with_slab == plain.view_for_container(container, {"memory", KMEM_SLABINFO})
    assert reader.cached_view(container, {"memory", KMEM_SLABINFO}) == with_slab
    again = reader.view_for_container(container, {"memory"})
    assert again.memory == attrs.evolve(with_slab.memory, kmem_slabinfo=None)


def test_a_shared_slabinfo_view_is_the_same_object(tree: Path) -> None:
    """Within max_age a slabinfo request gets the very memory object read before (the FUSE
    adapter keeps a text with the objects it was made from), and a memory request the
    same values without the slabinfo text."""
    reader = CachingReader(str(tree), max_age=10.0, monotonic=FakeClock())
    container = reader.resolve_pid(4242)
    first = reader.view_for_container(container, {"memory", KMEM_SLABINFO})
    again = reader.view_for_container(container, {"memory", KMEM_SLABINFO})
    assert first.memory is not None and first.memory.kmem_slabinfo
    assert again.memory is first.memory
    memory_only = reader.view_for_container(container, {"memory"})
    assert memory_only.memory == attrs.evolve(first.memory, kmem_slabinfo=None)


def test_setting_fields_live_as_long_as_their_oldest_file(tree: Path) -> None:
    """The cpuset and cpu fields (settings alone) are served without reading for
    setting_max_age, counted from the oldest setting file they were made from; the memory
    field expires after max_age; nothing is ever older than setting_max_age."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, setting_max_age=0.1, monotonic=clock)
    container = reader.resolve_pid(4242)
    parts = {"cpuset", "cpu", "memory"}
    reader.view_for_container(container, {"cpuset"})  # cpuset files read at 0.0
    clock.now += 0.05
    first = reader.view_for_container(container, parts)  # cpu read now, cpuset field kept
    clock.now += 0.02  # 0.07: memory expired, both setting fields still shared
    assert reader.cached_view(container, {"cpuset", "cpu"}) is not None
    assert reader.cached_view(container, parts) is None
    clock.now += 0.035  # 0.105: the cpuset field (files from 0.0) is past 100 ms
    assert reader.cached_view(container, {"cpuset"}) is None
    assert reader.cached_view(container, {"cpu"}) is not None  # its files are from 0.05
    again = reader.view_for_container(container, {"cpuset"})
    assert again.cpuset == first.cpuset
    clock.now += 0.05  # 0.155: cpu's own files (0.05) are past 100 ms too
    assert reader.cached_view(container, {"cpu"}) is None


def test_a_setting_field_rebuilt_from_kept_files_keeps_their_age(tree: Path) -> None:
    """A cpuset field rebuilt at 0.05 from setting files read at 0.0 (the view dropped in
    between, as eviction would) expires at 0.1, not at 0.15: the files' age counts."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, setting_max_age=0.1, monotonic=clock)
    container = reader.resolve_pid(4242)
    reader.view_for_container(container, {"cpuset"})
    clock.now += 0.05
    reader._views.clear()
    reader.view_for_container(container, {"cpuset"})  # from the kept files, no read
    clock.now += 0.055
    assert reader.cached_view(container, {"cpuset"}) is None


def test_drop_expired_empties_the_reader_once_nothing_is_fresh(tree: Path) -> None:
    """With no further request, drop_expired leaves what is still fresh and drops the
    rest: views, setting files and host snapshots (so memory comes back after the last
    container has gone)."""
    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, setting_max_age=0.1, monotonic=clock)
    reader.view_for_container(reader.resolve_pid(4242), {"memory", "cpuset"})
    reader.host_snapshot({"meminfo"})
    reader.drop_expired()
    assert len(reader) == 1 and reader.setting_files() > 0 and len(reader._hosts) == 1
    clock.now += 0.05  # views of memory and hosts expired; the cpuset field and files not
    reader.drop_expired()
    assert len(reader) == 1 and reader.setting_files() > 0 and len(reader._hosts) == 0
    clock.now += 0.1
    reader.drop_expired()
    assert (len(reader), reader.setting_files(), len(reader._hosts)) == (0, 0, 0)


def test_drop_expired_gives_back_the_tables_of_gone_containers(tree: Path) -> None:
    """Thousands of containers' views and settings expired: drop_expired leaves maps no
    bigger than a fresh reader's (a dict never shrinks its table by itself)."""
    import sys

    clock = FakeClock()
    reader = CachingReader(str(tree), max_age=0.01, monotonic=clock)
    fresh = sys.getsizeof(reader._views)
    container = reader.resolve_pid(4242)
    for index in range(3000):
        reader._views[("gone", index)] = {"memory": (clock.now, None, ())}
        reader._settings[f"gone/{index}"] = (clock.now, "1")
    reader.view_for_container(container, ["memory"])
    clock.now += 1.0
    reader.drop_expired()
    assert len(reader) == 0
    assert sys.getsizeof(reader._views) == fresh
    assert sys.getsizeof(reader._settings) == fresh
