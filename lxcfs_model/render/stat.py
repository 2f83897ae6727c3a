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
6. A render is a fixed point: the same inputs with the history it hands back render the
   same text and hand back a history ``interchangeable`` with it (nothing grew in between,
   so every increment is 0). The daemon keeps a text for the history its render handed
   back on that promise (``lxcfs_fuse.content`` rule 7);
   tests/properties/test_kept_texts.py holds any request, and every read of a chain, to it.

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
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat

import attrs

from lxcfs_model.history import StatHistory
from lxcfs_model.host_cpu import STAT_FIELDS
from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, WordedOnFirstRead, host_fallback
from lxcfs_model.values import CpuTime
from lxcfs_model.visible import VisibleCpus, visible_cpus, visible_quantities

__all__ = ["PROVENANCE", "distribute", "render", "spread"]

_WIDTH = len(STAT_FIELDS)
_USER = STAT_FIELDS.index("user")
_SYSTEM = STAT_FIELDS.index("system")
_IDLE = STAT_FIELDS.index("idle")
_ZERO = (0,) * _WIDTH
_NS_PER_SECOND = 1_000_000_000
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
# A cpuN line: label and the ten counters, as " ".join(map(str, ...)) prints them.
_LINE_FORMAT = "%s" + " %s" * _WIDTH + "\n"

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
    if count == 1:
        return [amount]  # what the shares below come to: amount * w // w, no remainder
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
    # usage_total - usage_by_cpu: the time on CPUs not shown (None unless both are known).
    hidden_usage: tuple[int, int] | None


# Exactly ``int``: a bool or a float in a history saved by something else is not a counter.
_INT_ONLY = frozenset({int})


def _counters(value: object, width: int) -> tuple[int, ...] | None:
    # map(type) + issuperset + min test the items in C, not in a generator: this runs for
    # each entry of a history on every read. (Checking all entries' items in one pass is
    # faster from about 16 CPUs on, slower below, where most containers are.)
    if (
        isinstance(value, tuple)
        and len(value) == width
        and _INT_ONLY.issuperset(map(type, value))
        and min(value) >= 0
    ):
        return value
    return None


def _previous_lines(history: StatHistory) -> tuple[tuple[int, ...], ...] | None:
    lines = []
    for index, entry in enumerate(history.last_lines):
        if not isinstance(entry, tuple) or len(entry) != 2 or entry[0] != f"cpu{index}":
            return None
        counters = _counters(entry[1], _WIDTH)
        if counters is None:
            return None
        lines.append(counters)
    return tuple(lines) if lines else None


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
    host_cpus: list[int] = []
    host_counters: list[tuple[int, ...]] = []
    for entry in history.baseline:
        counters = (
            _counters(entry[1], _WIDTH) if isinstance(entry, tuple) and len(entry) == 2 else None
        )
        if counters is None or type(entry[0]) is not int:
            return lines, None
        host_cpus.append(entry[0])
        host_counters.append(counters)
    # The view is trusted only whole: an entry for each baseline entry, naming its CPU,
    # with a (user, system) pair, and no more time on the shown CPUs than in the total.
    usage_by_cpu: list[tuple[int, ...]] | None = []
    matching = 0
    for entry, expected in zip(history.view, host_cpus, strict=False):
        if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == expected:
            matching += 1
            pair = _counters(entry[1], 2)
            if pair is None:
                usage_by_cpu = None
            elif usage_by_cpu is not None:
                usage_by_cpu.append(pair)
    if not (matching == len(lines) and len(history.view) == len(lines)):
        usage_by_cpu = None
    usage_total = _counters(history.usage_total, 2)
    hidden_usage = None
    if usage_total is not None and usage_by_cpu is not None:
        seen_user, seen_system = _column_sums(usage_by_cpu)
        hidden_usage = (usage_total[0] - seen_user, usage_total[1] - seen_system)
        if min(hidden_usage) < 0:
            usage_by_cpu = hidden_usage = None
    previous = _Previous(
        lines=lines,
        host_cpus=tuple(host_cpus),
        host_counters=tuple(host_counters),
        usage_by_cpu=tuple(usage_by_cpu) if usage_by_cpu is not None else None,
        usage_total=usage_total,
        hidden_usage=hidden_usage,
    )
    return lines, previous


def _tick_fraction(clk_tck: int) -> tuple[int, int]:
    """CLK_TCK / 10**9 in lowest terms: ``ns * clk_tck // 10**9`` is the same integer as
    ``ns * numerator // denominator``, and for CLK_TCK 100 that is ``ns * 1 // 10**7``, much
    cheaper than scaling nanoseconds up first (this runs for every host CPU on every read)."""
    common = math.gcd(clk_tck, _NS_PER_SECOND)
    return clk_tck // common, _NS_PER_SECOND // common


def _ticks(time: CpuTime, numerator: int, denominator: int) -> tuple[int, int]:
    """Nanoseconds as ticks (``_tick_fraction``)."""
    return (
        max(0, time.user_ns) * numerator // denominator,
        max(0, time.system_ns) * numerator // denominator,
    )


def _usage_ticks(
    per_cpu: Mapping[int, CpuTime], shown: Sequence[int], numerator: int, denominator: int
) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """The container's (user, system) ticks on each shown CPU, and over all of ``per_cpu``
    (its time on CPUs it does not see included): ``_ticks`` per CPU, then summed."""
    # _ticks inlined: this loop runs over every host CPU, 512 on a big host.
    user_total = system_total = 0
    for time in per_cpu.values():
        if time.user_ns > 0:
            user_total += time.user_ns * numerator // denominator
        if time.system_ns > 0:
            system_total += time.system_ns * numerator // denominator
    by_cpu = []
    for cpu in shown:
        seen = per_cpu.get(cpu)
        by_cpu.append((0, 0) if seen is None else _ticks(seen, numerator, denominator))
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
        by_cpu_now, total_now = _usage_ticks(usage.per_cpu, shown, *_tick_fraction(clk_tck))
    elif usage is not None:
        total_now = _ticks(usage.total, *_tick_fraction(clk_tck))

    last_lines, previous = _read_history(inputs.history.stat)
    continued = previous is not None and len(previous.host_cpus) == count
    starts_at_zero = inputs.options.enable_cfs and usage is not None

    # "Before" values: the previous read's, or the first-read baseline (rule 2, theory).
    hidden_before: tuple[int, int] | None
    if continued and previous is not None:
        history_state = "continued from the previous read"
        base_lines = list(previous.lines)
        same_cpus = previous.host_cpus == shown  # nearly every read: the listing below is moot
        host_before = (
            list(previous.host_counters)
            if same_cpus
            else [
                before if before_cpu == cpu else now
                for before_cpu, before, cpu, now in zip(
                    previous.host_cpus, previous.host_counters, shown, host_now, strict=True
                )
            ]
        )
        by_cpu_before = by_cpu_now
        hidden_before = None
        if by_cpu_now is not None and previous.usage_by_cpu is not None:
            by_cpu_before = [
                (before[0], before[1]) if before_cpu == cpu else now
                for before_cpu, before, cpu, now in zip(
                    previous.host_cpus, previous.usage_by_cpu, shown, by_cpu_now, strict=True
                )
            ]
            if same_cpus:
                hidden_before = previous.hidden_usage
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

    # All shown CPUs' fields in one run: every counters tuple has _WIDTH fields (parse_stat
    # pads host lines, a history's are checked), so the run cuts back into lines.
    host_growth_run = _grown(chain.from_iterable(host_now), chain.from_iterable(host_before))
    host_growth = _lines(host_growth_run)
    elapsed = list(map(sum, host_growth))
    busy_growth = list(map(operator.sub, elapsed, host_growth_run[_IDLE::_WIDTH]))
    quantities: dict[str, object] = {
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
        lines = _lines(map(operator.add, chain.from_iterable(base_lines), host_growth_run))
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
        idle_growth = _grown(elapsed, map(operator.add, user_growth, system_growth))
        if starts_at_zero:
            idle_growth = _remove_partial_cpu(visible, elapsed, idle_growth, quantities)
        # Only user, system and idle grow with usage known: the other fields keep their floor.
        run = list(chain.from_iterable(base_lines))
        for field, growth in ((_USER, user_growth), (_SYSTEM, system_growth), (_IDLE, idle_growth)):
            run[field::_WIDTH] = map(operator.add, run[field::_WIDTH], growth)
        lines = _lines(run)

    if last_lines is not None and len(last_lines) != count:
        lines = _carry_aggregate(last_lines, lines)

    columns = list(zip(*lines, strict=True))
    aggregate = list(map(sum, columns)) if lines else list(_ZERO)
    quantities["user"] = aggregate[_USER]
    quantities["system"] = aggregate[_SYSTEM]
    quantities["idle"] = aggregate[_IDLE]

    labels = _labels(len(lines))
    # All cpuN lines in one %-format: "%s" is str(), exactly what " ".join(map(str)) gives.
    cpu_lines = (_LINE_FORMAT * len(lines)) % tuple(
        chain.from_iterable(zip(labels, *columns, strict=True))
    )
    text = "cpu  " + " ".join(map(str, aggregate)) + "\n" + cpu_lines + layout.passthrough

    stat_history = StatHistory(
        last_lines=tuple(zip(labels, lines, strict=True)),
        baseline=tuple(zip(shown, host_now, strict=True)),
        view=tuple(zip(shown, by_cpu_now, strict=True)) if by_cpu_now is not None else (),
        usage_total=total_now if total_now is not None else (),
    )
    return Rendered(
        text=text,
        history=attrs.evolve(inputs.history, stat=stat_history),
        quantities=WordedOnFirstRead(
            lambda: visible_quantities(visible, host.online_cpus) | quantities
        ),
    )


def _column_sums(pairs: Sequence[tuple[int, ...]]) -> tuple[int, int]:
    return sum(map(_FIRST, pairs)), sum(map(_SECOND, pairs))


def _labels(count: int) -> list[str]:
    """``cpu0`` .. ``cpu<count-1>``."""
    return list(map("cpu{}".format, range(count)))


def _grown(now: Iterable[int], before: Iterable[int]) -> list[int]:
    """``max(0, now - before)`` item by item, the growth of counters that must not shrink."""
    differences = list(map(operator.sub, now, before))
    # Counters seldom go back: one min() over the run is cheaper than a max() per item.
    if differences and min(differences) < 0:
        return list(map(max, repeat(0), differences))
    return differences


def _lines(run: Iterable[int]) -> list[tuple[int, ...]]:
    """A run of counters cut into lines of ``_WIDTH`` (zip over one iterator repeated takes
    consecutive items)."""
    return list(zip(*[iter(run)] * _WIDTH, strict=True))


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
        user = _grown(map(_FIRST, by_cpu_now), map(_FIRST, by_cpu_before))
        system = _grown(map(_SECOND, by_cpu_now), map(_SECOND, by_cpu_before))
        spread_user = spread_system = 0
        if hidden_before is not None:
            seen_user, seen_system = _column_sums(by_cpu_now)
            hidden_user = total_now[0] - seen_user
            hidden_system = total_now[1] - seen_system
            spread_user = max(0, hidden_user - hidden_before[0])
            spread_system = max(0, hidden_system - hidden_before[1])
            quantities["folded_user"], quantities["folded_system"] = spread_user, spread_system
    for amount, target in ((spread_user, user), (spread_system, system)):
        if amount > 0:  # spread() of nothing is all zeros
            room = _grown(elapsed, map(operator.add, user, system))
            target[:] = map(operator.add, target, spread(amount, busy_growth, room))
    return user, system


def spread(amount: int, weights: Sequence[int], room: Sequence[int]) -> list[int]:
    """``distribute`` that fills no entry beyond its ``room`` (a CPU's unclaimed time) while
    others have some left: what overflows is handed again to the entries with room left.
    Anything beyond the total room (inputs that disagree) is still spread by ``weights``:
    the shares always sum to ``amount``."""
    if len(weights) == 1 == len(room):
        return [max(0, amount)]  # one entry takes it all, room or not (the last step below)
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
    if remaining > 0:
        shares[:] = map(operator.add, shares, distribute(remaining, weights))
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
