"""The reload machinery in process: fresh module trees, the carry-over rules, the swap."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from lxcfs_fuse import reload
from lxcfs_fuse.content import ContainerContent
from lxcfs_fuse.reload import ReloadFailed, activate, carry, load_library
from lxcfs_model import RenderOptions
from lxcfs_model.history import LoadavgState, StatHistory
from lxcfs_model.io import SystemReader
from lxcfs_model.rendering import Rendered, RenderInputs
from tests.reload.library_copy import (
    BROKEN_MESSAGE,
    MARKER,
    UptimeVersion,
    copy_library,
    edit_copy,
    install_uptime,
)

V1 = Path(__file__).resolve().parent.parent / "fixtures" / "v1-nested"
CHILD = 4250  # a process of container /lxc/c1 in the fixture


def _package_modules() -> dict[str, object]:
    return {k: v for k, v in sys.modules.items() if k.split(".")[0] == "lxcfs_model"}


@pytest.fixture(autouse=True)
def restore_imports() -> Iterator[None]:
    """Every test leaves sys.modules and sys.path as it found them."""
    modules, path = _package_modules(), list(sys.path)
    yield
    for name in _package_modules():
        del sys.modules[name]
    sys.modules.update(modules)  # type: ignore[arg-type]
    sys.path[:] = path
    importlib.invalidate_caches()


@pytest.fixture
def private_library(tmp_path: Path) -> Path:
    """A copy of lxcfs_model first on sys.path: what the next reload loads."""
    copy_library(tmp_path)
    sys.path.insert(0, str(tmp_path))
    return tmp_path


def _content() -> ContainerContent:
    return ContainerContent(SystemReader(str(V1)), RenderOptions(enable_cfs=True))


def test_load_library_imports_an_independent_tree_and_leaves_sys_modules() -> None:
    """A loaded generation has module objects of its own, sys.modules is untouched until
    activate, and the new tree renders exactly what the running one does."""
    before = _package_modules()
    library = load_library(1)
    assert _package_modules() == before
    assert all(before[name] is not library.modules[name] for name in reload._MODULES)
    assert library.stat_history is not StatHistory

    content = _content()
    old_text = content.render("proc/meminfo", CHILD)
    reader = library.reader(content.reader)
    view = reader.view_for_cgroup("/lxc/c1")
    inputs = library.render_inputs(
        view=view, host=reader.host_snapshot(), options=library.render_options(enable_cfs=True)
    )
    assert library.render("proc/meminfo", attrs.evolve(inputs, clock=reader.clock())).text == (
        old_text
    )
    activate(library)
    assert sys.modules["lxcfs_model.files"] is library.modules["lxcfs_model.files"]


def test_an_import_error_fails_in_one_line_and_restores_sys_modules(private_library: Path) -> None:
    """A new version that does not compile raises ReloadFailed naming the SyntaxError on
    one line, and every lxcfs_model module in sys.modules is the one from before."""
    install_uptime(private_library, UptimeVersion.SYNTAX_ERROR)
    before = _package_modules()
    with pytest.raises(ReloadFailed) as failure:
        load_library(1)
    assert "SyntaxError" in str(failure.value) and "\n" not in str(failure.value)
    assert _package_modules() == before
    assert all(sys.modules[name] is module for name, module in before.items())


@attrs.frozen
class _V1:
    a: int
    b: tuple[int, ...] = ()


@attrs.frozen
class _V2Added:
    a: int
    c: str = "default"


@attrs.frozen
class _V2Required:
    a: int
    d: int


def test_carry_rules() -> None:
    """Rule 5: same class passes as is; otherwise fields by name (dropped ones go, added
    ones default); a record needing a field it lacks, a non-plain field or a non-attrs
    value resets to None."""
    same = _V1(1, (2,))
    assert carry(same, _V1) is same
    assert carry(None, _V1) is None
    assert carry(_V1(7, (1, 2)), _V2Added) == _V2Added(7, "default")
    assert carry(_V1(7), _V2Required) is None
    assert carry(_V1(object()), _V2Added) is None  # type: ignore[arg-type]
    assert carry({"a": 1}, _V1) is None


def test_history_values_cross_generations_as_plain_data() -> None:
    """A StatHistory and a LoadavgState of the running generation become the new
    generation's classes with equal fields."""
    library = load_library(1)
    history = StatHistory(last_lines=(("cpu0", (1,) * 10),), usage_total=(3, 4))
    carried = carry(history, library.stat_history)
    assert type(carried) is library.stat_history
    assert attrs.asdict(carried) == attrs.asdict(history)
    state = carry(
        LoadavgState(avenrun=(1, 2, 3), running=2, total=5, last_pid=9), library.loadavg_state
    )
    assert type(state) is library.loadavg_state and state.avenrun == (1, 2, 3)


def test_reload_swaps_the_generation_and_carries_state_over() -> None:
    """After a reload the content serves the new generation; the /proc/stat history (now
    of the new class), the caller cache, the options and passthrough mode carry over."""
    content = _content()
    content.render("proc/stat", CHILD)
    old = content.generation
    content.virtualize = False
    new = content.reload()
    assert content.generation is new and new.library.number == old.library.number + 1
    assert content.virtualize is False
    assert new.options == new.library.render_options(enable_cfs=True)
    assert len(new.callers) == 1
    content.virtualize = True
    content.render("proc/stat", CHILD)
    assert new.callers.misses == 0  # the carried cache answered
    (key,) = content.stat_histories.snapshot_keys()
    assert type(content.stat_histories.get(key)) is new.library.stat_history


def test_a_request_finishes_on_the_generation_it_started_with() -> None:
    """A render in flight when the generation is swapped returns the old code's text; the
    next render uses the new code."""
    content = _content()
    base = content.generation
    entered, release = threading.Event(), threading.Event()

    def old_render(path: str, inputs: RenderInputs) -> Rendered:
        entered.set()
        assert release.wait(10)
        return Rendered("old code\n")

    def new_render(path: str, inputs: RenderInputs) -> Rendered:
        return Rendered("new code\n")

    content.generation = attrs.evolve(base, library=attrs.evolve(base.library, render=old_render))
    results: list[str] = []
    reader = threading.Thread(target=lambda: results.append(content.render("proc/meminfo", CHILD)))
    reader.start()
    assert entered.wait(10)
    content.generation = attrs.evolve(base, library=attrs.evolve(base.library, render=new_render))
    release.set()
    reader.join(10)
    assert results == ["old code\n"]
    assert content.render("proc/meminfo", CHILD) == "new code\n"


def test_a_renderer_failing_the_smoke_render_keeps_the_old_code(private_library: Path) -> None:
    """A version whose uptime renderer raises fails the reload (one line, the exception
    named) and the old generation serves; once fixed on disk, the next reload loads it."""
    content = _content()
    old = content.generation
    before = content.render("proc/uptime", CHILD)
    install_uptime(private_library, UptimeVersion.RAISES)
    with pytest.raises(ReloadFailed) as failure:
        content.reload()
    assert f"RuntimeError: {BROKEN_MESSAGE}" in str(failure.value)
    assert content.generation is old
    assert content.render("proc/uptime", CHILD) == before

    install_uptime(private_library, UptimeVersion.MARKED)
    new = content.reload()
    assert new.library.location == str(private_library / "lxcfs_model")
    assert content.render("proc/uptime", CHILD) == before + MARKER


def test_a_caller_cache_that_cannot_be_adopted_fails_the_reload(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure while the new generation takes over the caller cache is a ReloadFailed
    (one line) and the old generation keeps serving."""
    content = _content()
    old = content.generation
    before = content.render("proc/uptime", CHILD)

    def refuse(*args: object) -> int:
        raise RuntimeError("cache refused")

    monkeypatch.setattr("lxcfs_fuse.callers.CallerResolver.adopt", refuse)
    with pytest.raises(ReloadFailed, match="cache refused"):
        content.reload()
    assert content.generation is old
    assert content.render("proc/uptime", CHILD) == before


def test_passthrough_serves_the_host_files_unchanged() -> None:
    """With virtualization off every file is the host's file byte for byte, not rendered."""
    content = _content()
    content.virtualize = False
    for path in ("proc/meminfo", "proc/stat", "sys/devices/system/cpu/online"):
        assert content.render(path, CHILD) == (V1 / path).read_text()


def test_a_field_added_in_the_new_version_takes_its_default(private_library: Path) -> None:
    """A new version whose StatHistory has an extra field (with a default) gets the kept
    history converted: same values, the new field at its default."""
    edit_copy(
        private_library,
        "history.py",
        "    usage_total: tuple[int, ...] = ()\n",
        '    usage_total: tuple[int, ...] = ()\n    note: str = "added in v2"\n',
    )
    content = _content()
    content.render("proc/stat", CHILD)
    (key,) = content.stat_histories.snapshot_keys()
    kept = content.stat_histories.get(key)
    new = content.reload()
    carried = carry(kept, new.library.stat_history)
    assert carried is not None and carried.note == "added in v2"  # type: ignore[attr-defined]
    assert carried.last_lines == kept.last_lines and carried.baseline == kept.baseline  # type: ignore[union-attr]
    content.render("proc/stat", CHILD)
    assert type(content.stat_histories.get(key)) is new.library.stat_history


def test_a_version_with_another_set_of_files_is_refused(private_library: Path) -> None:
    """The set of files is part of the mount: a version that drops one fails the reload,
    naming it, and the old generation serves."""
    files = private_library / "lxcfs_model" / "files.py"
    files.write_text(
        files.read_text() + '\nFILES = tuple(s for s in FILES if s.path != "proc/swaps")\n'
    )
    content = _content()
    old = content.generation
    with pytest.raises(ReloadFailed, match=r"removed \['proc/swaps'\]"):
        content.reload()
    assert content.generation is old
