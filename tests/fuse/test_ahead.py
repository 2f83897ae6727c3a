"""Reading ahead (lxcfs_fuse.ahead, content rules 8-9, CachingReader rules 5-5a): which pair
is rendered ahead and when, and that neither a render ahead nor a kept text ever serves a
value older than the reader's window allows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxcfs_fuse import ahead
from lxcfs_fuse.ahead import MARGIN, MAX_GAP, ReadAhead
from lxcfs_fuse.callers import CallerResolver
from lxcfs_fuse.content import KEPT_TEXTS_FLOOR, ContainerContent
from lxcfs_fuse.deadline import inline_only
from lxcfs_model import RenderOptions
from lxcfs_model.io import CachingReader, SystemReader
from tests.fuse.daemon import lxcfs_fuse_mount
from tests.reliability.live import expected_memtotal_line, host_memtotal_kb
from tests.system.harness import container_cgroups

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CHILD = 4250  # in the container /lxc/c1 of the v1-nested fixture
USAGE = "sys/fs/cgroup/memory/lxc/c1/memory.usage_in_bytes"
WINDOW = 0.010


# --------------------------------------------------------------------------- the planner


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _planner(clock: _Clock) -> ReadAhead:
    planner = ReadAhead(monotonic=clock)
    planner.step_seconds = 0.0005
    return planner


def test_a_pair_is_followed_from_its_second_read_and_due_only_when_it_would_expire() -> None:
    clock = _Clock()
    planner = _planner(clock)
    expiry = {"at": 0.0}
    planner.read("proc/meminfo", 7)
    assert planner.due(lambda path, pid: expiry["at"]) is None  # one read: no gap yet
    clock.now += 0.004
    planner.read("proc/meminfo", 7)
    clock.now += 0.0005
    # Its next read is due at +4 ms; values lasting past that (plus the margin) are fine.
    expiry["at"] = clock.now + 0.0035 + MARGIN + 0.0001
    assert planner.due(lambda path, pid: expiry["at"]) is None
    # The answer was kept: nothing is asked again until that moment.
    assert planner.due(lambda path, pid: pytest.fail("asked again")) is None
    clock.now += 0.0035
    planner.read("proc/meminfo", 7)  # its values now run out before its next read
    clock.now += 0.003  # that read in 1 ms, more than a render ahead takes
    due = planner.due(lambda path, pid: expiry["at"])
    assert due is not None and (due.path, due.pid) == ("proc/meminfo", 7)
    # Looking ahead past the read after next (one gap more), so its values expire together.
    assert due.lead == pytest.approx(0.001 + MARGIN + 0.004, abs=1e-9)
    # Once rendered ahead, never again before the reader reads it.
    assert planner.due(lambda path, pid: 0.0) is None
    clock.now += 0.001
    planner.read("proc/meminfo", 7)  # read: it may come due again
    clock.now += 0.003
    assert planner.due(lambda path, pid: 0.0) is not None


def test_a_step_given_back_comes_due_again_and_one_taken_does_not() -> None:
    """The daemon asks before its quiet moment; a request in that moment gives the step
    back (rule 3): the pair is due at the next idle moment, as if never asked for."""
    clock = _Clock()
    planner = _planner(clock)
    for _ in range(3):
        planner.read("proc/meminfo", 7)
        clock.now += 0.004
    clock.now -= 0.003  # its read due in 3 ms, its values long expired
    due = planner.due(lambda path, pid: 0.0)
    assert due is not None
    assert planner.due(lambda path, pid: 0.0) is None  # marked: not twice
    planner.give_back(due)
    again = planner.due(lambda path, pid: 0.0)
    assert again is not None and (again.path, again.pid) == ("proc/meminfo", 7)
    assert planner.due(lambda path, pid: 0.0) is None  # this one is taken


def test_only_the_pair_read_next_is_rendered_ahead() -> None:
    """Each other pair's read brings another idle moment first: the one due later waits."""
    clock = _Clock()
    planner = _planner(clock)
    for _ in range(3):
        planner.read("proc/meminfo", 1)
        clock.now += 0.001
        planner.read("proc/uptime", 1)
        clock.now += 0.003
    # meminfo's next read is in 0 ms... uptime's in 1 ms after meminfo's: both expired.
    clock.now -= 0.0015  # meminfo expected in 1.5 ms, uptime in 2.5 ms
    due = planner.due(lambda path, pid: 0.0)
    assert due is not None and due.path == "proc/meminfo"
    assert planner.due(lambda path, pid: 0.0) is None  # uptime waits for its own turn


def test_nothing_is_rendered_ahead_when_the_next_read_comes_sooner_than_a_render() -> None:
    clock = _Clock()
    planner = _planner(clock)
    planner.read("proc/stat", 3)
    clock.now += 0.0008
    planner.read("proc/stat", 3)
    clock.now += 0.0004  # the next read in 0.4 ms; a render ahead takes 0.5
    assert planner.due(lambda path, pid: 0.0) is None
    planner.took(0.0001)
    planner.took(0.0001)
    planner.took(0.0001)
    assert planner.step_seconds < 0.0003
    assert planner.due(lambda path, pid: 0.0) is not None


def test_silent_and_sparse_pairs_are_forgotten_and_the_table_is_bounded() -> None:
    clock = _Clock()
    planner = _planner(clock)
    planner.read("proc/cpuinfo", 9)
    clock.now += MAX_GAP + 0.001
    planner.read("proc/cpuinfo", 9)  # too far apart to follow
    assert planner.due(lambda path, pid: 0.0) is None
    clock.now += MAX_GAP + 0.001
    assert planner.due(lambda path, pid: 0.0) is None
    assert len(planner) == 0
    for pid in range(ahead.CAPACITY + 50):
        planner.read("proc/meminfo", pid)
    assert len(planner) == ahead.CAPACITY


@pytest.mark.parametrize(
    ("value", "on"),
    [("", False), ("1", True), (" 1 ", True), ("0", False), ("yes", False), (" 0 ", False)],
)
def test_the_environment_variable_turns_it_on(
    value: str, on: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ahead.VARIABLE, value)
    assert ahead.enabled() is on


# ------------------------------------------------------------------ reader and resolver


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "v1-nested", root, symlinks=True)
    return root


def test_looking_ahead_reads_what_would_expire_and_stamps_the_real_time(tmp_path: Path) -> None:
    root = _root(tmp_path)
    now = [0.0]
    reader = CachingReader(str(root), monotonic=lambda: now[0])
    container = reader.resolve_pid(CHILD)
    first = reader.view_for_container(container, ["memory"])
    assert reader.fresh_until(container, ["memory"], ["meminfo"]) == 0.0  # no host text yet
    reader.host_snapshot(["meminfo"])
    assert reader.fresh_until(container, ["memory"], ["meminfo"]) == pytest.approx(WINDOW)
    now[0] = 0.006
    (root / USAGE).write_text("1048576\n")
    assert reader.view_for_container(container, ["memory"]) is not None
    assert reader.cached_view(container, ["memory"]) is not None  # still shared
    with reader.looking_ahead(0.005):  # at 11 ms it would have expired: read it now
        assert reader.cached_view(container, ["memory"]) is None
        renewed = reader.view_for_container(container, ["memory"])
    assert renewed.memory is not None and first.memory is not None
    assert renewed.memory.usage == 1048576 != first.memory.usage
    # Stamped 6 ms, not 11: it lasts until 16 ms, like any read made at 6 ms.
    assert reader.fresh_until(container, ["memory"], None) == pytest.approx(0.016)
    now[0] = 0.0159
    assert reader.cached_view(container, ["memory"]) is not None
    now[0] = 0.016
    assert reader.cached_view(container, ["memory"]) is None


def test_measuring_finds_when_the_first_value_served_expires(tmp_path: Path) -> None:
    root = _root(tmp_path)
    now = [0.0]
    reader = CachingReader(str(root), monotonic=lambda: now[0])
    container = reader.resolve_pid(CHILD)
    reader.view_for_container(container, ["memory"])
    now[0] = 0.004
    with reader.measuring() as measured:
        reader.host_snapshot(["meminfo"])  # read at 4 ms
        reader.cached_view(container, ["memory"])  # read at 0 ms: the first to expire
    assert measured.views == 1
    assert measured.until == pytest.approx(WINDOW)
    with reader.measuring() as nothing:
        pass
    assert nothing.views == 0 and nothing.until == float("inf")


def test_the_resolver_looks_ahead_and_says_when_an_answer_expires(tmp_path: Path) -> None:
    root = _root(tmp_path)
    now = [0.0]
    reader = SystemReader(str(root))
    resolver = CallerResolver(reader, recent_seconds=0.1, monotonic=lambda: now[0])
    assert resolver.fresh_until(CHILD) == 0.0 and resolver.recent_identity(CHILD) is None
    resolver.resolve(CHILD)
    assert resolver.fresh_until(CHILD) == pytest.approx(0.1)
    assert resolver.recent_identity(CHILD) == reader.process_identity(CHILD)
    now[0] = 0.05
    assert resolver.recent(CHILD) is not None
    with resolver.looking_ahead(0.06):
        assert resolver.recent(CHILD) is None
        resolver.resolve(CHILD)
    assert resolver.fresh_until(CHILD) == pytest.approx(0.15)


# ----------------------------------------------------------------------------- content


def _texts_of_every_version(root: Path, options: RenderOptions, path: str) -> str:
    """What a daemon that shares nothing serves now."""
    plain = ContainerContent(SystemReader(str(root)), options)
    return plain.render(path, CHILD)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("advance"), st.sampled_from([0.0005, 0.002, 0.004, 0.006, 0.012])),
            st.tuples(st.just("write"), st.integers(1, 200)),
            st.tuples(st.just("read"), st.sampled_from(["proc/meminfo", "proc/cpuinfo"])),
            st.tuples(st.just("idle"), st.just(0)),
        ),
        min_size=5,
        max_size=60,
    )
)
def test_kept_texts_and_renders_ahead_are_never_older_than_the_window(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, float]]
) -> None:
    """Every text read equals what a daemon sharing nothing served at some moment of the
    last window (10 ms): kept texts (rule 9) and values read ahead (rule 8) are fresher,
    never staler; and reads in a steady rhythm with idle moments between come to render
    from what was read ahead."""
    root = _root(tmp_path_factory.mktemp("ahead"))
    now = [0.0]
    reader = CachingReader(str(root), monotonic=lambda: now[0])
    content = ContainerContent(reader, RenderOptions())
    content.ahead = ReadAhead(monotonic=lambda: now[0])
    content.ahead.step_seconds = 0.0
    options = RenderOptions()
    # (since, text) of each file as a daemon sharing nothing would have served it
    history: dict[str, list[tuple[float, str]]] = {
        path: [(0.0, _texts_of_every_version(root, options, path))]
        for path in ("proc/meminfo", "proc/cpuinfo")
    }
    for kind, value in steps:
        if kind == "advance":
            now[0] += value
        elif kind == "write":
            (root / USAGE).write_text(f"{int(value) * 1048576}\n")
            for path, versions in history.items():
                versions.append((now[0], _texts_of_every_version(root, options, path)))
        elif kind == "idle":
            content.read_ahead()
        else:
            path = str(value)
            text = content.render(path, CHILD)
            versions = history[path]
            allowed = {
                served
                for index, (since, served) in enumerate(versions)
                if index + 1 == len(versions) or versions[index + 1][0] > now[0] - WINDOW
            }
            assert text in allowed, (path, now[0])


def test_a_steady_reader_reads_what_was_rendered_ahead(tmp_path: Path) -> None:
    """meminfo read every 4 ms with an idle moment after each read: after the first few,
    no read re-reads or renders anything (the idle moments did), and each equals a fresh
    daemon's text once the usage changed more than a window ago."""
    root = _root(tmp_path)
    now = [0.0]
    reader = CachingReader(str(root), monotonic=lambda: now[0])
    content = ContainerContent(reader, RenderOptions())
    content.ahead = ReadAhead(monotonic=lambda: now[0])
    content.ahead.step_seconds = 0.0
    renders: list[str] = []
    library = content.library
    original = library.render

    def counting(path: str, inputs: object) -> object:
        renders.append("ahead" if content._reading_ahead else "read")
        return original(path, inputs)  # type: ignore[arg-type]

    object.__setattr__(library, "render", counting)
    try:
        changed = float("inf")
        for index in range(60):
            text = content.render("proc/meminfo", CHILD)
            if now[0] - changed >= WINDOW:
                assert text == _texts_of_every_version(root, RenderOptions(), "proc/meminfo")
            now[0] += 0.001
            content.read_ahead()
            now[0] += 0.003
            if index == 10:
                renders.clear()
            if index == 30:
                (root / USAGE).write_text(f"{50 * 1048576}\n")
                changed = now[0]
    finally:
        object.__setattr__(library, "render", original)
    assert "read" not in renders
    assert renders.count("ahead") >= 10


def test_a_kept_text_is_never_served_to_another_process_on_the_same_pid(tmp_path: Path) -> None:
    """The pid's /proc directory replaced within the window by a host process's (a new
    process on a recycled pid, outside any container): it reads the host's meminfo, not
    the text kept for the container process that had the pid."""
    root = _root(tmp_path)
    now = [0.0]
    content = ContainerContent(CachingReader(str(root), monotonic=lambda: now[0]), RenderOptions())
    first = content.render("proc/meminfo", CHILD)
    assert content.render("proc/meminfo", CHILD) == first  # kept
    process = root / "proc" / str(CHILD)
    process.rename(root / "gone")  # kept, so its inode is not handed to the new directory
    shutil.copytree(root / "proc" / "1", process, symlinks=True)
    now[0] += 0.001  # well within every window
    second = content.render("proc/meminfo", CHILD)
    assert second != first
    assert second == _texts_of_every_version(root, RenderOptions(), "proc/meminfo")


def test_kept_texts_hold_only_the_recent_callers_not_every_caller_since_the_last_prune(
    tmp_path: Path,
) -> None:
    """Two hundred processes of the container read meminfo in turn, one a millisecond:
    the kept-text table stays about twice the callers of the last window (not one entry
    per process until the 30 s prune: a burst of a thousand containers left the daemon's
    memory fragmented), and a process reading again within its window still gets its
    kept text."""
    root = _root(tmp_path)
    for index in range(200):
        shutil.copytree(
            root / "proc" / str(CHILD), root / "proc" / str(5000 + index), symlinks=True
        )
    now = [0.0]
    content = ContainerContent(CachingReader(str(root), monotonic=lambda: now[0]), RenderOptions())
    largest = 0
    for index in range(200):
        content.render("proc/meminfo", 5000 + index)
        largest = max(largest, len(content._kept_texts))
        now[0] += 0.001
    assert largest <= 2 * KEPT_TEXTS_FLOOR
    assert ("proc/meminfo", 5199) in content._kept_texts
    kept = content._kept_texts[("proc/meminfo", 5199)].text
    (root / USAGE).write_text(f"{77 * 1048576}\n")  # a render now would differ
    assert content.render("proc/meminfo", 5199) == kept


def test_a_render_ahead_that_would_wait_is_given_up_on_the_serving_thread(
    tmp_path: Path,
) -> None:
    """On the serving thread (``inline_only``), a render ahead that meets a file other than
    a kernel file (every file of a fixture tree) is given up, never waited for; the
    reader's own read then reads as before."""
    root = _root(tmp_path)
    now = [0.0]
    content = ContainerContent(CachingReader(str(root), monotonic=lambda: now[0]), RenderOptions())
    content.ahead = ReadAhead(monotonic=lambda: now[0])
    content.ahead.step_seconds = 0.0
    for _ in range(3):
        content.render("proc/meminfo", CHILD)  # at 0, 4 and 8 ms: the values read at 0
        now[0] += 0.004
    now[0] -= 0.003  # 9 ms: the next read is due at 12, the values expire at 10
    (root / USAGE).write_text(f"{77 * 1048576}\n")
    with inline_only():
        assert content.read_ahead() is True  # a step was taken, and given up
    assert content.ahead.due(content._fresh_until) is None  # and not taken again
    now[0] += 0.003
    assert content.render("proc/meminfo", CHILD) == _texts_of_every_version(
        root, RenderOptions(), "proc/meminfo"
    )


def test_prune_forgets_pairs_that_went_silent_without_any_request() -> None:
    """A burst of one-off readers, then nothing: ``due`` never runs again, ``prune`` (the
    housekeeping's) forgets them all; a pair still in rhythm stays."""
    clock = _Clock()
    planner = _planner(clock)
    for pid in range(200):
        planner.read("proc/meminfo", pid)
    planner.read("proc/uptime", 1)
    clock.now += 0.004
    planner.read("proc/uptime", 1)
    clock.now += 0.005
    planner.prune()
    assert len(planner) == 1
    clock.now += MAX_GAP
    planner.prune()
    assert len(planner) == 0


# ------------------------------------------------------------------ the daemon, turned on

_LOOP = r"""
import sys, time
mount, seconds, expected = sys.argv[1], float(sys.argv[2]), sys.argv[3]
stop = time.monotonic() + seconds
reads = wrong = 0
last_uptime = 0.0
while time.monotonic() < stop:
    for name in ("meminfo", "stat", "uptime"):
        with open(f"{mount}/proc/{name}", "rb") as f:
            text = f.read().decode()
        reads += 1
        if name == "meminfo":
            wrong += text.split("\n", 1)[0] != expected
        elif name == "stat":
            wrong += not text.startswith("cpu ") or "\ncpu0 " not in text
        else:
            uptime = float(text.split()[0])
            wrong += uptime < last_uptime
            last_uptime = uptime
    time.sleep(0.002)
print(reads, wrong)
"""


@pytest.mark.root
def test_turned_on_the_daemon_reads_ahead_and_every_text_is_the_containers() -> None:
    """``LXCFS_FUSE_READ_AHEAD=1`` (off by default, rule 6): a container reading three files
    every few milliseconds gets its own texts, whole, its uptime never going back, while
    the daemon renders ahead (its ``-d`` log says so) and logs no failure."""
    with (
        lxcfs_fuse_mount(("-d", "-l", "--enable-cfs"), extra_env={ahead.VARIABLE: "1"}) as daemon,
        container_cgroups() as cgroups,
    ):
        cgroups.set_memory_limit(192 << 20)
        probe = cgroups.start_probe(new_pid_namespace=True)
        expected = expected_memtotal_line(192 << 20, host_memtotal_kb())
        done = probe.run(["python3", "-c", _LOOP, daemon.path, "2", expected], timeout=60)
        reads, wrong = (int(field) for field in done.stdout.split())
        log = daemon.log()
    assert reads > 100 and wrong == 0, done.stdout + done.stderr
    assert " ahead for pid " in log, log[-2000:]
    assert "Traceback" not in log and "failed" not in log, log[-2000:]
