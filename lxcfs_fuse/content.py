"""What a caller reads: the model's rendering for the caller's container.

Rules:
1. All content comes from ``lxcfs_model``: this module resolves the caller (``callers``),
   reads its view and the host through the I/O layer (only the view fields and host texts
   the file's registry row names: ``FileSpec.view_parts``/``host_parts``), hands the model
   its history, renders, and keeps the history the model hands back. It formats nothing.
2. A caller that cannot be resolved (it exited mid-request, its cgroups vanished) is served
   an empty view: the renderers then fall back to the host's file (spec 3.12), as upstream
   does when /proc/<pid>/cgroup cannot be read.
3. /proc/stat history is keyed by the container's cpuset, cpu and cpuacct cgroup paths and
   updated under that key's lock (``state.KeyedStore``); load averages belong to the
   sampler, keyed by the cpu cgroup path.
4. Virtualization can be switched off and on (SIGUSR2, like lxcfs): while off every file is
   the host's file read as it is, without the model (the operator's escape hatch when a
   renderer misbehaves), and the sys cpu directory shows every host CPU. ``reload``
   (SIGUSR1) loads ``lxcfs_model`` afresh from disk (``lxcfs_fuse.reload``): the new
   generation - library, reader, caller resolver, options - is swapped in by one assignment
   to ``generation``; a request uses the generation it fetched first to its end. Stat
   histories, load averages, the caller cache, the options and the virtualization switch
   carry over (upstream loses the first three and switches virtualization on); a reload
   that fails leaves everything as it was.
5. The sys cpu directory map (container ``cpuK`` -> host ``cpuH``) is what every lookup
   below /sys/devices/system/cpu needs; it is remembered per container for
   ``CPU_MAP_SECONDS``, the kernel's own entry/attr timeout, so nothing is staler than the
   kernel's dentry cache already makes it.
6. Every request resolves its caller and reads its cgroups under a deadline
   (``lxcfs_fuse.deadline``, ``REQUEST_DEADLINE_SECONDS``): a cgroup read that stalls gets
   the empty view, i.e. the host's files (spec 3.12), and one log line. A request whose
   caller (100 ms) and view fields (10 ms) are all still shared reads nothing and skips the
   deadline's thread hand-off; so does one that needs only kernel files (procfs, sysfs,
   cgroupfs: made from memory, they cannot stall), which is read on the request's own
   thread with the GIL held (``lxcfs_model.io.kernel_files``). Only a request that meets
   any other file (a fixture tree, a cgroupfs served by another FUSE daemon in a nested
   container) is handed to a deadline worker. Problems the reader
   reports (a malformed or unreadable cgroup file) are logged too, each at most once a
   minute.
7. A stateless file's text (``FileSpec.stateless``: not uptime, stat or loadavg) is kept
   in ``memo.TextMemo`` with the very objects it was made from (the generation, the host
   snapshot, the view fields the file reads); a request that gets the same objects from
   the reader's 10 ms windows gets that text without rendering. No staler than the shared
   inputs already are. Two stateful files are kept too, each with what else its text
   depends on: /proc/uptime (reads no history) with its renderer module's
   ``text_clock(clock)``, the clock's whole centiseconds, compared by value; /proc/stat
   (reads no clock) with a history object: the one it was given when the render handed
   back a history ``interchangeable`` with it (nothing grew), else the one the render
   handed back, since a render is a fixed point (``lxcfs_model.render.stat`` rule 6: the
   same inputs with that history give the same text and an interchangeable history). The
   store then holds the history the text is kept with, so later reads of the window find
   it and get the text a render would give them, and the history as it would be: stat
   renders once per window of its inputs, not twice.
8. Reading ahead (``lxcfs_fuse.ahead``; ``ahead`` set by the daemon's serving process,
   only when ``LXCFS_FUSE_READ_AHEAD=1``):
   every render tells ``ahead`` which caller read which file; ``ahead_step`` finds one
   due pair (an ``AheadStep``), which the daemon takes, rendering it looking ahead to its
   next read (``CachingReader.looking_ahead`` and the caller resolver's), so the values
   about to expire are read now and that read finds them shared, and the text kept (rule
   7), or gives back when a request comes first. A render ahead is an ordinary render in
   every other way (a /proc/stat render ahead advances its history as the reader's own
   would). It never waits: one that needs a file other than a kernel file, or fails, is
   given up and logged at debug level, and the reader's own read does what it did before.
9. A caller's last text of a stateless, clock-kept or /proc/stat file (rule 7) is kept
   for that caller pid until the first value it was made from expires: the view fields
   and host snapshot as the reader served them (``CachingReader.measuring``) and the
   caller's recent answer (``callers`` rule 5), with the caller's /proc/<pid> inode and
   the clock moment the text depends on; and no longer than the memo's renewal time, so
   the memo entry of a text whose inputs all last 100 ms (cpuinfo's) is found often
   enough to stay. The caller's next read within that time gets it after one stat (the
   same process?) and, for uptime, one clock read (the same centisecond?): exactly what a
   render would give, since the render would be given the same shared values and find
   this text in the memo (rule 7), for about a tenth of the cost. For uptime in a new
   centisecond, the kept view and host snapshot (the very objects a render would be
   given) are rendered with the new clock, skipping the rest. A /proc/stat text is kept
   with the history object the store held after it (rule 7) and served only while the
   store still holds that very object: its inputs and that history give that text,
   whatever the clock (tests/properties/test_kept_texts.py), and any render that moved
   the history on (another process of the container, a render ahead) replaced the
   object. Nothing is kept when the view was read on a deadline worker (not measured).
   Bounded: ``KEPT_TEXTS`` entries; the expired are dropped whenever the table has
   doubled since the last drop (at least ``KEPT_TEXTS_FLOOR``) and at every prune, so it
   holds about the callers of the last few milliseconds, not every container read since
   the last prune (a burst of a thousand containers otherwise left its memory fragmented
   after they were gone).
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from typing import Any

import attrs

from lxcfs_fuse.ahead import Due, ReadAhead
from lxcfs_fuse.callers import RECENT_SECONDS, CallerResolver
from lxcfs_fuse.deadline import Deadline, DeadlineExceeded, LogOncePer, MustDefer
from lxcfs_fuse.loadavg import LoadavgSampler
from lxcfs_fuse.memo import TextMemo
from lxcfs_fuse.reload import (
    Library,
    ReloadFailed,
    activate,
    carry,
    load_library,
    smoke_render,
)
from lxcfs_fuse.state import KeyedStore
from lxcfs_model.history import LoadavgState, StatHistory
from lxcfs_model.io import Container, SystemReader
from lxcfs_model.io.cached import Measured
from lxcfs_model.rendering import Rendered, RenderInputs
from lxcfs_model.values import CgroupView, Clock, HostSnapshot, RenderOptions

__all__ = ["AheadStep", "ContainerContent", "Generation", "StatKey"]

# What the cpu directory map reads is what the sys cpu files read.
_CPU_ONLINE = "sys/devices/system/cpu/online"

_HISTORY_MODULE = "lxcfs_model.history"


@attrs.frozen
class _Reads:
    """What a file renders from (its registry row): the view fields and host texts, so only
    those are read (None: read everything, for a file or library generation that does not
    say), and whether it is stateless (rule 7)."""

    view_parts: Collection[str] | None
    host_parts: Collection[str] | None
    stateless: bool
    #: The view's objects a kept text is made from, in one fixed order (rule 7).
    memo_fields: tuple[str, ...] = ()
    #: What of the clock the text depends on, for the files of ``_CLOCK_KEPT`` (rule 7).
    text_clock: Callable[[Clock], Hashable] | None = None
    #: Whether it is rendered from a /proc/stat history (``_STAT_FILES``; rules 7, 9).
    stat: bool = False


def _reads_of(library: Library) -> dict[str, _Reads]:
    return {
        spec.path: _Reads(
            getattr(spec, "view_parts", None),
            getattr(spec, "host_parts", None),
            bool(getattr(spec, "stateless", False)),
            tuple(sorted({part.split(".", 1)[0] for part in getattr(spec, "view_parts", ())})),
            _text_clock(library, spec) if spec.path in _CLOCK_KEPT else None,
            spec.path in _STAT_FILES,
        )
        for spec in library.files
    }


def _text_clock(library: Library, spec: object) -> Callable[[Clock], Hashable] | None:
    """The ``text_clock`` of the module that renders ``spec`` in this generation; None (the
    file is rendered on every read) for a generation without one."""
    renderer = getattr(spec, "renderer", None)
    module = library.modules.get(getattr(renderer, "__module__", None) or "")
    text_clock = getattr(module, "text_clock", None)
    return text_clock if callable(text_clock) else None


_READ_EVERYTHING = _Reads(None, None, False)


def _host_snapshot(reader: SystemReader, parts: Collection[str] | None) -> HostSnapshot:
    return reader.host_snapshot() if parts is None else reader.host_snapshot(parts)


log = logging.getLogger("lxcfs_fuse")

CPU_MAP_SECONDS = 0.5

#: How long a request may spend resolving its caller and reading its cgroups before it is
#: answered with the host's files (rule 6). Reads normally take milliseconds; this is far
#: above what a loaded node needs, and far below "forever".
REQUEST_DEADLINE_SECONDS = 5.0

#: Files whose renderer advances ``ContainerHistory.stat`` (rule 3).
_STAT_FILES = frozenset({"proc/stat"})

#: Files that read no history and the clock only through their module's ``text_clock``
#: (rule 7; tests/properties/test_kept_texts.py proves it).
_CLOCK_KEPT = frozenset({"proc/uptime"})

StatKey = tuple[str | None, str | None, str | None]

#: Texts kept per caller at most (rule 9); each lives a few milliseconds.
KEPT_TEXTS = 4096
#: The table size at which expired kept texts are first dropped (rule 9).
KEPT_TEXTS_FLOOR = 64


@attrs.frozen
class _KeptText:
    """A caller's last text of a file (rule 9)."""

    until: float  # the reader's clock: when the first value it was made from expires
    identity: int  # the caller's /proc/<pid> inode
    generation: Generation
    moment: tuple[Hashable] | None  # the clock's part it depends on (rule 7), if any
    text: str
    #: What a clock-kept text was rendered from, to render the next moment's (rule 9).
    view: CgroupView | None = None
    host: HostSnapshot | None = None
    #: A /proc/stat text's history key and the very history it was kept with (rule 9).
    stat: tuple[StatKey, object] | None = None


def _with_history(made: tuple[str, StatHistory | None]) -> tuple[tuple[str, object], Any]:
    """``_kept_stat``'s (text, history) as ``KeyedStore.update`` takes it: the history is
    stored, and both are handed back, so the text is kept with that very history (rule 9)."""
    return made, made[1]


@contextlib.contextmanager
def _both(
    first: contextlib.AbstractContextManager[Any], second: contextlib.AbstractContextManager[Any]
) -> Iterator[None]:
    with first, second:
        yield


def _carried(
    generation: Generation, read: Callable[[], CgroupView]
) -> tuple[Callable[[], CgroupView], Callable[[], None]]:
    """``read`` for a deadline worker, with this thread's look-ahead (reader's and
    resolver's) and measuring (rules 8-9), and what to call here once it returned."""
    carried = getattr(generation.reader, "carried", None)
    task, done = carried(read) if carried is not None else (read, lambda: None)
    ahead = getattr(generation.callers, "ahead_seconds", lambda: 0.0)()
    if not ahead:
        return task, done
    inner = task

    def looking_ahead() -> CgroupView:
        with generation.callers.looking_ahead(ahead):
            return inner()

    return looking_ahead, done


def _describe(view: CgroupView) -> str:
    """The cgroups a view was read from, for -d traces (``host`` for the empty view)."""
    paths = [
        f"{name}:{part.path}"
        for name, part in (("memory", view.memory), ("cpuset", view.cpuset), ("cpu", view.cpu))
        if part is not None
    ]
    return ",".join(paths) or "host"


def _stat_key(view: CgroupView) -> StatKey:
    return (
        view.cpuset.path if view.cpuset is not None else None,
        view.cpu.path if view.cpu is not None else None,
        view.cpu_usage.path if view.cpu_usage is not None else None,
    )


@attrs.frozen
class Generation:
    """Everything a request takes from one library generation (rule 4): the library, its
    reader, the caller resolver over that reader, the options as that library's value."""

    library: Library
    reader: SystemReader
    callers: CallerResolver
    options: RenderOptions
    reads: Mapping[str, _Reads]
    #: ``lxcfs_model.history.interchangeable`` of this library (rule 7); a generation
    #: without it keeps no /proc/stat text.
    interchangeable: Callable[[object, object], bool] = operator.is_

    @classmethod
    def start(cls, library: Library, reader: SystemReader, options: RenderOptions) -> Generation:
        callers = CallerResolver(reader, recent_seconds=RECENT_SECONDS, errors=library.model_error)
        history = library.modules.get(_HISTORY_MODULE)
        interchangeable = getattr(history, "interchangeable", None)
        if not callable(interchangeable):
            interchangeable = operator.is_
        return cls(library, reader, callers, options, _reads_of(library), interchangeable)


class AheadStep:
    """One step of reading ahead (rule 8) found by ``ContainerContent.ahead_step``: the
    daemon takes it (renders the pair looking ahead) or gives it back (a request came
    first), which leaves the pair free to come due again."""

    __slots__ = ("_ahead", "_content", "_context", "_due")

    def __init__(
        self,
        content: ContainerContent,
        ahead: ReadAhead,
        due: Due,
        context: Callable[[], contextlib.AbstractContextManager[Any]],
    ) -> None:
        self._content = content
        self._ahead = ahead
        self._due = due
        self._context = context

    def take(self) -> None:
        """Render the pair ahead. (A /proc/stat render ahead keeps its text for the history
        it hands back, rule 7: its reader's read finds it.) Never raises."""
        started = time.perf_counter()
        self._content._render_ahead(self._due.path, self._due.pid, self._context)
        took = time.perf_counter() - started
        self._ahead.took(took)
        if log.isEnabledFor(logging.DEBUG):  # -d: what was read ahead (docs/fuse.md)
            log.debug(
                "read %s ahead for pid %d in %.0f us", self._due.path, self._due.pid, took * 1e6
            )

    def give_back(self) -> None:
        self._ahead.give_back(self._due)


class ContainerContent:
    """Renders files for callers (rules 1-4) and maps their sys cpu directories (rule 5)."""

    def __init__(
        self,
        reader: SystemReader,
        options: RenderOptions,
        *,
        sampler: LoadavgSampler | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        request_deadline: float = REQUEST_DEADLINE_SECONDS,
    ) -> None:
        self.generation = Generation.start(Library.current(), reader, options)
        self.deadline = Deadline(request_deadline)
        self.problem_log = LogOncePer(log)
        self.virtualize = True
        self.sampler = sampler
        self.stat_histories: KeyedStore[StatKey, StatHistory] = KeyedStore()
        self._monotonic = monotonic
        self._cpu_maps: dict[Hashable, tuple[float, Mapping[str, str]]] = {}
        self._cpu_maps_lock = threading.Lock()
        self.texts = TextMemo()
        # Reading ahead (rule 8): None until the daemon's serving process turns it on.
        self.ahead: ReadAhead | None = None
        self._reading_ahead = False
        # (path, caller pid) -> its last text while what it was made from is current (rule 9)
        self._kept_texts: dict[tuple[str, int], _KeptText] = {}
        self._kept_texts_lock = threading.Lock()
        self._kept_texts_limit = KEPT_TEXTS_FLOOR  # the size that drops the expired

    @property
    def library(self) -> Library:
        """The library generation serving now."""
        return self.generation.library

    @property
    def reader(self) -> SystemReader:
        return self.generation.reader

    @property
    def callers(self) -> CallerResolver:
        return self.generation.callers

    @property
    def options(self) -> RenderOptions:
        return self.generation.options

    # ------------------------------------------------------------------------ callers

    def container(self, pid: int, generation: Generation | None = None) -> Container | None:
        """The caller's container, or None when it cannot be resolved (rule 2)."""
        generation = generation or self.generation
        if pid <= 0 or not self.virtualize:
            return None  # a request the kernel makes on its own behalf, or rule 4
        try:
            return generation.callers.resolve(pid)
        except generation.library.model_error as error:
            log.debug("caller %d not resolved (%s): host view", pid, error)
            return None

    def view(
        self,
        container: Container | None,
        generation: Generation | None = None,
        parts: Collection[str] | None = None,
    ) -> CgroupView:
        """The container's cgroup values (only the fields in ``parts``, when given); an
        empty view (host files) if it vanished."""
        generation = generation or self.generation
        if container is None:
            return generation.library.cgroup_view()
        try:
            if parts is None:
                return generation.reader.view_for_container(container)
            return generation.reader.view_for_container(container, parts)
        except generation.library.vanished as error:
            log.debug("container of %d vanished (%s): host view", container.caller_pid, error)
            return generation.library.cgroup_view()

    # ------------------------------------------------------------------------- render

    def render(self, path: str, pid: int) -> str:
        """The text of the registry file ``path`` (``proc/meminfo``) as ``pid`` reads it."""
        generation = self.generation  # once: this request's code to its end (rule 4)
        if not self.virtualize:
            return self._host_text(generation, path)
        if self.ahead is not None and not self._reading_ahead:
            self.ahead.read(path, pid)
        reads = generation.reads.get(path, _READ_EVERYTHING)
        if not self._reading_ahead:
            kept = self._kept_texts.get((path, pid))
            if kept is not None and (text := self._still_kept(path, pid, kept, generation, reads)):
                return text
        view_parts = reads.view_parts
        with self._measuring(reads, generation) as measured:
            recent = self._recent(pid, generation, view_parts)
            view = self._view_without_reading(recent, generation, view_parts) or self._bounded_view(
                pid,
                generation,
                # The recent answer is what resolving would give now: not looked up twice.
                (lambda: recent) if recent is not None else lambda: self.container(pid, generation),
                view_parts,
            )
            host = _host_snapshot(generation.reader, reads.host_parts)
        if view_parts is None:
            return self._render(path, pid, generation, view, host)
        # rule 7: the same objects as a request of the last few ms made this text from
        made_from = [generation, host, *(getattr(view, name) for name in reads.memo_fields)]
        if path in _STAT_FILES:
            key = _stat_key(view)
            text, history = self.stat_histories.update(
                key,
                lambda previous: _with_history(
                    self._kept_stat(path, generation, view, host, made_from, previous)
                ),
            )
            self._keep(path, pid, measured, generation, None, text, stat=(key, history))
            return text
        if reads.stateless:
            text = self.texts.get(path, made_from)
            if text is None:
                text = self._render(path, pid, generation, view, host)
                self.texts.put(path, made_from, text)
            self._keep(path, pid, measured, generation, None, text)
            return text
        if reads.text_clock is not None:
            clock = generation.reader.clock()
            moment = reads.text_clock(clock)
            text = self.texts.get(path, made_from, moment)
            if text is None:
                text = self._render(path, pid, generation, view, host, clock)
                self.texts.put(path, made_from, text, moment)
            self._keep(path, pid, measured, generation, (moment,), text, view, host)
            return text
        return self._render(path, pid, generation, view, host)

    @staticmethod
    def _measuring(
        reads: _Reads, generation: Generation
    ) -> contextlib.AbstractContextManager[Measured | None]:
        """Rule 9: the reader's ``measuring`` around what a text of a stateless or
        clock-kept file is made from; a null context for other files and readers."""
        measuring = getattr(generation.reader, "measuring", None)
        if measuring is None or reads.view_parts is None:
            return contextlib.nullcontext()
        if not (reads.stateless or reads.text_clock is not None or reads.stat):
            return contextlib.nullcontext()
        context: contextlib.AbstractContextManager[Measured] = measuring()
        return context

    def _keep(
        self,
        path: str,
        pid: int,
        measured: Measured | None,
        generation: Generation,
        moment: tuple[Hashable] | None,
        text: str,
        view: CgroupView | None = None,
        host: HostSnapshot | None = None,
        *,
        stat: tuple[StatKey, object] | None = None,
    ) -> None:
        """Keep ``text`` for ``pid`` (rule 9) until the first value it was made from, or
        the caller's recent answer, expires, or the memo's renewal time passes; nothing if
        the view was read on another thread (unmeasured) or the caller has no recent
        answer."""
        if measured is None or measured.views == 0:
            return
        identity = generation.callers.recent_identity(pid)
        if identity is None:
            return
        reader: Any = generation.reader  # a CachingReader: only its measuring measures
        # Not past the memo's renewal either: a text whose inputs all last long (cpuinfo's,
        # 100 ms) is then looked up there often enough to stay, and found, not made again.
        until = min(
            measured.until,
            generation.callers.fresh_until(pid),
            reader.monotonic() + self.texts.renewal_seconds,
        )
        if len(self._kept_texts) >= self._kept_texts_limit:
            self._drop_kept_texts()
        self._kept_texts[(path, pid)] = _KeptText(
            until, identity, generation, moment, text, view, host, stat
        )

    def _still_kept(
        self, path: str, pid: int, kept: _KeptText, generation: Generation, reads: _Reads
    ) -> str | None:
        """Rule 9: the kept text if all it was made from is still current for this very
        process; a clock-kept file's text for a new moment rendered from the kept view and
        host snapshot (what the render would use); None otherwise."""
        reader: Any = generation.reader  # a CachingReader: only its measuring makes entries
        if kept.generation is not generation or reader.monotonic() >= kept.until:
            return None
        try:
            if reader.process_identity(pid) != kept.identity:
                return None
        except generation.library.model_error:
            return None
        if kept.stat is not None and self.stat_histories.current(kept.stat[0]) is not kept.stat[1]:
            return None  # another render moved its history on: this text may be behind it
        if kept.moment is None:
            return kept.text
        if reads.text_clock is None or kept.view is None or kept.host is None:
            return None
        clock = reader.clock()
        moment = (reads.text_clock(clock),)
        if moment == kept.moment:
            return kept.text
        text = self._render(path, pid, generation, kept.view, kept.host, clock)
        self._kept_texts[(path, pid)] = attrs.evolve(kept, moment=moment, text=text)
        return text

    def _drop_kept_texts(self) -> None:
        """Drop the kept texts whose values have expired; the oldest too beyond
        ``KEPT_TEXTS`` (rule 9)."""
        monotonic = getattr(self.reader, "monotonic", None)
        if monotonic is None:
            return
        with self._kept_texts_lock:
            now = monotonic()
            entries = list(self._kept_texts.items())
            alive = [(key, kept) for key, kept in entries if kept.until > now]
            self._kept_texts = dict(alive[-KEPT_TEXTS // 2 :])
            self._kept_texts_limit = min(
                KEPT_TEXTS, max(KEPT_TEXTS_FLOOR, 2 * len(self._kept_texts))
            )

    def _render(
        self,
        path: str,
        pid: int,
        generation: Generation,
        view: CgroupView,
        host: HostSnapshot,
        clock: Clock | None = None,
    ) -> str:
        library = generation.library
        inputs = self._inputs(generation, view, host, clock)
        if path in _STAT_FILES:
            return self.stat_histories.update(
                _stat_key(view),
                lambda previous: self._render_stat(path, inputs, previous, library),
            )
        rendered = library.render(path, inputs)
        self._keep_loadavg(view, rendered)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "render %s pid=%d container=%s%s",
                path,
                pid,
                _describe(view),
                f" fallback: {rendered.fallback}" if rendered.fallback else "",
            )
        return rendered.text

    @staticmethod
    def _recent(
        pid: int, generation: Generation, parts: Collection[str] | None
    ) -> Container | None:
        """The caller's recent resolution (callers rule 5) where a view may be served
        without reading (``_view_without_reading``); None otherwise."""
        if parts is None or getattr(generation.reader, "cached_view", None) is None:
            return None
        return generation.callers.recent(pid)

    @staticmethod
    def _view_without_reading(
        container: Container | None, generation: Generation, parts: Collection[str] | None
    ) -> CgroupView | None:
        """The view when the caller's resolution (``_recent``) and every field it needs are
        still shared from a recent request (CachingReader): nothing is read, so nothing can
        stall and no deadline worker is needed (rule 6). None otherwise."""
        if container is None or parts is None:
            return None
        view: CgroupView | None = generation.reader.cached_view(container, parts)  # type: ignore[attr-defined]
        return view

    def _bounded_view(
        self,
        pid: int,
        generation: Generation,
        find: Callable[[], Container | None],
        parts: Collection[str] | None = None,
    ) -> CgroupView:
        """The view of the container ``find`` names, read within the deadline (rule 6):
        on this thread when every file it needs is a kernel file, else on a worker."""
        read = lambda: self.view(find(), generation, parts)  # noqa: E731
        view = self._view_of_kernel_files(generation, read)
        if view is None:
            task, done = _carried(generation, read)
            try:
                view = self.deadline.call(task)
            except DeadlineExceeded as error:
                self.problem_log.warning(
                    f"reading the cgroups of pid {pid}'s container stalled ({error}); "
                    "serving the host's files"
                )
                return generation.library.cgroup_view()
            done()
        if view.problems:
            self.problem_log.warning(
                "files fall back to the host's (spec 3.12): " + "; ".join(view.problems)
            )
        return view

    @staticmethod
    def _view_of_kernel_files(
        generation: Generation, read: Callable[[], CgroupView]
    ) -> CgroupView | None:
        """``read()`` on this thread if it reads only kernel files (rule 6: those cannot
        stall, and they are read without giving the GIL away,
        ``lxcfs_model.io.kernel_files``); None as soon as it needs any other file."""
        only_kernel_files = getattr(generation.reader, "only_kernel_files", None)
        if only_kernel_files is None:
            return None  # a library generation without kernel_files
        try:
            with only_kernel_files():
                return read()
        except generation.reader.WouldBlock:
            return None

    @staticmethod
    def _host_text(generation: Generation, path: str) -> str:
        """The host's own file, unchanged (rule 4); empty when the host has none."""
        try:
            with open(generation.reader.path(path), "rb") as host_file:
                return host_file.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _inputs(
        self, generation: Generation, view: CgroupView, host: HostSnapshot, clock: Clock | None
    ) -> RenderInputs:
        library = generation.library
        return library.render_inputs(
            view=view,
            host=host,
            options=generation.options,
            clock=generation.reader.clock() if clock is None else clock,
            history=library.container_history(loadavg=self._loadavg_state(view, library)),
        )

    def _render_stat(
        self, path: str, inputs: RenderInputs, previous: StatHistory | None, library: Library
    ) -> tuple[str, StatHistory | None]:
        history = library.container_history(stat=carry(previous, library.stat_history))
        rendered = library.render(path, attrs.evolve(inputs, history=history))
        return rendered.text, rendered.history.stat

    def _kept_stat(
        self,
        path: str,
        generation: Generation,
        view: CgroupView,
        host: HostSnapshot,
        made_from: list[object],
        previous: StatHistory | None,
    ) -> tuple[str, StatHistory | None]:
        """/proc/stat from ``previous`` (under its key's lock, rule 3): the kept text when
        these very inputs and this very history made it, else a render (rule 7)."""
        library = generation.library
        given = carry(previous, library.stat_history)
        kept_from = [*made_from, given]
        text = self.texts.get(path, kept_from)
        if text is not None:
            return text, given
        inputs = self._inputs(generation, view, host, None)
        history = library.container_history(stat=given)
        rendered = library.render(path, attrs.evolve(inputs, history=history))
        after = rendered.history.stat
        if generation.interchangeable(after, given):
            # Nothing grew: the same inputs and this history give this text again.
            self.texts.put(path, kept_from, rendered.text)
            return rendered.text, given
        if after is not None:
            # A render is a fixed point (lxcfs_model.render.stat rule 6): these inputs with
            # the history it hands back give this text again, and a history interchangeable
            # with it. So the window's next read finds the text without that second render.
            self.texts.put(path, [*made_from, after], rendered.text)
        return rendered.text, after

    # -------------------------------------------------------------------- reading ahead

    def read_ahead(self) -> bool:
        """One step of reading ahead (rule 8), found and taken at once; whether there was
        one."""
        step = self.ahead_step()
        if step is None:
            return False
        step.take()
        return True

    def ahead_step(self) -> AheadStep | None:
        """The next step of reading ahead (rule 8), not yet taken: the pair read next, if
        it is due. Reads nothing, so the daemon asks before deciding whether to wait for
        a quiet moment (``lxcfs_fuse.ahead`` rule 3)."""
        ahead = self.ahead
        if ahead is None:
            return None  # off (the default): asked after every read, so asked cheaply
        generation = self.generation
        looking = getattr(generation.reader, "looking_ahead", None)
        resolving = getattr(generation.callers, "looking_ahead", None)
        if not self.virtualize or looking is None or resolving is None:
            return None
        due = ahead.due(self._fresh_until)
        if due is None:
            return None
        return AheadStep(self, ahead, due, lambda: _both(looking(due.lead), resolving(due.lead)))

    def _render_ahead(
        self, path: str, pid: int, context: Callable[[], contextlib.AbstractContextManager[Any]]
    ) -> None:
        """Render ``path`` for ``pid`` within ``context``, as a render ahead (rule 8)."""
        self._reading_ahead = True
        try:
            with context():
                self.render(path, pid)
        except (Exception, MustDefer) as error:
            # MustDefer: a file other than a kernel file; its reader pays for it, as before.
            log.debug("reading %s ahead for pid %d: %s", path, pid, error or "deferred")
        finally:
            self._reading_ahead = False

    def _fresh_until(self, path: str, pid: int) -> float:
        """When the first of what ``path`` renders from for ``pid`` expires: its caller's
        recent answer, view fields and host texts (0: one is not held). Reads nothing."""
        generation = self.generation
        reads = generation.reads.get(path)
        fresh_until = getattr(generation.reader, "fresh_until", None)
        if reads is None or reads.view_parts is None or fresh_until is None:
            return float("inf")  # cannot tell: never read ahead
        container = generation.callers.recent(pid)
        if container is None:
            return 0.0
        if reads.host_parts is None:
            values: float = fresh_until(container, reads.view_parts)
        else:
            values = fresh_until(container, reads.view_parts, reads.host_parts)
        return min(generation.callers.fresh_until(pid), values)

    def _loadavg_state(self, view: CgroupView, library: Library) -> LoadavgState | None:
        if self.sampler is None or view.cpu is None:
            return None
        return carry(self.sampler.state(view.cpu.path), library.loadavg_state)

    def _keep_loadavg(self, view: CgroupView, rendered: Rendered) -> None:
        state = rendered.history.loadavg
        if self.sampler is not None and view.cpu is not None and state is not None:
            self.sampler.register(view.cpu.path, state)

    # ----------------------------------------------------------------------- sys cpu

    def cpu_directory(self, pid: int) -> Mapping[str, str]:
        """Container ``cpuK`` -> host ``cpuH`` for the CPUs ``pid`` sees (rule 5)."""
        generation = self.generation
        container = self.container(pid, generation)
        key: Hashable = (
            None
            if container is None
            else (
                container.pid_namespace,
                container.target_pid,
                tuple(sorted(container.cgroup_paths.items())),
            )
        )
        now = self._monotonic()
        with self._cpu_maps_lock:
            cached = self._cpu_maps.get(key)
            if cached is not None and now - cached[0] < CPU_MAP_SECONDS:
                return cached[1]
        reads = generation.reads.get(_CPU_ONLINE, _READ_EVERYTHING)
        inputs = generation.library.render_inputs(
            view=self._bounded_view(pid, generation, lambda: container, reads.view_parts),
            host=_host_snapshot(generation.reader, reads.host_parts),
            options=generation.options,
            clock=generation.reader.clock(),
        )
        mapping = dict(generation.library.cpu_directory_map(inputs))
        with self._cpu_maps_lock:
            expired = [
                k for k, (made, _) in self._cpu_maps.items() if now - made >= CPU_MAP_SECONDS
            ]
            for stale in expired:
                del self._cpu_maps[stale]
            self._cpu_maps[key] = (now, mapping)
        return mapping

    # -------------------------------------------------------------------- housekeeping

    def toggle_virtualization(self) -> bool:
        """Switch virtualization off or on (rule 4); returns the new state."""
        self.virtualize = not self.virtualize
        with self._cpu_maps_lock:
            self._cpu_maps.clear()
        return self.virtualize

    def reload(self) -> Generation:
        """Load ``lxcfs_model`` from disk, check it and swap it in (rule 4, and
        ``lxcfs_fuse.reload``); returns the new generation. Raises ReloadFailed (one line)
        with the old generation still serving and nothing lost."""
        old = self.generation
        library = load_library(old.library.number + 1)
        options = carry(old.options, library.render_options)
        if options is None:
            raise ReloadFailed(f"the options {old.options!r} do not convert to the new version")
        try:
            reader = library.reader(old.reader)
        except Exception as error:
            raise ReloadFailed(f"cannot start the new reader: {error}") from error
        smoke_render(library, reader, options, old.library.paths())
        try:
            new = Generation.start(library, reader, options)
            new.callers.adopt(old.callers, lambda container: carry(container, library.container))
        except Exception as error:
            raise ReloadFailed(f"cannot start the new caller resolver: {error}") from error
        activate(library)
        self.generation = new  # the swap: one reference (rule 4)
        with self._cpu_maps_lock:
            self._cpu_maps.clear()
        return new

    def cpu_cgroup_directory(self, path: str) -> str | None:
        """Where the cpu cgroup ``path`` lives (the sampler's view of the current layout,
        so a reload's new layout is used at once); None without a cpu hierarchy."""
        hierarchy = self.reader.layout.hierarchy_for("cpu")
        if hierarchy is None:
            return None
        return self.reader.path(hierarchy.directory, path.lstrip("/"))

    def cgroup_exists(self, controller: str, path: str | None) -> bool:
        """Whether ``path`` still exists in ``controller``'s hierarchy (None: nothing to
        check, counts as existing)."""
        if path is None:
            return True
        hierarchy = self.reader.layout.hierarchy_for(controller)
        if hierarchy is None:
            return True
        return os.path.isdir(self.reader.path(hierarchy.directory, path.lstrip("/")))

    def prune(self) -> None:
        """Forget callers and histories of containers that are gone (called every few
        seconds by the housekeeping thread), and whatever the reader and the text memo
        still hold of expired requests (without new requests nothing else drops it)."""
        self.callers.prune()
        drop_expired = getattr(self.reader, "drop_expired", None)
        if drop_expired is not None:
            drop_expired()
        self.texts.drop_expired()
        self._drop_kept_texts()
        if self.ahead is not None:
            self.ahead.prune()
        self.stat_histories.prune(
            lambda key: (
                not (
                    self.cgroup_exists("cpuset", key[0])
                    and self.cgroup_exists("cpu", key[1])
                    and self.cgroup_exists("cpuacct", key[2])
                )
            )
        )
