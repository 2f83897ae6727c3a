"""CachingReader against SystemReader on fixture trees: with nothing changing, any sequence of
requests (parts asked for, time passing, views dropped as under load) gives exactly the
plain reader's view; with files changing, every value served was the file's content at a
moment no older than its bound (a setting: setting_max_age, usage: max_age)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import attrs
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lxcfs_model.cgroup_parsers import V1_UNLIMITED_FROM
from lxcfs_model.files import KMEM_SLABINFO, VIEW_PARTS
from lxcfs_model.io import CachingReader, SystemReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Binary fractions: the clock's sums are exact, so each bound is met to the tick.
TICK = 1 / 128
MAX_AGE = TICK
SETTING_MAX_AGE = 16 * TICK

PIDS = {
    "v1-nested": (4242, 4250, 4300, 1),
    "v2-nested": (5101, 5150, 5100, 1),
    "v2-root-unlimited": (1, 2, 700),
}
TREES = {name: (SystemReader(str(FIXTURES / name)), pids) for name, pids in PIDS.items()}

# The sub-part KMEM_SLABINFO is asked for with its part, as the registry's files do (alone,
# SystemReader leaves memory None, CachingReader reads memory with it).
PARTS = st.frozensets(st.sampled_from(sorted(VIEW_PARTS)), min_size=1).map(
    lambda parts: parts | {"memory"} if KMEM_SLABINFO in parts else parts
)
requests = st.lists(
    st.tuples(
        PARTS,
        st.integers(0, 24),  # ticks passing before the request
        st.booleans(),  # whether the views were dropped (a miss under load)
    ),
    min_size=1,
    max_size=12,
)


class FakeClock:
    """A monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 64.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=60, deadline=None)
@given(tree=st.sampled_from(sorted(TREES)), pid_index=st.integers(0, 3), sequence=requests)
def test_any_request_sequence_gives_the_plain_view(
    tree: str, pid_index: int, sequence: list[tuple[frozenset[str], int, bool]]
) -> None:
    """Kept views, setting files, limit chains and lazily located cgroups change nothing
    while the files do not change: each request's view has SystemReader's fields, and its
    problems among those of the reads its fields were shared from (rule 2)."""
    plain, pids = TREES[tree]
    container = plain.resolve_pid(pids[pid_index % len(pids)])
    clock = FakeClock()
    cached = CachingReader(
        str(FIXTURES / tree), max_age=MAX_AGE, setting_max_age=SETTING_MAX_AGE, monotonic=clock
    )
    for parts, ticks, dropped in sequence:
        clock.now += ticks * TICK
        if dropped:
            cached._views.clear()
        view = cached.view_for_container(container, parts)
        expected = plain.view_for_container(container, parts)
        # Rule 2: a field shared from a read of more parts carries that read's problems.
        assert set(expected.problems) <= set(view.problems)
        assert attrs.evolve(view, problems=()) == attrs.evolve(expected, problems=())


C1 = "sys/fs/cgroup/memory/lxc/c1"
LXC = "sys/fs/cgroup/memory/lxc"
# file -> the value of the memory field it shows as
WATCHED = {
    f"{C1}/memory.limit_in_bytes": "limit c1",
    f"{LXC}/memory.limit_in_bytes": "limit lxc",
    f"{LXC}/memory.memsw.limit_in_bytes": "swap limit lxc",
    f"{C1}/memory.usage_in_bytes": "usage",
}
BOUND = {
    "limit c1": SETTING_MAX_AGE,
    "limit lxc": SETTING_MAX_AGE,
    "swap limit lxc": SETTING_MAX_AGE,
    "usage": MAX_AGE,
}

steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.sampled_from(sorted(WATCHED)), st.integers(1, 2**40)),
        # a few ticks, or about a bound (setting_max_age is 16 ticks) at once
        st.tuples(st.just("wait"), st.sampled_from([0, 1, 2, 4, 8, 12, 15, 16, 17, 20])),
        st.tuples(st.just("read"), st.booleans()),
        st.tuples(st.just("read parent"), st.booleans()),
    ),
    min_size=1,
    max_size=24,
)


def _shown(text: str) -> int | None:
    value = int(text)
    return None if value >= V1_UNLIMITED_FROM else value


# One writable copy of v1-nested for every example (a copy per example took most of the
# time); each example starts from the fixture's texts of the watched files.
_WRITABLE_TREE = Path(tempfile.mkdtemp(prefix="lxcfs_bounds_")) / "v1"
shutil.copytree(FIXTURES / "v1-nested", _WRITABLE_TREE, symlinks=True)
atexit.register(shutil.rmtree, _WRITABLE_TREE.parent, ignore_errors=True)


@settings(max_examples=200, deadline=None)
@given(steps=steps)
# c1's chains made at tick 8 of the parent's texts read at 0, which changed at 4: the
# chain goes with the texts at 16 (timed from its own making, it served the parent's old
# limit at 20, a value no read since 4 could see; random steps rarely line this up).
@example(
    steps=[
        ("read parent", False),
        ("wait", 4),
        ("write", f"{LXC}/memory.limit_in_bytes", 5),
        ("wait", 4),
        ("read", False),
        ("wait", 12),
        ("read", False),
    ]
)
# Usage changed right after a read: the next read one max_age later serves the new value.
@example(
    steps=[
        ("read", False),
        ("write", f"{C1}/memory.usage_in_bytes", 7),
        ("wait", 1),
        ("read", False),
    ]
)
def test_served_values_are_never_older_than_their_bound(
    steps: list[tuple[str, int] | tuple[str, bool] | tuple[str, str, int]],
) -> None:
    """Limits of the container and of its parent (memory and swap) and its usage, written
    at random moments, read by the container and by one in the parent cgroup: each read
    serves, for each of them, the file's content at some step of the last
    setting_max_age (limits) or max_age (usage), counted back from the read, never
    older."""
    tree = _WRITABLE_TREE
    for file in WATCHED:  # as the fixture has them (an earlier example wrote them)
        shutil.copyfile(FIXTURES / "v1-nested" / file, tree / file)
    clock = FakeClock()
    reader = CachingReader(
        str(tree), max_age=MAX_AGE, setting_max_age=SETTING_MAX_AGE, monotonic=clock
    )
    container = reader.resolve_pid(4242)
    # Another container in the parent cgroup reads the parent's limits as its own, so
    # c1's chains are also made of setting texts read earlier.
    parent = attrs.evolve(container, cgroup_paths={**container.cgroup_paths, "memory": "/lxc"})
    content = {WATCHED[file]: _shown((tree / file).read_text()) for file in WATCHED}
    history: list[tuple[float, dict[str, int | None]]] = [(clock.now, dict(content))]
    for step in steps:
        if step[0] == "write":
            file, value = str(step[1]), int(step[2])
            (tree / file).write_text(f"{value}\n")
            content[WATCHED[file]] = value
            history.append((clock.now, dict(content)))
        elif step[0] == "wait":
            clock.now += int(step[1]) * TICK
        else:
            if step[1]:
                reader._views.clear()
            whose = parent if step[0] == "read parent" else container
            memory = reader.view_for_container(whose, {"memory"}).memory
            assert memory is not None and memory.swap is not None
            if whose is parent:
                served = {
                    "limit lxc": memory.limits[0].limit,
                    "swap limit lxc": memory.swap.limits[0].limit,
                }
            else:
                served = {
                    "limit c1": memory.limits[0].limit,
                    "limit lxc": memory.limits[1].limit,
                    "swap limit lxc": memory.swap.limits[1].limit,
                    "usage": memory.usage,
                }
            for name, value in served.items():
                # the content at each step since the bound, and the one before it,
                # which held until the first of them
                recent = [snap for when, snap in history if when > clock.now - BOUND[name]]
                held = [snap for when, snap in history if when <= clock.now - BOUND[name]]
                allowed = {snap[name] for snap in recent + held[-1:]}
                assert value in allowed, (name, value, allowed)
