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
4. Two values that are ``interchangeable`` (equal, and plain the same way) cannot be told
   apart by any renderer, so a holder may keep either one (the daemon keeps the older
   object, so its memo of /proc/stat texts, keyed by the history's identity, goes on hitting).
"""

from __future__ import annotations

import operator
from itertools import chain

import attrs

__all__ = ["ContainerHistory", "LoadavgState", "StatHistory", "interchangeable"]


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


_TUPLE = frozenset({tuple})
_INT = frozenset({int})
_STR = frozenset({str})
_PAIR = frozenset({2})
_KEY = operator.itemgetter(0)
_COUNTERS = operator.itemgetter(1)


def interchangeable(first: StatHistory, second: StatHistory) -> bool:
    """Whether no renderer can tell ``first`` from ``second`` (rule 4): the same class, equal,
    and both made of exact tuples, ints and strs only, in ``StatHistory``'s shape (an int
    and a bool, a float or an int subclass may be equal and still be told apart: stat
    trusts exact ints only)."""
    if first is second:
        return True
    if type(first) is not type(second) or first != second:
        return False
    return _plain(first) and _plain(second)


def _plain(history: StatHistory) -> bool:
    # C loops over each level (map, issuperset): a 512-CPU history holds some 16,000 numbers.
    return (
        _plain_pairs(history.last_lines, _STR)
        and _plain_pairs(history.baseline, _INT)
        and _plain_pairs(history.view, _INT)
        and type(history.usage_total) is tuple
        and _INT.issuperset(map(type, history.usage_total))
    )


def _plain_pairs(entries: object, key: frozenset[type]) -> bool:
    """``entries`` is a tuple of ``(key, tuple of ints)`` pairs, all exactly those types."""
    if type(entries) is not tuple or not _TUPLE.issuperset(map(type, entries)):
        return False
    if not _PAIR.issuperset(map(len, entries)) or not key.issuperset(map(type, map(_KEY, entries))):
        return False
    counters = list(map(_COUNTERS, entries))
    return _TUPLE.issuperset(map(type, counters)) and _INT.issuperset(
        map(type, chain.from_iterable(counters))
    )
