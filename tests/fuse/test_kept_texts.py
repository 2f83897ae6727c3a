"""ContainerContent's kept /proc/stat and /proc/uptime texts (content rule 7): served only for
the very inputs (and history, and clock centisecond) that made them, and never different from
what a daemon without the memo serves."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import attrs

from lxcfs_fuse.content import ContainerContent
from lxcfs_fuse.memo import TextMemo
from lxcfs_model import RenderOptions
from lxcfs_model.history import StatHistory
from lxcfs_model.io import CachingReader

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CHILD = 4250  # in the container /lxc/c1 of the v1-nested fixture
INIT = 4242  # its init, in the same cgroups
STAT_KEY = ("/lxc/c1", "/lxc/c1", "/lxc/c1")
USAGE_ALL = "sys/fs/cgroup/cpuacct/lxc/c1/cpuacct.usage_all"


class _NothingKept(TextMemo):
    """A memo that never has a text: the daemon as it was before rule 7's stateful files."""

    def get(self, path: str, inputs: object, moment: object = None) -> str | None:  # type: ignore[override]
        return None


def _counting(content: ContainerContent) -> list[str]:
    """The paths ``content``'s library renders from now on, in order."""
    renders: list[str] = []
    library = content.library
    original = library.render

    def counting(path: str, inputs: object) -> object:
        renders.append(path)
        return original(path, inputs)  # type: ignore[arg-type]

    object.__setattr__(library, "render", counting)
    return renders


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "v1-nested", root, symlinks=True)
    return root


def _set_clock(root: Path, boottime: float) -> None:
    """The fixture reader's clock is the first number of its proc/uptime."""
    (root / "proc/uptime").write_text(f"{boottime:.6f} 9000.50\n")


def _grow(root: Path, rng: random.Random) -> None:
    """Host CPU counters and the container's usage grow (or stay) by a few ticks."""
    stat = root / "proc/stat"
    lines = stat.read_text().splitlines(keepends=True)
    rows = {}
    for index, line in enumerate(lines):
        label, *numbers = line.split()
        if label.startswith("cpu") and label != "cpu":
            rows[index] = [int(number) + rng.randint(0, 3) for number in numbers]
            lines[index] = " ".join([label, *map(str, rows[index])]) + "\n"
    lines[0] = "cpu  " + " ".join(map(str, map(sum, zip(*rows.values(), strict=True)))) + "\n"
    stat.write_text("".join(lines))
    usage = root / USAGE_ALL
    header, *cpus = usage.read_text().splitlines()
    grown = []
    for row in cpus:
        cpu, user, system = map(int, row.split())
        grown.append(
            f"{cpu} {user + rng.randint(0, 2) * 10**7} {system + rng.randint(0, 2) * 10**7}"
        )
    usage.write_text("\n".join([header, *grown]) + "\n")


def test_kept_texts_are_what_a_daemon_without_the_memo_serves(tmp_path: Path) -> None:
    """Reads of stat and uptime interleaved with growing counters, a moving clock and new
    reader windows: every text and the stored stat history equal those of a daemon that
    renders every read (and keeps every history it is handed), while most reads render
    nothing."""
    root = _root(tmp_path)
    now = [0.0]
    reader = CachingReader(str(root), monotonic=lambda: now[0])
    for options in (RenderOptions(), RenderOptions(enable_cfs=True)):
        kept = ContainerContent(reader, options)
        plain = ContainerContent(reader, options)
        plain.texts = _NothingKept()
        plain.generation = attrs.evolve(plain.generation, interchangeable=lambda a, b: False)
        renders = _counting(kept)
        rng = random.Random(5)
        boottime = 5000.25
        reads = 0
        try:
            for _ in range(300):
                step = rng.random()
                if step < 0.1:
                    now[0] += rng.choice((0.004, 0.02))  # within or past the 10 ms window
                elif step < 0.2:
                    _grow(root, rng)
                elif step < 0.3:
                    boottime += rng.choice((0.0004, 0.003, 0.01, 0.05))
                    _set_clock(root, boottime)
                else:
                    path = rng.choice(("proc/stat", "proc/uptime"))
                    reads += 1
                    assert kept.render(path, CHILD) == plain.render(path, CHILD), path
                    kept_history = kept.stat_histories.get(STAT_KEY)
                    plain_history = plain.stat_histories.get(STAT_KEY)
                    assert repr(kept_history) == repr(plain_history)
        finally:
            object.__setattr__(kept.library, "render", plain.library.render)
        assert len(renders) < reads / 2


def _reader(root: Path, now: list[float]) -> CachingReader:
    return CachingReader(str(root), monotonic=lambda: now[0])


def _renders_of(content: ContainerContent, read: Callable[[], str], times: int) -> int:
    renders = _counting(content)
    for _ in range(times):
        read()
    return len(renders)


def test_a_kept_stat_text_is_not_served_across_a_changed_input(tmp_path: Path) -> None:
    """Within one window stat renders once (its text is kept with the history it hands
    back) and then not at all; another history object, a history equal in value but of
    other types, and a new window each make it render again, once."""
    root = _root(tmp_path)
    now = [0.0]
    content = ContainerContent(_reader(root, now), RenderOptions())
    renders = _counting(content)
    first = content.render("proc/stat", CHILD)
    for _ in range(4):
        assert content.render("proc/stat", CHILD) == first
    assert renders == ["proc/stat"]
    history = content.stat_histories.get(STAT_KEY)
    assert history is not None
    # An equal copy: another object, so the kept text is not its text until it is rendered.
    copy = StatHistory(
        last_lines=tuple((label, tuple(line)) for label, line in history.last_lines),
        baseline=history.baseline,
        view=history.view,
        usage_total=history.usage_total,
    )
    content.stat_histories.set(STAT_KEY, copy)
    assert content.render("proc/stat", CHILD) == first and len(renders) == 2
    assert content.stat_histories.get(STAT_KEY) is copy  # interchangeable: the given one kept
    assert content.render("proc/stat", CHILD) == first and len(renders) == 2
    # Equal in value, but a float among the counters: not trusted, so not the kept text's,
    # and the render's history is kept, not this one.
    label, counters = history.last_lines[0]
    odd_line = (label, (float(counters[0]), *counters[1:]))
    odd = attrs.evolve(history, last_lines=(odd_line, *history.last_lines[1:]))
    assert odd == history
    content.stat_histories.set(STAT_KEY, odd)
    content.render("proc/stat", CHILD)
    assert len(renders) == 3 and content.stat_histories.get(STAT_KEY) is not odd
    assert content.render("proc/stat", CHILD) == first
    assert len(renders) == 3  # the render's history is its fixed point: its text was kept
    # The same view objects with another host snapshot (its CPUs' counters grown).
    reader = content.reader
    host = reader.host_snapshot()
    _grow(root, random.Random(1))
    grown = attrs.evolve(host, stat=(root / "proc/stat").read_text())
    object.__setattr__(reader, "host_snapshot", lambda *parts: grown)
    # The caller's kept text (rule 9) trusts the reader to hand out the same snapshot
    # until it expires, which this stand-in does not: what is checked here is the memo.
    content._kept_texts.clear()
    try:
        assert content.render("proc/stat", CHILD) != first and len(renders) == 4
    finally:
        object.__delattr__(reader, "host_snapshot")
    now[0] = 1.0
    second_window = content.render("proc/stat", CHILD)
    assert second_window != first and len(renders) == 5


def test_a_callers_stat_text_is_served_only_while_its_history_is_the_stores(
    tmp_path: Path,
) -> None:
    """A caller's /proc/stat text is kept (rule 9): its next read within the window takes
    no history update. Once another render moved the history on (a render ahead that
    read the grown counters), the caller's next read is not its kept text but what the
    full path gives now."""
    root = _root(tmp_path)
    now = [0.0]
    content = ContainerContent(_reader(root, now), RenderOptions())
    updates = [0]
    update = content.stat_histories.update

    def counting(key: object, compute: Callable[[object], object]) -> object:
        updates[0] += 1
        return update(key, compute)  # type: ignore[arg-type]

    content.stat_histories.update = counting  # type: ignore[method-assign, assignment]
    first = content.render("proc/stat", CHILD)
    now[0] += 0.002
    assert content.render("proc/stat", CHILD) == first and updates == [1]
    _grow(root, random.Random(3))
    reader = content.reader
    content._render_ahead("proc/stat", INIT, lambda: reader.looking_ahead(1.0))
    assert updates == [2]
    moved = content.render("proc/stat", CHILD)
    assert updates == [3] and moved != first
    content._kept_texts.clear()
    assert content.render("proc/stat", CHILD) == moved  # the full path's text


def test_a_kept_uptime_text_lasts_only_its_centisecond(tmp_path: Path) -> None:
    """uptime renders once for reads within one centisecond of the clock, again when the
    clock reaches the next one (its text then 0.01 s older), and again in a new window."""
    root = _root(tmp_path)
    now = [0.0]
    content = ContainerContent(_reader(root, now), RenderOptions())
    renders = _counting(content)
    _set_clock(root, 5000.2500)
    first = content.render("proc/uptime", CHILD)
    _set_clock(root, 5000.2599)
    assert content.render("proc/uptime", CHILD) == first
    assert renders == ["proc/uptime"]
    _set_clock(root, 5000.2600)
    later = content.render("proc/uptime", CHILD)
    assert len(renders) == 2
    assert round(float(later.split()[0]) - float(first.split()[0]), 2) == 0.01
    now[0] = 1.0
    assert content.render("proc/uptime", CHILD) == later and len(renders) == 3


def test_cpuinfo_renders_again_only_when_an_input_changes(tmp_path: Path) -> None:
    """Past the reader's windows its host texts and settings are read again; unchanged, they
    are the same objects, so cpuinfo's text is not made again (however many windows pass);
    a changed host text or setting makes it again, as a daemon that reads and renders
    everything afresh would."""
    root = _root(tmp_path)
    now = [0.0]
    options = RenderOptions(enable_cfs=True)
    content = ContainerContent(CachingReader(str(root), monotonic=lambda: now[0]), options)
    content.texts = TextMemo(monotonic=lambda: now[0])  # the daemon's: one clock for both

    def afresh() -> str:
        uncached = CachingReader(str(root), max_age=0, setting_max_age=0, kept_files=0)
        return ContainerContent(uncached, options).render("proc/cpuinfo", CHILD)

    renders = _counting(content)
    first = content.render("proc/cpuinfo", CHILD)
    assert first == afresh()
    for _ in range(20):
        now[0] += 0.015  # past the 10 ms window every time, past 100 ms for settings
        assert content.render("proc/cpuinfo", CHILD) == first
        content.render("proc/meminfo", CHILD)  # made again: its memory values are new
    assert renders == ["proc/cpuinfo"] + ["proc/meminfo"] * 20
    renders.clear()
    cpuinfo = root / "proc/cpuinfo"
    cpuinfo.write_text(cpuinfo.read_text().replace("AMD EPYC", "AMD EPYC 7B13"))
    now[0] += 0.1  # the CPU texts are shared as long as a setting (reader rule 3a)
    changed = content.render("proc/cpuinfo", CHILD)
    assert changed != first and changed == afresh() and renders == ["proc/cpuinfo"]
    (root / "sys/fs/cgroup/cpu/lxc/c1/cpu.cfs_quota_us").write_text("-1\n")
    for name in ("cpuset.cpus", "cpuset.effective_cpus"):
        (root / "sys/fs/cgroup/cpuset/lxc/c1" / name).write_text("0-1\n")
    now[0] += 0.15  # settings are read again after 100 ms
    wider = content.render("proc/cpuinfo", CHILD)
    assert "processor\t: 1\n" in wider and "processor\t: 1\n" not in changed
    assert wider == afresh() and renders == ["proc/cpuinfo"] * 2
