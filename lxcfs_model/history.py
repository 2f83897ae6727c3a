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
    """What /proc/stat remembers between reads of one container, so that counters never go
    backwards and the CPU view (--enable-cfs) accumulates like upstream's cpuview.

    ``last_lines``: the last rendered value of every cpu line, keyed by label (``"cpu"``,
    ``"cpu0"``...), ten counters each: the floor the next render may not go below.
    ``baseline``: host CPU number -> (user, system, idle) ticks seen at the previous render,
    for the CPU view's deltas. ``view``: visible CPU index -> (user, system, idle) ticks
    accumulated by the CPU view.
    """

    last_lines: tuple[tuple[str, tuple[int, ...]], ...] = ()
    baseline: tuple[tuple[int, tuple[int, int, int]], ...] = ()
    view: tuple[tuple[int, tuple[int, int, int]], ...] = ()


@attrs.frozen
class ContainerHistory:
    """All history of one container; any part may be absent (first read)."""

    stat: StatHistory | None = None
    loadavg: LoadavgState | None = None
