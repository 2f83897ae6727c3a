"""CachingReader's kept setting values (rule 3a): a limit chain is kept whole, no older than
setting_max_age counted from its oldest file, and never when a read of it failed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lxcfs_model.io import CachingReader, Container, SystemReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V1_MEMORY = "sys/fs/cgroup/memory"
V2_ROOT = "sys/fs/cgroup"


# Binary fractions, so the clock's sums are exact and each bound is met to the tick.
MAX_AGE = 1 / 128
SETTING_MAX_AGE = 1 / 8


class FakeClock:
    """A monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 64.0

    def __call__(self) -> float:
        return self.now


def _copy(tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(FIXTURES / name, copy, symlinks=True)
    return copy


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    """A private copy of the v1-nested fixture tree (tests change its files)."""
    return _copy(tmp_path, "v1-nested")


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    """A private copy of the v2-nested fixture tree (tests change its files)."""
    return _copy(tmp_path, "v2-nested")


def _memory_limits(reader: CachingReader, container: Container) -> tuple[list[int | None], ...]:
    """The memory and swap limit chains of a fresh read of the memory field (the views
    dropped first, as a miss under load finds them)."""
    reader._views.clear()
    view = reader.view_for_container(container, {"memory"})
    assert view.memory is not None and view.memory.swap is not None, view.problems
    return (
        [level.limit for level in view.memory.limits],
        [level.limit for level in view.memory.swap.limits],
    )


def test_a_kept_chain_counts_from_its_oldest_file(v1: Path) -> None:
    """A chain made at 1/16 s of a parent limit file read at 0 is replaced at 1/8 s
    (setting_max_age after the file's read), not at 3/16 s (after the chain's): no limit
    served is older than setting_max_age."""
    clock = FakeClock()
    reader = CachingReader(
        str(v1), max_age=MAX_AGE, setting_max_age=SETTING_MAX_AGE, monotonic=clock
    )
    container = reader.resolve_pid(4242)
    parent = v1 / V1_MEMORY / "lxc/memory.limit_in_bytes"
    reader.read_cgroup_file(str(parent), ancestor=True)  # read at 0.0
    clock.now += 1 / 16
    assert _memory_limits(reader, container)[0] == [None, 536870912, None]
    parent.write_text("268435456\n")
    clock.now += 1 / 16 - 1 / 1024  # the chain is kept, the parent's text is from 0
    assert _memory_limits(reader, container)[0] == [None, 536870912, None]
    clock.now += 1 / 1024  # setting_max_age after the parent's read
    assert _memory_limits(reader, container)[0] == [None, 268435456, None]


def test_own_and_ancestor_changes_show_within_setting_max_age(v1: Path) -> None:
    """Limits of the container's own cgroup and of its parent, memory and swap alike,
    changed in place: kept until setting_max_age after the first read, then read anew."""
    clock = FakeClock()
    reader = CachingReader(
        str(v1), max_age=MAX_AGE, setting_max_age=SETTING_MAX_AGE, monotonic=clock
    )
    container = reader.resolve_pid(4242)
    assert _memory_limits(reader, container) == ([None, 536870912, None], [None, 805306368, None])
    (v1 / V1_MEMORY / "lxc/c1/memory.limit_in_bytes").write_text("104857600\n")
    (v1 / V1_MEMORY / "lxc/memory.memsw.limit_in_bytes").write_text("209715200\n")
    clock.now += SETTING_MAX_AGE - 1 / 1024
    assert _memory_limits(reader, container) == ([None, 536870912, None], [None, 805306368, None])
    clock.now += 1 / 1024
    assert _memory_limits(reader, container) == (
        [104857600, 536870912, None],
        [None, 209715200, None],
    )


def test_a_chain_with_a_missing_file_is_never_kept(v1: Path) -> None:
    """A v1 chain whose file is missing at one level is a problem; once the file is back
    the next miss has the limit and no problem, within setting_max_age."""
    clock = FakeClock()
    reader = CachingReader(str(v1), max_age=MAX_AGE, setting_max_age=8.0, monotonic=clock)
    container = reader.resolve_pid(4242)
    limit = v1 / V1_MEMORY / "lxc/memory.limit_in_bytes"
    text = limit.read_text()
    limit.unlink()
    broken = reader.view_for_container(container, {"memory"})
    assert broken.memory is None
    assert broken.problems == ("/sys/fs/cgroup/memory/lxc/memory.limit_in_bytes: missing",)
    limit.write_text(text)
    clock.now += MAX_AGE
    assert _memory_limits(reader, container)[0] == [None, 536870912, None]
    assert reader.view_for_container(container, {"memory"}).problems == ()


def test_a_malformed_limit_is_never_kept(v1: Path) -> None:
    """A chain that met a malformed limit is made again at every miss, so each one reports
    the problem (a kept failure would serve swap None silently), and a fixed file shows
    once its text is setting_max_age old."""
    clock = FakeClock()
    reader = CachingReader(
        str(v1), max_age=MAX_AGE, setting_max_age=SETTING_MAX_AGE, monotonic=clock
    )
    container = reader.resolve_pid(4242)
    limit = v1 / V1_MEMORY / "lxc/c1/memory.memsw.limit_in_bytes"
    limit.write_text("lots\n")
    problem = "/sys/fs/cgroup/memory/lxc/c1/memory.memsw.limit_in_bytes: 'lots' is not an integer"
    for _ in range(2):
        reader._views.clear()
        view = reader.view_for_container(container, {"memory"})
        assert view.memory is not None and view.memory.swap is None
        assert view.problems == (problem,)
        clock.now += SETTING_MAX_AGE / 2
    limit.write_text("52428800\n")
    assert _memory_limits(reader, container)[1] == [52428800, 805306368, None]


def test_a_v2_chain_with_an_absent_level_is_not_kept(v2: Path) -> None:
    """cgroup2: a level without memory.max counts as unlimited (the memory controller
    not enabled there), but such a chain is not kept: the file's appearance shows at the
    next miss."""
    clock = FakeClock()
    reader = CachingReader(str(v2), max_age=MAX_AGE, setting_max_age=8.0, monotonic=clock)
    plain = SystemReader(str(v2))
    container = reader.resolve_pid(5101)
    limit = v2 / V2_ROOT / "lxc/memory.max"
    text = limit.read_text()
    limit.unlink()
    first = reader.view_for_container(container, {"memory"})
    assert first == plain.view_for_container(container, {"memory"})
    assert first.memory is not None
    assert [level.limit for level in first.memory.limits] == [None, None]
    limit.write_text(text)
    clock.now += MAX_AGE
    reader._views.clear()
    again = reader.view_for_container(container, {"memory"})
    assert again.memory is not None
    assert [level.limit for level in again.memory.limits] == [None, 536870912]


def test_kept_values_are_bounded_and_expire(v1: Path) -> None:
    """At most capacity chains are kept, and drop_expired leaves none once all are older
    than setting_max_age."""
    clock = FakeClock()
    reader = CachingReader(str(v1), capacity=1, setting_max_age=SETTING_MAX_AGE, monotonic=clock)
    container = reader.resolve_pid(4242)
    reader.view_for_container(container, {"memory"})  # two chains: memory and memsw
    assert len(reader._setting_values) == 1
    clock.now += SETTING_MAX_AGE
    reader.drop_expired()
    assert len(reader._setting_values) == 0
