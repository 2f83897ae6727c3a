"""/proc/loadavg for a container (``--enable-loadavg``): the kernel's load averages, per cgroup.

Rules:
1. Never reads host state and keeps no state: the averages live in ``LoadavgState`` (held by
   the caller in ``ContainerHistory.loadavg``). The daemon's sampler thread lists the cgroup's
   tasks every 5 s, counts them with ``count_tasks`` and advances the state with ``sample``;
   this module only does the arithmetic and the formatting.
2. ``sample`` is the kernel's ``calc_load`` (kernel/sched/loadavg.c) exactly, in fixed point
   with FSHIFT 11, so a container shows the decimals the kernel would for the same task
   counts (spec 3.8). Python integers do not overflow, so no input can wrap it negative.
3. Format ``%lu.%02lu %lu.%02lu %lu.%02lu %d/%d %d\\n`` with the kernel's rounding
   (``LOAD_INT``/``LOAD_FRAC`` of ``avenrun + FIXED_1/200``).

Fallbacks (spec 3.12): without ``--enable-loadavg`` the host file; with it but neither a
sampled state nor a cpu cgroup to sample, the host file too. Before the first sample the file
reads ``0.00 0.00 0.00 0/1 <init pid>`` and the render hands back that fresh state in
``Rendered.history``, as upstream inserts its node on the first read; the sampler then knows
the container.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import attrs

from lxcfs_model.history import LoadavgState
from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback

__all__ = [
    "DECAY_FACTORS",
    "FIXED_1",
    "FSHIFT",
    "PROVENANCE",
    "SAMPLE_PERIOD_SECONDS",
    "TaskCounts",
    "count_tasks",
    "format_load",
    "render",
    "sample",
]

FSHIFT = 11
FIXED_1 = 1 << FSHIFT
# exp(-5 s / (60 s x minutes)) in fixed point: the kernel's EXP_1, EXP_5, EXP_15.
DECAY_FACTORS = (1884, 2014, 2037)
SAMPLE_PERIOD_SECONDS = 5
# FIXED_1/200: rounds the hundredths to nearest instead of truncating (kernel's loadavg_proc_show).
_ROUNDING = FIXED_1 // 200
_RUNNING_STATES = frozenset("RD")

PROVENANCE = FileProvenance(
    path="proc/loadavg",
    summary="Load averages of the container's tasks, sampled every 5 s like the kernel's.",
    rules=(
        LineRule(
            label="N",
            sources=(
                "cgroup.procs of the cpu cgroup and 3 levels of descendants",
                "/proc/<pid>/task/*/stat field 3 (state)",
            ),
            formula=(
                "{load_1} {load_5} {load_15}: every 5 s avenrun = (avenrun x e + running x "
                "2048 x (2048 - e), + 2047 while rising) >> 11 with e = 1884, 2014, 2037 (1, "
                "5, 15 min), printed from avenrun {avenrun} + 10; {running}/{total}: tasks in "
                "state R or D / all tasks at the last sample; {last_pid}: the highest host "
                "tid then (the init's pid before the first sample)"
            ),
        ),
    ),
    fallback="the host file without --enable-loadavg, or when no cpu cgroup can be sampled",
)


class TaskCounts(NamedTuple):
    """One sample of a cgroup's tasks."""

    running: int
    total: int
    last_pid: int


def count_tasks(states: Iterable[tuple[int, str]]) -> TaskCounts:
    """Count ``(tid, state)`` pairs: R (running) and D (uninterruptible) count as running,
    as in the kernel's ``nr_active``. ``state`` is the state letter or anything starting with
    it (``"R (running)"``); ``last_pid`` is the highest tid (0 for none)."""
    running = total = last_pid = 0
    for tid, state in states:
        total += 1
        last_pid = max(last_pid, tid)
        if state.lstrip()[:1] in _RUNNING_STATES:
            running += 1
    return TaskCounts(running=running, total=total, last_pid=last_pid)


def sample(state: LoadavgState | None, running: int, total: int, last_pid: int) -> LoadavgState:
    """Advance the load averages by one 5-second sample of ``running`` active tasks.

    An empty sample (``total`` <= 0) restarts the averages from zero, as upstream deletes the
    node of a cgroup without tasks. Negative counts count as 0 and ``running`` never exceeds
    ``total``, so a bad caller cannot push the averages below zero.
    """
    if total <= 0:
        return LoadavgState(last_pid=max(0, last_pid))
    previous = _averages(state) if state is not None else (0, 0, 0)
    active = min(max(0, running), total) * FIXED_1
    one, five, fifteen = (
        _calc_load(load, decay, active) for load, decay in zip(previous, DECAY_FACTORS, strict=True)
    )
    return LoadavgState(
        avenrun=(one, five, fifteen),
        running=active // FIXED_1,
        total=total,
        last_pid=max(0, last_pid),
    )


def _averages(state: LoadavgState) -> tuple[int, int, int]:
    # Plain data may come from a saved snapshot: never trust its length or sign.
    padded = [max(0, value) for value in state.avenrun[:3]] + [0, 0, 0]
    return (padded[0], padded[1], padded[2])


def _calc_load(load: int, decay: int, active: int) -> int:
    # kernel/sched/loadavg.c calc_load(): round up while the load is rising, so a constant
    # input is reached exactly instead of approached from below forever.
    new_load = load * decay + active * (FIXED_1 - decay)
    if active >= load:
        new_load += FIXED_1 - 1
    return new_load // FIXED_1


def format_load(avenrun: int) -> str:
    """One average as the kernel prints it: ``LOAD_INT.LOAD_FRAC`` of ``avenrun + 10``."""
    rounded = max(0, avenrun) + _ROUNDING
    return f"{rounded >> FSHIFT}.{((rounded & (FIXED_1 - 1)) * 100) >> FSHIFT:02d}"


def render(inputs: RenderInputs) -> Rendered:
    """Render /proc/loadavg from the container's sampled load averages."""
    if not inputs.options.enable_loadavg:
        return host_fallback(inputs.host.loadavg, inputs, "load averages need --enable-loadavg")
    state = inputs.history.loadavg
    history = inputs.history
    if state is None:
        if inputs.view.cpu is None:
            return host_fallback(inputs.host.loadavg, inputs, "no cpu cgroup to sample tasks in")
        init_pid = inputs.view.init.pid if inputs.view.init is not None else 0
        state = LoadavgState(last_pid=max(0, init_pid))
        history = attrs.evolve(inputs.history, loadavg=state)

    averages = _averages(state)
    loads = [format_load(value) for value in averages]
    total = max(0, state.total)
    running = min(max(0, state.running), total)
    last_pid = max(0, state.last_pid)
    text = f"{loads[0]} {loads[1]} {loads[2]} {running}/{total} {last_pid}\n"
    quantities: dict[str, object] = {
        "load_1": loads[0],
        "load_5": loads[1],
        "load_15": loads[2],
        "avenrun": "/".join(str(value) for value in averages),
        "running": running,
        "total": total,
        "last_pid": last_pid,
    }
    return Rendered(text=text, history=history, quantities=quantities)
