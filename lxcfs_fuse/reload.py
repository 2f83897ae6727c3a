"""Live upgrade: load ``lxcfs_model`` afresh from disk as a new library generation, check it,
swap it in (SIGUSR1; docs/upgrade.md).

Rules:
1. Only the library is reloaded: ``lxcfs_model`` (renderers, values, the I/O layer). The
   adapter (``lxcfs_fuse``: the mount, handles, signal handling, the state it holds) is never
   reloaded, like upstream's small ``lxcfs`` binary that dlopens ``liblxcfs.so``.
2. A generation is a fresh, independent module tree: every ``lxcfs_model`` module is imported
   anew from what is on disk now. The current tree is lifted out of ``sys.modules`` while the
   global import lock is held, so no other thread imports into the half-built tree; the old
   tree is put back at once, whatever happened. ``activate`` installs the new tree in
   ``sys.modules`` only when the generation is swapped in.
3. Before the swap the new generation renders every file of its registry with the current
   host snapshot, for the host (the empty view) and for a sample view (the daemon's own
   cgroups, /proc/stat twice so history is handed back and in), and maps the sys cpu
   directory. Any exception, or a registry that is not the mounted one (the set of files is
   part of the mount), fails the reload: the old generation keeps serving.
4. The adapter reaches the library only through one ``Library`` value (the names it uses,
   resolved when the generation loads: a new version lacking one fails rule 3's check, not a
   request). A request fetches its generation once and keeps it to the end.
5. State crosses generations as plain data (``carry``): a record of an attrs class of another
   generation becomes the same-named class of this one, field by field by name. A field the
   new class dropped is dropped, a field it added takes its default; a record with a field
   that is not plain data, or that the new class cannot be built from (an added field without
   default), is reset: None, i.e. what a container's first read starts from. Never an
   exception.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any, TypeVar

import attrs

from lxcfs_model.files import FileSpec
from lxcfs_model.history import ContainerHistory, LoadavgState, StatHistory
from lxcfs_model.io import CgroupTree, Container, SystemReader
from lxcfs_model.render.loadavg import TaskCounts
from lxcfs_model.rendering import Rendered, RenderInputs
from lxcfs_model.values import CgroupView, RenderOptions

__all__ = [
    "PACKAGE",
    "Library",
    "ReloadFailed",
    "activate",
    "carry",
    "load_library",
    "smoke_render",
]

PACKAGE = "lxcfs_model"

#: The modules the adapter takes names from (rule 4); importing them pulls in the rest.
_MODULES = (
    PACKAGE,
    f"{PACKAGE}.errors",
    f"{PACKAGE}.files",
    f"{PACKAGE}.history",
    f"{PACKAGE}.io",
    f"{PACKAGE}.render.loadavg",
    f"{PACKAGE}.render.sys_cpu",
    f"{PACKAGE}.rendering",
    f"{PACKAGE}.values",
)

T = TypeVar("T")


class ReloadFailed(Exception):
    """The new library could not be loaded or failed its smoke render; the old one serves."""


@attrs.frozen
class Library:
    """One generation of ``lxcfs_model``: the names the adapter uses (rule 4). Types are
    annotated with the first generation's classes; later generations' are their namesakes."""

    number: int
    version: str
    location: str
    modules: Mapping[str, ModuleType] = attrs.field(repr=False)
    files: tuple[FileSpec, ...] = attrs.field(repr=False)
    render: Callable[[str, RenderInputs], Rendered] = attrs.field(repr=False)
    render_inputs: type[RenderInputs] = attrs.field(repr=False)
    container_history: type[ContainerHistory] = attrs.field(repr=False)
    stat_history: type[StatHistory] = attrs.field(repr=False)
    loadavg_state: type[LoadavgState] = attrs.field(repr=False)
    cgroup_view: type[CgroupView] = attrs.field(repr=False)
    render_options: type[RenderOptions] = attrs.field(repr=False)
    container: type[Container] = attrs.field(repr=False)
    readers: Mapping[str, type[SystemReader]] = attrs.field(repr=False)
    model_error: type[Exception] = attrs.field(repr=False)
    vanished: tuple[type[Exception], ...] = attrs.field(repr=False)
    cpu_directory_map: Callable[[RenderInputs], Mapping[str, str]] = attrs.field(repr=False)
    is_cpu_directory: Callable[[str], bool] = attrs.field(repr=False)
    sample_loadavg: Callable[[LoadavgState | None, int, int, int], LoadavgState] = attrs.field(
        repr=False
    )
    count_tasks: Callable[[Iterable[tuple[int, str]]], TaskCounts] = attrs.field(repr=False)
    # The cgroupfs tree (--enable-cgroup); None for a generation that has none.
    cgroup_tree: type[CgroupTree] | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_modules(cls, number: int, modules: Mapping[str, ModuleType]) -> Library:
        """The names of rule 4 out of one module tree (AttributeError/KeyError if missing)."""

        def module(name: str) -> Any:
            return modules[f"{PACKAGE}.{name}" if name else PACKAGE]

        io = module("io")
        errors = module("errors")
        return cls(
            number=number,
            version=str(getattr(module(""), "__version__", "unknown")),
            location=os.path.dirname(str(module("").__file__)),
            modules=dict(modules),
            files=tuple(module("files").FILES),
            render=module("files").render,
            render_inputs=module("rendering").RenderInputs,
            container_history=module("history").ContainerHistory,
            stat_history=module("history").StatHistory,
            loadavg_state=module("history").LoadavgState,
            cgroup_view=module("values").CgroupView,
            render_options=module("values").RenderOptions,
            container=io.Container,
            readers={"SystemReader": io.SystemReader, "CachingReader": io.CachingReader},
            model_error=errors.LxcfsModelError,
            vanished=(errors.NoSuchCgroup, errors.NoSuchProcess),
            cpu_directory_map=module("render.sys_cpu").cpu_directory_map,
            is_cpu_directory=module("render.sys_cpu").is_cpu_directory,
            sample_loadavg=module("render.loadavg").sample,
            count_tasks=module("render.loadavg").count_tasks,
            cgroup_tree=getattr(io, "CgroupTree", None),
        )

    @classmethod
    def current(cls) -> Library:
        """Generation 0: the tree this process imported at start."""
        for name in _MODULES:
            importlib.import_module(name)
        return cls.from_modules(0, _package_modules())

    def reader(self, like: SystemReader) -> SystemReader:
        """A fresh reader of this generation, of the kind of ``like`` and on its root."""
        kind = self.readers.get(type(like).__name__, self.readers["CachingReader"])
        return kind(like.root)

    def paths(self) -> frozenset[str]:
        """The mount paths this generation renders."""
        return frozenset(spec.path for spec in self.files)


def _package_modules() -> dict[str, ModuleType]:
    return {
        name: module
        for name, module in list(sys.modules.items())
        if name == PACKAGE or name.startswith(PACKAGE + ".")
    }


@contextlib.contextmanager
def _import_lock() -> Iterator[None]:
    """The interpreter's global import lock (recursive): other threads' imports wait."""
    import _imp  # the lock every import takes; no public API holds it

    _imp.acquire_lock()
    try:
        yield
    finally:
        _imp.release_lock()


def load_library(number: int) -> Library:
    """A fresh ``lxcfs_model`` tree from disk (rule 2); ``sys.modules`` is left as it was.
    Raises ReloadFailed (one line) on any import error."""
    with _import_lock():
        previous = _package_modules()
        for name in previous:
            del sys.modules[name]
        importlib.invalidate_caches()  # see files installed since start
        try:
            for name in _MODULES:
                importlib.import_module(name)
            library = Library.from_modules(number, _package_modules())
        except BaseException as error:
            raise ReloadFailed(f"cannot import the new {PACKAGE}: {_one_line(error)}") from error
        finally:
            for name in _package_modules():
                del sys.modules[name]
            sys.modules.update(previous)
    return library


def activate(library: Library) -> None:
    """Make ``library``'s tree the one ``import lxcfs_model...`` finds from now on (rule 2)."""
    with _import_lock():
        for name in _package_modules():
            del sys.modules[name]
        sys.modules.update(library.modules)


def smoke_render(
    library: Library, reader: SystemReader, options: RenderOptions, mounted: frozenset[str]
) -> None:
    """Rule 3: render everything once with the new generation; ReloadFailed if anything fails."""
    if library.paths() != mounted:
        added = sorted(library.paths() - mounted)
        removed = sorted(mounted - library.paths())
        raise ReloadFailed(
            f"the new {PACKAGE} renders another set of files (added {added}, removed "
            f"{removed}): the set of files is part of the mount, restart to change it"
        )
    try:
        host = reader.host_snapshot()
        clock = reader.clock()
        views: list[tuple[str, CgroupView]] = [("host", library.cgroup_view())]
        try:
            own = reader.resolve_pid(os.getpid())
            views.append((f"pid {os.getpid()}", reader.view_for_container(own)))
        except library.model_error:
            pass  # no cgroups of our own to sample: the host view still renders everything
        for name, view in views:
            inputs = library.render_inputs(view=view, host=host, options=options, clock=clock)
            for spec in library.files:
                _expect_text(spec.path, name, library.render(spec.path, inputs))
            history = library.render("proc/stat", inputs).history
            again = attrs.evolve(inputs, history=history)
            _expect_text("proc/stat", name + ", with history", library.render("proc/stat", again))
            dict(library.cpu_directory_map(inputs))
    except ReloadFailed:
        raise
    except BaseException as error:
        raise ReloadFailed(f"smoke render failed: {_one_line(error)}") from error


def _expect_text(path: str, view: str, rendered: Rendered) -> None:
    if not isinstance(rendered.text, str):
        raise ReloadFailed(f"smoke render of {path} ({view}) returned {type(rendered.text)}")


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


# ----------------------------------------------------------------------------- carry-over

_PLAIN_SCALARS = (int, float, str, bytes, bool, type(None))


def _plain(value: object) -> bool:
    """Whether ``value`` is plain data: scalars, and tuples, lists, sets, mappings of them."""
    if isinstance(value, _PLAIN_SCALARS):
        return True
    if isinstance(value, tuple | list | frozenset | set):
        return all(_plain(item) for item in value)
    if isinstance(value, Mapping):
        return all(_plain(key) and _plain(item) for key, item in value.items())
    return False


def carry(value: object, target: type[T]) -> T | None:
    """``value`` as a ``target`` (rule 5): itself if it already is one, else converted field
    by field by name, else None (reset)."""
    if value is None or type(value) is target:
        return value
    source: Any = type(value)
    kind: Any = target
    build: Callable[..., T] = target
    if not attrs.has(source) or not attrs.has(kind):
        return None
    try:
        old = {field.name: getattr(value, field.name) for field in attrs.fields(source)}
        if not all(_plain(item) for item in old.values()):
            return None
        arguments = {
            field.alias: old[field.name]
            for field in attrs.fields(kind)
            if field.init and field.name in old
        }
        return build(**arguments)
    except Exception:  # a constructor or validator of the new version refused: reset
        return None
