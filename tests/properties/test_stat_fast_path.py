"""The /proc/stat renderer against its previous implementation: same text, same next
history, same quantities, for every request and every chain of reads.

``lxcfs_model.render.stat`` was rewritten for speed (issue 5). Its output is a contract
with every reader that ever saw a counter (rule 2: counters never go backwards across a
daemon upgrade or a history saved as JSON), so the rewrite must not change one byte of it.
Below the tests is the implementation as it stood before (commit 81cf99b), copied verbatim
except that ``render`` is named ``_reference_render``; it is the oracle, not code to edit.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lxcfs_model.history import ContainerHistory, StatHistory
from lxcfs_model.host_cpu import STAT_FIELDS
from lxcfs_model.render import stat
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback
from lxcfs_model.values import CpuTime
from lxcfs_model.visible import VisibleCpus, visible_cpus, visible_quantities
from tests.strategies import cpu_read_sequences, hostile_stat_inputs, render_inputs


def _assert_same(inputs: RenderInputs) -> Rendered:
    """Render with both implementations; everything a caller can see must be equal."""
    expected = _reference_render(inputs)
    actual = stat.render(inputs)
    assert actual.text == expected.text
    assert actual.history == expected.history
    # repr also tells a tuple from a list and an int from a bool inside the history.
    assert repr(actual.history) == repr(expected.history)
    # In the same order too: --explain and the docs list them as the renderer named them.
    assert list(actual.quantities.items()) == list(expected.quantities.items())
    assert actual.quantities == expected.quantities
    assert actual.fallback == expected.fallback
    return expected


def _bent(value: object) -> list[object]:
    """What may stand where ``value`` stood in a history that was tampered with or saved by
    something else: a neighbour of the right type (which may still fit) or the wrong type."""
    if isinstance(value, tuple):
        return [list(value), value[:-1], (*value, *value[-1:]), value[::-1], (), None]
    if type(value) is int:
        return [value + 1, value - 1, -1, True, float(value), str(value), 2**70, None]
    if isinstance(value, str):
        return [value + "0", "cpu", "", 0, None]
    return [0, (), None]


def _tamper(draw: st.DrawFn, value: object, depth: int) -> object:
    """``value`` with one node ``depth`` tuples deep (or shallower, where the nesting ends)
    replaced by one of its ``_bent`` versions."""
    if depth > 0 and isinstance(value, tuple) and value:
        index = draw(st.integers(0, len(value) - 1))
        return (*value[:index], _tamper(draw, value[index], depth - 1), *value[index + 1 :])
    return draw(st.sampled_from(_bent(value)))


@settings(max_examples=300)
@given(hostile_stat_inputs())
def test_same_output_for_any_request(inputs: RenderInputs) -> None:
    """Any request (v1, v2, no usage; odd CLK_TCK, negative or misplaced usage; with or
    without a drawn history): the same text, history and quantities as before."""
    _assert_same(inputs)


@settings(max_examples=20)
@given(render_inputs(cpus=st.just(512)))
def test_same_output_for_big_hosts(inputs: RenderInputs) -> None:
    """512-CPU hosts, first read and the read after it: the same output as before."""
    first = _assert_same(inputs)
    _assert_same(attrs.evolve(inputs, history=first.history))


@settings(max_examples=200)
@given(cpu_read_sequences())
def test_same_output_along_a_chain_of_reads(sequence: list[RenderInputs]) -> None:
    """Reads threaded through the history they return (growing host counters, usage that
    grows or restarts, cpusets that change): the same output at every step."""
    history = sequence[0].history
    for inputs in sequence:
        history = _assert_same(attrs.evolve(inputs, history=history)).history


@settings(max_examples=300)
@given(cpu_read_sequences(reads=st.just(2)), st.data())
def test_same_output_for_a_tampered_history(
    sequence: list[RenderInputs], data: st.DataObject
) -> None:
    """A real history with one value bent (wrong type, negative, a list, a CPU or label
    changed, an entry cut or added): trusted or refused exactly as before."""
    first, second = sequence
    history = _assert_same(first).history.stat
    assert history is not None
    field = data.draw(st.sampled_from([field.name for field in attrs.fields(StatHistory)]))
    depth = data.draw(st.integers(0, 3))
    bent = attrs.evolve(
        history, **{field: data.draw(st.composite(_tamper)(getattr(history, field), depth))}
    )
    # The same CPUs as the first read, so that an untouched history would be trusted.
    same_cpus = attrs.evolve(second.view, cpuset=first.view.cpuset)
    _assert_same(attrs.evolve(second, view=same_cpus, history=ContainerHistory(stat=bent)))


@settings(max_examples=100)
@given(cpu_read_sequences(reads=st.just(2)), st.integers(-2, 1), st.integers(-2, 1))
def test_same_output_at_the_edge_of_a_trusted_view(
    sequence: list[RenderInputs], user_delta: int, system_delta: int
) -> None:
    """A v1 history whose total is the shown CPUs' time plus -2 .. 1 ticks (the view is
    trusted from 0 on): trusted or refused exactly as before."""
    first, second = sequence
    history = _assert_same(first).history.stat
    assume(history is not None and history.view)
    assert history is not None
    seen = [sum(pair[field] for _, pair in history.view) for field in (0, 1)]
    total = (max(0, seen[0] + user_delta), max(0, seen[1] + system_delta))
    edge = ContainerHistory(stat=attrs.evolve(history, usage_total=total))
    same_cpus = attrs.evolve(second.view, cpuset=first.view.cpuset)
    _assert_same(attrs.evolve(second, view=same_cpus, history=edge))


@settings(max_examples=100)
@given(hostile_stat_inputs(), hostile_stat_inputs())
def test_same_output_with_a_history_from_another_request(
    earlier: RenderInputs, later: RenderInputs
) -> None:
    """A history left by an unrelated request (other CPUs, counts, usage kind, options)."""
    history = _assert_same(earlier).history
    _assert_same(attrs.evolve(later, history=history))


# Amounts and weights near zero, where shortcuts (one entry, nothing to hand out) live.
_SHARES = st.one_of(st.integers(-5, 12), st.integers(-5, 10**6))


@settings(max_examples=500)
@given(_SHARES, st.lists(_SHARES, max_size=12), st.data())
def test_distribute_and_spread_as_before(
    amount: int, weights: list[int], data: st.DataObject
) -> None:
    """The public sharing helpers give the same shares as before for any arguments."""
    assert stat.distribute(amount, weights) == distribute(amount, weights)
    room = data.draw(st.lists(_SHARES, min_size=len(weights), max_size=len(weights)))
    assert stat.spread(amount, weights, room) == spread(amount, weights, room)


@st.composite
def _small_steps(draw: st.DrawFn) -> list[RenderInputs]:
    """Three reads a few ticks apart: host counters that grow by 0 to 3 ticks or go back
    by one, usage that grows by a tick or two or goes back by one (so folds and spreads of
    a single tick, and growth clamped at 0), and now and then other CPUs shown in the same
    number (the previous read's CPUs no longer match, the count does)."""
    inputs = draw(render_inputs(cpus=st.integers(1, 8)))
    rng = draw(st.integers(0, 2**32 - 1).map(random.Random))
    online = sorted(inputs.host.online_cpus)
    tick_ns = _NS_PER_SECOND // max(1, inputs.host.clk_tck)
    reads = [inputs]
    for _ in range(2):
        last = reads[-1]
        counters = {
            cpu: tuple(max(0, value + rng.randint(-1, 3)) for value in row)
            for cpu, row in last.host.stat_layout.cpu_counters.items()
        }
        aggregate = [sum(column) for column in zip(*counters.values(), strict=True)]
        text = "cpu  " + " ".join(map(str, aggregate or _ZERO)) + "\n"
        text += "".join(
            f"cpu{cpu} " + " ".join(map(str, row)) + "\n" for cpu, row in counters.items()
        )
        host = attrs.evolve(last.host, stat=text + last.host.stat_layout.passthrough)
        view = last.view
        usage = view.cpu_usage
        if usage is not None:

            def step(time: CpuTime) -> CpuTime:
                return CpuTime(
                    max(0, time.user_ns + rng.randint(-1, 2) * tick_ns),
                    max(0, time.system_ns + rng.randint(-1, 2) * tick_ns),
                )

            per_cpu = (
                {cpu: step(time) for cpu, time in usage.per_cpu.items()}
                if usage.per_cpu is not None
                else None
            )
            usage = attrs.evolve(usage, per_cpu=per_cpu, total=step(usage.total))
        cpuset = view.cpuset
        if cpuset is not None and rng.random() < 0.3:
            size = max(1, len(cpuset.cpus & set(online)))
            cpuset = attrs.evolve(
                cpuset, cpus=frozenset(rng.sample(online, min(size, len(online))))
            )
        reads.append(
            attrs.evolve(last, host=host, view=attrs.evolve(view, cpu_usage=usage, cpuset=cpuset))
        )
    return reads


@settings(max_examples=300)
@given(_small_steps())
def test_same_output_for_reads_a_few_ticks_apart(reads: list[RenderInputs]) -> None:
    """Reads a few ticks apart, threaded through their histories: the same output at
    every step (single-tick folds and spreads, clamped growth, other CPUs shown)."""
    history = reads[0].history
    for inputs in reads:
        history = _assert_same(attrs.evolve(inputs, history=history)).history


@given(st.lists(st.integers(-3, 3), max_size=12), st.data())
def test_growth_is_max_of_zero_and_the_difference(now: list[int], data: st.DataObject) -> None:
    """The growth helper's shortcut (no clamping when nothing went back) changes nothing."""
    before = data.draw(st.lists(st.integers(-3, 3), min_size=len(now), max_size=len(now)))
    assert stat._grown(now, before) == [max(0, a - b) for a, b in zip(now, before, strict=True)]


# ======================================================================================
# The reference: lxcfs_model/render/stat.py at 81cf99b, verbatim (render renamed).
# ======================================================================================

_WIDTH = len(STAT_FIELDS)
_USER = STAT_FIELDS.index("user")
_SYSTEM = STAT_FIELDS.index("system")
_IDLE = STAT_FIELDS.index("idle")
_ZERO = (0,) * _WIDTH
_NS_PER_SECOND = 1_000_000_000


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


def _counters(value: object, width: int) -> tuple[int, ...] | None:
    if (
        isinstance(value, tuple)
        and len(value) == width
        and all(type(item) is int and item >= 0 for item in value)
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
    usage_by_cpu = [
        _counters(entry[1], 2)
        for entry, expected in zip(history.view, host_cpus, strict=False)
        if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == expected
    ]
    fits = len(usage_by_cpu) == len(lines) and len(history.view) == len(lines)
    usage_total = _counters(history.usage_total, 2)
    if usage_total is not None and fits:
        # The container's time on CPUs it does not see can never be negative.
        hidden = [
            usage_total[field] - sum(pair[field] for pair in usage_by_cpu if pair)
            for field in (0, 1)
        ]
        fits = min(hidden) >= 0
    previous = _Previous(
        lines=lines,
        host_cpus=tuple(host_cpus),
        host_counters=tuple(host_counters),
        usage_by_cpu=tuple(pair for pair in usage_by_cpu if pair is not None)
        if fits and all(pair is not None for pair in usage_by_cpu)
        else None,
        usage_total=usage_total,
    )
    return lines, previous


def _ticks(time: CpuTime, clk_tck: int) -> tuple[int, int]:
    return (
        max(0, time.user_ns) * clk_tck // _NS_PER_SECOND,
        max(0, time.system_ns) * clk_tck // _NS_PER_SECOND,
    )


def _growth(now: Sequence[int], before: Sequence[int]) -> tuple[int, ...]:
    return tuple(max(0, current - last) for current, last in zip(now, before, strict=True))


def _reference_render(inputs: RenderInputs) -> Rendered:
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

    host_now = [layout.cpu_counters.get(cpu, _ZERO) for cpu in shown]
    by_cpu_now: list[tuple[int, int]] | None = None
    total_now: tuple[int, int] | None = None
    if usage is not None and usage.per_cpu is not None:
        per_cpu_ticks = {cpu: _ticks(time, clk_tck) for cpu, time in usage.per_cpu.items()}
        by_cpu_now = [per_cpu_ticks.get(cpu, (0, 0)) for cpu in shown]
        total_now = (
            sum(user for user, _ in per_cpu_ticks.values()),
            sum(system for _, system in per_cpu_ticks.values()),
        )
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
                hidden_before = (
                    previous.usage_total[0] - sum(pair[0] for pair in previous.usage_by_cpu),
                    previous.usage_total[1] - sum(pair[1] for pair in previous.usage_by_cpu),
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

    host_growth = [_growth(now, before) for now, before in zip(host_now, host_before, strict=True)]
    busy_growth = [sum(growth) - growth[_IDLE] for growth in host_growth]
    elapsed = [sum(growth) for growth in host_growth]
    quantities = visible_quantities(visible, host.online_cpus)
    quantities |= {
        "quota": _describe_quota(visible),
        "clk_tck": clk_tck,
        "history": history_state,
        "folded_user": 0,
        "folded_system": 0,
        "partial_idle_removed": 0,
        "missing_host_lines": sum(1 for cpu in shown if cpu not in layout.cpu_counters),
    }

    if usage is None or total_now is None:
        quantities["usage_source"] = "none: the host's own times of these CPUs"
        increments = host_growth
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
            idle_growth = _remove_partial_cpu(visible, host_growth, idle_growth, quantities)
        increments = []
        for user, system, idle in zip(user_growth, system_growth, idle_growth, strict=True):
            line = [0] * _WIDTH
            line[_USER], line[_SYSTEM], line[_IDLE] = user, system, idle
            increments.append(tuple(line))

    lines = [
        tuple(base + grown for base, grown in zip(before, increment, strict=True))
        for before, increment in zip(base_lines, increments, strict=True)
    ]
    if last_lines is not None and len(last_lines) != count:
        lines = _carry_aggregate(last_lines, lines)

    aggregate = [sum(column) for column in zip(*lines, strict=True)] if lines else list(_ZERO)
    quantities["user"] = aggregate[_USER]
    quantities["system"] = aggregate[_SYSTEM]
    quantities["idle"] = aggregate[_IDLE]

    text_lines = ["cpu  " + " ".join(map(str, aggregate)) + "\n"]
    text_lines += [
        f"cpu{index} " + " ".join(map(str, line)) + "\n" for index, line in enumerate(lines)
    ]
    text_lines.append(layout.passthrough)

    stat_history = StatHistory(
        last_lines=tuple((f"cpu{index}", line) for index, line in enumerate(lines)),
        baseline=tuple(zip(shown, host_now, strict=True)),
        view=tuple(zip(shown, by_cpu_now, strict=True)) if by_cpu_now is not None else (),
        usage_total=total_now if total_now is not None else (),
    )
    return Rendered(
        text="".join(text_lines),
        history=attrs.evolve(inputs.history, stat=stat_history),
        quantities=quantities,
    )


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
    host_growth: Sequence[tuple[int, ...]],
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
    elapsed = sum(sum(growth) for growth in host_growth)
    removed = min(elapsed * (capacity_us - quota.quota_us) // capacity_us, sum(idle_growth))
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
