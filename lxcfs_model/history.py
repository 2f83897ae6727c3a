"""State that outlives one render: per-container history, held by the caller, passed in and out.

Rules:
1. Renderers keep no state of their own. What must persist between reads (the /proc/stat CPU
   view's accumulators, load averages) is a frozen value here; a render takes the previous
   value and returns the next one in ``Rendered.history``.
2. Everything here is plain data (ints, tuples), so the FUSE daemon can keep it across a
   live reload and a snapshot can save it as JSON.
3. A history value belongs to one container (the daemon keys it by the container's cgroup
   path); a history that does not fit the current view (CPU count changed, counters went
   backwards because the cgroup was recreated) is reset by the renderer, never trusted.
"""

from __future__ import annotations

import attrs

__all__ = ["ContainerHistory", "LoadavgState", "StatHistory"]


@attrs.frozen
class LoadavgState:
    """The kernel's fixed-point load averages (FSHIFT 11) for one container, and the task
    counts of the last sample (``running`` R+D tasks, ``total`` tasks, ``last_pid`` the highest
    host pid seen)."""

    avenrun: tuple[int, int, int] = (0, 0, 0)
    running: int = 0
    total: int = 1
    last_pid: int = 0


@attrs.frozen
class StatHistory:
    """What /proc/stat remembers between reads of one container (``render.stat`` owns the
    rules), so that its counters never go backwards and grow by what happened in between.

    ``last_lines``: the rendered ``cpuN`` lines of the last read, ``(label, ten counters)``
    for ``cpu0`` .. ``cpu<k-1>``: the floor the next read adds to. ``baseline``: for each of
    those lines, in the same order, ``(host CPU shown there, that host CPU's ten /proc/stat
    counters at the last read)``. ``view``: the container's ``(user, system)`` ticks on each
    shown host CPU at the last read, ``(host CPU, (user, system))`` in the same order
    (cgroup v1 only; empty otherwise). ``usage_total``: the container's ``(user, system)``
    ticks over all CPUs at the last read, or empty when no usage was known.
    """

    last_lines: tuple[tuple[str, tuple[int, ...]], ...] = ()
    baseline: tuple[tuple[int, tuple[int, ...]], ...] = ()
    view: tuple[tuple[int, tuple[int, ...]], ...] = ()
    usage_total: tuple[int, ...] = ()


@attrs.frozen
class ContainerHistory:
    """All history of one container; any part may be absent (first read)."""

    stat: StatHistory | None = None
    loadavg: LoadavgState | None = None
