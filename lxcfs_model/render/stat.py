"""/proc/stat for one container: its CPU times on the CPUs it sees, the host's other lines.

Rules:
1. The CPUs come from ``lxcfs_model.visible`` (the one policy) and are shown as ``cpu0`` ..
   ``cpu<k-1>`` in host order, exactly as cpuinfo and /sys/devices/system/cpu number them.
   (Upstream 5.0.3 prints host numbers here without --enable-cfs while cpuinfo renumbers;
   we renumber everywhere.)
2. Counters never go backwards. Each read adds non-negative increments to the lines of the
   previous read (``StatHistory``, passed in and returned), so a recreated cgroup whose usage
   restarts at 0, or a host CPU exchanged for another under the same line, can only slow a
   counter down. The per-line floor is reset only when the number of visible CPUs changes;
   even then the ``cpu`` aggregate keeps growing: whatever it would lose is spread evenly
   over the new lines.
3. The aggregate line is the field-wise sum of the ``cpuN`` lines, always; it is printed
   ``cpu  `` with two spaces, as the kernel does (upstream 2be17a4).
4. Every other host line (intr, ctxt, btime, processes, procs_running, procs_blocked,
   softirq) passes through verbatim, in host order. btime is never virtualized: a shifted
   btime breaks process start times in ps/top (upstream 9502bae).
5. Never raises, never returns an empty or partial file.

Theory of operation. For every shown CPU (host CPU ``h``) a read computes increments over
the previous read:
* host growth ``dH`` per field (``max(0, now - before)``), host busy growth ``dB`` = all
  fields but idle (user+nice+system+iowait+irq+softirq+steal+guest+guest_nice, upstream's
  "host_used"), host idle growth ``dI``;
* no usage known (``cpu_usage`` None): the line grows by ``dH``: the host's own times of
  the CPU, renumbered (upstream's mode b);
* cgroup v1 (``cpuacct.usage_all``): user/system grow by the container's growth on ``h``;
  growth on host CPUs it does not see (hidden by the quota cap, or used before its cpuset
  changed) is spread over the shown CPUs in proportion to their ``dB``, so the aggregate
  accounts for all of the container's time;
* cgroup v2 (``cpu.stat``, totals only; upstream 7.0 shows host times here): the growth of
  the container's total user and system time is spread over the shown CPUs in proportion
  to their ``dB``;
* with usage known, idle grows by ``max(0, dI + dB - container growth)``: the CPU's time
  the container did not use (upstream's ``idle + (host_used - cg_used)`` as an increment;
  where the container's time exceeds the host's busy time, upstream keeps the whole host
  idle, we take the excess out of idle as upstream's cpuview does with folded time);
  nice, iowait, irq, softirq, steal, guest and guest_nice stay 0;
* --enable-cfs with a quota ``q`` CPUs below the cap ``c`` (1.5 CPUs shown as 2): the idle
  growth loses ``elapsed * (c - q) / c`` so the shown CPUs add up to ``q`` CPUs' worth of
  time, as upstream's cpuview does.
"Before" on a first read is zero (absolute times, as upstream prints them) except with
--enable-cfs and usage known, where it is the current value: the counters start at 0 and
grow, like upstream's cpuview. Container nanoseconds become ticks as ``ns * CLK_TCK //
10**9`` (exact integers). Spreading (``distribute``) gives ``amount * w // W`` to each CPU
and the remainder one tick each to the first CPUs of non-zero weight; all-zero weights
count as equal. Spread time fills a CPU only up to its unclaimed time (``dB + dI`` minus
the container's own growth there); the overflow goes to CPUs with time left (``spread``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from itertools import chain, repeat
from typing import Any

import attrs

from lxcfs_model.history import StatHistory
from lxcfs_model.host_cpu import STAT_FIELDS
from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback
from lxcfs_model.values import CpuTime
from lxcfs_model.visible import VisibleCpus, visible_cpus, visible_quantities

__all__ = ["PROVENANCE", "distribute", "render", "spread"]

_WIDTH = len(STAT_FIELDS)
_USER = STAT_FIELDS.index("user")
_SYSTEM = STAT_FIELDS.index("system")
_IDLE = STAT_FIELDS.index("idle")
_ZERO = (0,) * _WIDTH
_NS_PER_SECOND = 1_000_000_000

_CPU_SOURCES = (
    "cpuset.cpus / cpuset.effective_cpus",
    "cpu.cfs_quota_us + cpu.cfs_period_us (v1) / cpu.max (v2), with --enable-cfs",
    "cpuacct.usage_all (v1)",
    "cpu.stat user_usec, system_usec (v2)",
    "host /proc/stat",
)

PROVENANCE = FileProvenance(
    path="proc/stat",
    summary=(
        "the container's CPU times on the CPUs it sees (numbered 0..k-1 as in cpuinfo and "
        "/sys/devices/system/cpu/online); counters never go backwards"
    ),
    rules=(
        LineRule(
            label="cpu",
            sources=("the cpuN lines below",),
            formula=(
                "field-wise sum of the {visible_count} cpuN lines: user {user}, system "
                "{system}, idle {idle} ticks (CLK_TCK {clk_tck})"
            ),
        ),
        LineRule(
            label="cpuN",
            sources=_CPU_SOURCES,
            formula=(
                "host CPUs {visible_cpus} shown as cpu0.. (cpuset {cpuset}, quota {quota}, "
                "cap {quota_cap}); times from {usage_source}; each line = its previous read + "
                "growth ({history}). With usage: user/system = the container's growth on that "
                "CPU + a share, by host busy growth, of its growth on CPUs it does not see "
                "({folded_user} user, {folded_system} system ticks; on v2 all of it); idle = "
                "max(0, host idle growth + host busy growth - container growth), minus "
                "{partial_idle_removed} ticks for a fractional quota. Without usage: the host "
                "CPU's own times."
            ),
        ),
    ),
    passthrough=(
        "host line verbatim (intr, ctxt, btime, processes, procs_running, procs_blocked, "
        "softirq; btime is never virtualized)"
    ),
    fallback="none: a container always gets its CPU lines; the host file only on an internal error",
)


def distribute(amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` into integer shares proportional to ``weights`` that sum exactly to
    ``amount``; the remainder goes one each to the first entries of non-zero weight. With
    ``amount <= sum(weights)`` no share exceeds its weight. All-zero weights count as equal."""
    count = len(weights)
    if count == 0 or amount <= 0:
        return [0] * count
    clean = [max(0, weight) for weight in weights]
    total = sum(clean)
    if total == 0:
        clean, total = [1] * count, count
    shares = [amount * weight // total for weight in clean]
    remainder = amount - sum(shares)
    # remainder < number of entries with a fractional share <= number of non-zero weights.
    for index, weight in enumerate(clean):
        if remainder == 0:
            break
        if weight > 0:
            shares[index] += 1
            remainder -= 1
    return shares


@attrs.frozen
class _Previous:
    """A ``StatHistory`` checked to fit together (lengths, counter widths, no negatives)."""

    lines: tuple[tuple[int, ...], ...]
    host_cpus: tuple[int, ...]
    host_counters: tuple[tuple[int, ...], ...]
    usage_by_cpu: tuple[tuple[int, ...], ...] | None
    usage_total: tuple[int, ...] | None


# A history is checked whole, column by column: map() over the builtins below runs the
# test of each entry in C, where a loop over 512 CPUs' entries would cost more than the
# rest of the render. All-or-nothing, as the entries are: one bad entry refuses the part.
_INT_ONLY = frozenset({int})  # exactly int: a bool or float in a foreign history is no counter
_PAIR_LENGTH = frozenset({2})


def _all_counters(values: Sequence[Any], width: int) -> bool:
    """Every value is a tuple of ``width`` non-negative ints."""
    return (
        all(map(isinstance, values, repeat(tuple)))
        and frozenset({width}).issuperset(map(len, values))
        and _INT_ONLY.issuperset(map(type, chain.from_iterable(values)))
        and min(chain.from_iterable(values), default=0) >= 0
    )


def _all_pairs(entries: Sequence[Any]) -> bool:
    """Every entry is a ``(key, value)`` tuple, the shape of each history entry."""
    return all(map(isinstance, entries, repeat(tuple))) and _PAIR_LENGTH.issuperset(
        map(len, entries)
    )


def _counters(value: object, width: int) -> tuple[int, ...] | None:
    return value if _all_counters((value,), width) else None  # type: ignore[return-value]


def _previous_lines(history: StatHistory) -> tuple[tuple[int, ...], ...] | None:
    entries = tuple(history.last_lines)
    if not entries or not _all_pairs(entries):
        return None
    if [entry[0] for entry in entries] != [f"cpu{index}" for index in range(len(entries))]:
        return None
    lines = tuple(entry[1] for entry in entries)
    return lines if _all_counters(lines, _WIDTH) else None


def _read_history(
    history: StatHistory | None,
) -> tuple[tuple[tuple[int, ...], ...] | None, _Previous | None]:
    """The previous lines (for the aggregate carry) and the whole previous state, each None
    where the history is absent or does not hang together (then it is not trusted)."""
    if not isinstance(history, StatHistory):
        return None, None
    lines = _previous_lines(history)
    if lines is None or len(history.baseline) != len(lines):
        return lines, None
    baseline = tuple(history.baseline)
    if not _all_pairs(baseline):
        return lines, None
    host_cpus = tuple(entry[0] for entry in baseline)
    host_counters = tuple(entry[1] for entry in baseline)
    if not _INT_ONLY.issuperset(map(type, host_cpus)) or not _all_counters(host_counters, _WIDTH):
        return lines, None
    # The view is trusted only whole: an entry for each baseline entry, naming its CPU,
    # with a (user, system) pair, and no more time on the shown CPUs than in the total.
    view = tuple(history.view)
    usage_by_cpu: tuple[tuple[int, ...], ...] | None = None
    if (
        len(view) == len(lines)
        and _all_pairs(view)
        and [entry[0] for entry in view] == list(host_cpus)
    ):
        pairs = tuple(entry[1] for entry in view)
        if _all_counters(pairs, 2):
            usage_by_cpu = pairs
    usage_total = _counters(history.usage_total, 2)
    if usage_total is not None and usage_by_cpu is not None:
        # The container's time on CPUs it does not see can never be negative.
        seen_user, seen_system = _column_sums(usage_by_cpu)
        if usage_total[0] < seen_user or usage_total[1] < seen_system:
            usage_by_cpu = None
    previous = _Previous(
        lines=lines,
        host_cpus=host_cpus,
        host_counters=host_counters,
        usage_by_cpu=usage_by_cpu,
        usage_total=usage_total,
    )
    return lines, previous


def _ticks(time: CpuTime, clk_tck: int) -> tuple[int, int]:
    return (
        max(0, time.user_ns) * clk_tck // _NS_PER_SECOND,
        max(0, time.system_ns) * clk_tck // _NS_PER_SECOND,
    )


def _usage_ticks(
    per_cpu: Mapping[int, CpuTime], shown: Sequence[int], clk_tck: int
) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """The container's (user, system) ticks on each shown CPU, and over all of ``per_cpu``
    (its time on CPUs it does not see included): per CPU, then summed, as ``_ticks``."""
    # ns * clk_tck // 10**9 with the fraction reduced is the same integer; for CLK_TCK 100
    # it is ns * 1 // 10**7, much cheaper than scaling the nanoseconds up first, and this
    # loop runs over every host CPU (512 on a big host) on every read.
    common = math.gcd(clk_tck, _NS_PER_SECOND)
    numerator, denominator = clk_tck // common, _NS_PER_SECOND // common
    user_total = system_total = 0
    for time in per_cpu.values():
        user, system = time.user_ns, time.system_ns
        if user > 0:
            user_total += user * numerator // denominator
        if system > 0:
            system_total += system * numerator // denominator
    by_cpu: list[tuple[int, int]] = []
    for cpu in shown:
        seen = per_cpu.get(cpu)
        by_cpu.append((0, 0) if seen is None else _ticks(seen, clk_tck))
    return by_cpu, (user_total, system_total)


def render(inputs: RenderInputs) -> Rendered:
    """The container's /proc/stat (see the module rules)."""
    try:
        return _render(inputs)
    except Exception as error:  # the last line of defence: rule 2 of rendering.py
        return host_fallback(inputs.host.stat, inputs, f"internal error: {error!r}")


def _render(inputs: RenderInputs) -> Rendered:
    host = inputs.host
    layout = host.stat_layout
    visible = visible_cpus(inputs)
    shown = visible.host_cpus
    count = len(shown)
    clk_tck = host.clk_tck if host.clk_tck > 0 else 100
    usage = inputs.view.cpu_usage

    host_counters = layout.cpu_counters
    host_now = [host_counters.get(cpu, _ZERO) for cpu in shown]
    by_cpu_now: list[tuple[int, int]] | None = None
    total_now: tuple[int, int] | None = None
    if usage is not None and usage.per_cpu is not None:
        by_cpu_now, total_now = _usage_ticks(usage.per_cpu, shown, clk_tck)
    elif usage is not None:
        total_now = _ticks(usage.total, clk_tck)

    last_lines, previous = _read_history(inputs.history.stat)
    continued = previous is not None and len(previous.host_cpus) == count
    starts_at_zero = inputs.options.enable_cfs and usage is not None

    # "Before" values: the previous read's, or the first-read baseline (rule 2, theory).
    hidden_before: tuple[int, int] | None
    if continued and previous is not None:
        history_state = "continued from the previous read"
        base_lines = list(previous.lines)
        host_before = [
            before if before_cpu == cpu else now
            for before_cpu, before, cpu, now in zip(
                previous.host_cpus, previous.host_counters, shown, host_now, strict=True
            )
        ]
        by_cpu_before = by_cpu_now
        hidden_before = None
        if by_cpu_now is not None and previous.usage_by_cpu is not None:
            by_cpu_before = [
                (before[0], before[1]) if before_cpu == cpu else now
                for before_cpu, before, cpu, now in zip(
                    previous.host_cpus, previous.usage_by_cpu, shown, by_cpu_now, strict=True
                )
            ]
            if previous.usage_total is not None and previous.host_cpus == shown:
                seen_user, seen_system = _column_sums(previous.usage_by_cpu)
                hidden_before = (
                    previous.usage_total[0] - seen_user,
                    previous.usage_total[1] - seen_system,
                )
        total_before = (
            (previous.usage_total[0], previous.usage_total[1])
            if previous.usage_total is not None
            else total_now
        )
    elif starts_at_zero:
        history_state = "first read: counters start at 0 (--enable-cfs)"
        base_lines = [_ZERO] * count
        host_before = host_now
        by_cpu_before = by_cpu_now
        total_before = total_now
        hidden_before = None
    else:
        history_state = "first read: absolute times"
        base_lines = [_ZERO] * count
        host_before = [_ZERO] * count
        by_cpu_before = [(0, 0)] * count if by_cpu_now is not None else None
        total_before = (0, 0)
        hidden_before = (0, 0)
    if last_lines is not None and len(last_lines) != count:
        history_state = (
            f"visible CPU count changed from {len(last_lines)} to {count}: lines restart"
        )

    # One pass per CPU; map(max, _ZERO, ...) is max(0, now - before) field by field, in C.
    host_growth: list[tuple[int, ...]] = []
    busy_growth: list[int] = []
    elapsed: list[int] = []
    for now, before in zip(host_now, host_before, strict=True):
        growth = tuple(map(max, _ZERO, map(operator.sub, now, before)))
        time = sum(growth)
        host_growth.append(growth)
        elapsed.append(time)
        busy_growth.append(time - growth[_IDLE])
    quantities = visible_quantities(visible, host.online_cpus)
    quantities |= {
        "quota": _describe_quota(visible),
        "clk_tck": clk_tck,
        "history": history_state,
        "folded_user": 0,
        "folded_system": 0,
        "partial_idle_removed": 0,
        "missing_host_lines": count - sum(map(host_counters.__contains__, shown)),
    }

    if usage is None or total_now is None:
        quantities["usage_source"] = "none: the host's own times of these CPUs"
        lines = [
            tuple(map(operator.add, before, growth))
            for before, growth in zip(base_lines, host_growth, strict=True)
        ]
    else:
        user_growth, system_growth = _container_growth(
            by_cpu_now,
            by_cpu_before,
            total_now,
            total_before,
            hidden_before,
            busy_growth,
            elapsed,
            quantities,
        )
        quantities["usage_source"] = (
            "cpuacct.usage_all (v1, per CPU)" if by_cpu_now is not None else "cpu.stat (v2, totals)"
        )
        quantities["container_user_ticks"], quantities["container_system_ticks"] = total_now
        # The CPU's time not claimed by the container is idle (upstream: idle + busy - used).
        idle_growth = [
            max(0, time - user - system)
            for time, user, system in zip(elapsed, user_growth, system_growth, strict=True)
        ]
        if starts_at_zero:
            idle_growth = _remove_partial_cpu(visible, elapsed, idle_growth, quantities)
        # Only user, system and idle grow with usage known: the other fields keep their floor.
        lines = []
        for before, user, system, idle in zip(
            base_lines, user_growth, system_growth, idle_growth, strict=True
        ):
            line = list(before)
            line[_USER] += user
            line[_SYSTEM] += system
            line[_IDLE] += idle
            lines.append(tuple(line))

    if last_lines is not None and len(last_lines) != count:
        lines = _carry_aggregate(last_lines, lines)

    aggregate = list(map(sum, zip(*lines, strict=True))) if lines else list(_ZERO)
    quantities["user"] = aggregate[_USER]
    quantities["system"] = aggregate[_SYSTEM]
    quantities["idle"] = aggregate[_IDLE]

    labels = [f"cpu{index}" for index in range(len(lines))]
    text_lines = ["cpu  " + " ".join(map(str, aggregate)) + "\n"]
    text_lines += [
        label + " " + " ".join(map(str, line)) + "\n"
        for label, line in zip(labels, lines, strict=True)
    ]
    text_lines.append(layout.passthrough)

    stat_history = StatHistory(
        last_lines=tuple(zip(labels, lines, strict=True)),
        baseline=tuple(zip(shown, host_now, strict=True)),
        view=tuple(zip(shown, by_cpu_now, strict=True)) if by_cpu_now is not None else (),
        usage_total=total_now if total_now is not None else (),
    )
    return Rendered(
        text="".join(text_lines),
        history=attrs.evolve(inputs.history, stat=stat_history),
        quantities=quantities,
    )


def _column_sums(pairs: Sequence[tuple[int, ...]]) -> tuple[int, int]:
    return sum(map(operator.itemgetter(0), pairs)), sum(map(operator.itemgetter(1), pairs))


def _describe_quota(visible: VisibleCpus) -> str:
    quota = visible.quota
    if quota is None or quota.quota_us is None:
        return "none (or --enable-cfs off)"
    return f"{quota.quota_us}/{quota.period_us} us at {quota.path}"


def _container_growth(
    by_cpu_now: Sequence[tuple[int, int]] | None,
    by_cpu_before: Sequence[tuple[int, int]] | None,
    total_now: tuple[int, int],
    total_before: tuple[int, int] | None,
    hidden_before: tuple[int, int] | None,
    busy_growth: Sequence[int],
    elapsed: Sequence[int],
    quantities: dict[str, object],
) -> tuple[list[int], list[int]]:
    """The container's user and system growth on each shown CPU (theory, v1 and v2)."""
    count = len(busy_growth)
    if by_cpu_now is None or by_cpu_before is None:
        # v2: only totals are known; all of the growth is spread by host busy growth.
        before = total_before if total_before is not None else total_now
        user, system = [0] * count, [0] * count
        spread_user = max(0, total_now[0] - before[0])
        spread_system = max(0, total_now[1] - before[1])
    else:
        pairs = list(zip(by_cpu_now, by_cpu_before, strict=True))
        user = [max(0, now[0] - before[0]) for now, before in pairs]
        system = [max(0, now[1] - before[1]) for now, before in pairs]
        spread_user = spread_system = 0
        if hidden_before is not None:
            hidden_user = total_now[0] - sum(pair[0] for pair in by_cpu_now)
            hidden_system = total_now[1] - sum(pair[1] for pair in by_cpu_now)
            spread_user = max(0, hidden_user - hidden_before[0])
            spread_system = max(0, hidden_system - hidden_before[1])
            quantities["folded_user"], quantities["folded_system"] = spread_user, spread_system
    for amount, target in ((spread_user, user), (spread_system, system)):
        room = [
            max(0, time - own_user - own_system)
            for time, own_user, own_system in zip(elapsed, user, system, strict=True)
        ]
        for index, share in enumerate(spread(amount, busy_growth, room)):
            target[index] += share
    return user, system


def spread(amount: int, weights: Sequence[int], room: Sequence[int]) -> list[int]:
    """``distribute`` that fills no entry beyond its ``room`` (a CPU's unclaimed time) while
    others have some left: what overflows is handed again to the entries with room left.
    Anything beyond the total room (inputs that disagree) is still spread by ``weights``:
    the shares always sum to ``amount``."""
    shares = [0] * len(weights)
    remaining = amount
    active = [index for index, space in enumerate(room) if space > 0]
    # Each pass either hands out everything that fits or fills at least one entry.
    while remaining > 0 and active:
        space = [room[index] - shares[index] for index in active]
        offered = distribute(min(remaining, sum(space)), [weights[index] for index in active])
        for index, share, free in zip(active, offered, space, strict=True):
            taken = min(share, free)
            shares[index] += taken
            remaining -= taken
        active = [index for index in active if shares[index] < room[index]]
    for index, share in enumerate(distribute(remaining, weights)):
        shares[index] += share
    return shares


def _remove_partial_cpu(
    visible: VisibleCpus,
    elapsed: Sequence[int],
    idle_growth: list[int],
    quantities: dict[str, object],
) -> list[int]:
    """With a fractional quota below the cap, take ``elapsed * (cap - quota) / cap`` out of
    the idle growth (in proportion to it, never below 0), so k shown CPUs add up to the
    quota's worth of time."""
    quota, cap = visible.quota, visible.quota_cap
    if quota is None or quota.quota_us is None or cap is None or quota.period_us <= 0:
        return idle_growth
    capacity_us = cap * quota.period_us
    if quota.quota_us >= capacity_us:
        return idle_growth
    removed = min(sum(elapsed) * (capacity_us - quota.quota_us) // capacity_us, sum(idle_growth))
    quantities["partial_idle_removed"] = removed
    return [
        idle - taken
        for idle, taken in zip(idle_growth, distribute(removed, idle_growth), strict=True)
    ]


def _carry_aggregate(
    last_lines: Sequence[tuple[int, ...]], lines: list[tuple[int, ...]]
) -> list[tuple[int, ...]]:
    """After a change of the visible CPU count, raise the new lines (evenly, remainders to
    the first) so that no field of the aggregate falls below the previous read's."""
    if not lines:
        return lines
    before = [sum(column) for column in zip(*last_lines, strict=True)]
    now = [sum(column) for column in zip(*lines, strict=True)]
    raised = [list(line) for line in lines]
    for field in range(_WIDTH):
        shortfall = before[field] - now[field]
        if shortfall > 0:
            for line, share in zip(raised, distribute(shortfall, [1] * len(lines)), strict=True):
                line[field] += share
    return [tuple(line) for line in raised]
