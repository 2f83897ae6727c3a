"""What the daemon's memo of /proc/uptime and /proc/stat texts relies on (``lxcfs_fuse.content``
rule 7), proved of the renderers themselves.

The daemon serves a kept uptime text to a request whose inputs are the very same objects and
whose clock has the same ``uptime.text_clock``; it serves a kept stat text to a request with
the very same inputs and history object, whatever its clock and load averages; it keeps the
history it was given when the render handed back one ``interchangeable`` with it, and else
keeps the text with the history the render handed back (a render is a fixed point). Each of
those is sound only if the properties below hold.
"""

from __future__ import annotations

import math

import attrs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lxcfs_model.history import ContainerHistory, StatHistory, interchangeable
from lxcfs_model.render import stat, uptime
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import Clock
from tests.strategies import (
    clocks,
    container_histories,
    cpu_read_sequences,
    hostile_stat_inputs,
    render_inputs,
)

SMALL_HOSTS = st.integers(1, 16)
NOT_FINITE = st.sampled_from((math.nan, math.inf, -math.inf, 1e307, -1e307))


@settings(max_examples=300)
@given(render_inputs(cpus=SMALL_HOSTS), st.data())
def test_uptime_reads_the_clock_only_through_text_clock(
    inputs: RenderInputs, data: st.DataObject
) -> None:
    """Two clocks with the same ``text_clock`` give the same uptime text: clocks a few
    milliseconds apart, either end of a centisecond, or two clocks that are no finite
    number of centiseconds."""
    if data.draw(st.integers(0, 4)) == 0:
        inputs = attrs.evolve(inputs, clock=Clock(boottime=data.draw(NOT_FINITE)))
    boottime = inputs.clock.boottime
    moment = uptime.text_clock(inputs.clock)
    candidates = [st.floats(boottime - 0.02, boottime + 0.02)] if moment is not None else []
    if moment is not None:
        candidates.append(st.floats(0.0, 0.999999).map(lambda part: (moment + part) / 100))
    other = Clock(boottime=data.draw(st.one_of(*candidates, NOT_FINITE)))
    assume(uptime.text_clock(other) == moment)
    moved = attrs.evolve(inputs, clock=other)
    assert uptime.render(moved).text == uptime.render(inputs).text


@given(st.sampled_from((math.nan, math.inf, -math.inf, 1e307)), st.integers(-1, 10**30))
def test_text_clock_is_none_exactly_when_render_has_no_finite_clock(odd: float, whole: int) -> None:
    """Non-finite clocks (and those beyond a float once scaled) have no text_clock; a finite
    one has its whole centiseconds, rounded down; an int beyond any float has a key of its
    own, equal to no number of centiseconds."""
    assert uptime.text_clock(Clock(boottime=odd)) is None
    assert uptime.text_clock(Clock(boottime=12.345)) == 1234
    assert uptime.text_clock(Clock(boottime=-0.001)) == -1
    assert uptime.text_clock(Clock(boottime=10**400)) == ("beyond a float", 10**400)
    expected = math.floor(whole * 100)
    assert uptime.text_clock(Clock(boottime=whole)) == expected


@settings(max_examples=100)
@given(render_inputs(cpus=SMALL_HOSTS), st.data())
def test_stat_never_reads_the_clock_or_load_averages(
    inputs: RenderInputs, data: st.DataObject
) -> None:
    """Any other clock and load-average history give the same stat text and stat history:
    the memo's key leaves both out."""
    drawn = data.draw(container_histories(sorted(inputs.host.online_cpus)))
    other = attrs.evolve(
        inputs,
        clock=data.draw(clocks(inputs.view.init, inputs.host.clk_tck)),
        history=attrs.evolve(inputs.history, loadavg=drawn.loadavg),
    )
    first, second = stat.render(inputs), stat.render(other)
    assert second.text == first.text
    assert repr(second.history.stat) == repr(first.history.stat)


def _assert_fixed_point(inputs: RenderInputs) -> StatHistory:
    """Rendered again with the history it handed back, a read gives the same text and an
    interchangeable history (stat rule 6); the daemon keeps the first text for the second
    read of a window on that promise. Returns the first render's history."""
    first = stat.render(inputs)
    again = stat.render(attrs.evolve(inputs, history=first.history))
    assert again.text == first.text
    assert first.history.stat is not None and again.history.stat is not None
    assert interchangeable(again.history.stat, first.history.stat)
    assert interchangeable(first.history.stat, again.history.stat)
    return first.history.stat


@settings(max_examples=300)
@given(hostile_stat_inputs())
def test_a_render_is_a_fixed_point_for_any_request(inputs: RenderInputs) -> None:
    """Any request (v1, v2, no usage, odd CLK_TCK, negative or misplaced usage, a drawn
    history that may not fit): the second read of the same inputs gives the same text and
    an interchangeable history."""
    _assert_fixed_point(inputs)


@settings(max_examples=150)
@given(cpu_read_sequences())
def test_every_read_of_a_chain_is_a_fixed_point(sequence: list[RenderInputs]) -> None:
    """Along reads threaded through their histories (counters growing, usage restarting,
    cpusets changing, --enable-cfs quotas), each read is a fixed point."""
    history = sequence[0].history
    for inputs in sequence:
        stat_history = _assert_fixed_point(attrs.evolve(inputs, history=history))
        history = attrs.evolve(inputs.history, stat=stat_history)


class _IntLike(int):
    """An int that is not exactly an int."""


class _StrLike(str):
    """A str that is not exactly a str."""


class _TupleLike(tuple):  # type: ignore[type-arg]
    """A tuple that is not exactly a tuple."""


def _equal_stand_ins(value: object) -> list[object]:
    """Values equal to ``value`` of another type: what a history saved by something else may
    hold."""
    if type(value) is int:
        stand_ins: list[object] = [_IntLike(value)]
        if float(value) == value:  # a float holds it exactly
            stand_ins.append(float(value))
        if value in (0, 1):
            stand_ins.append(bool(value))
        return stand_ins
    if type(value) is str:
        return [_StrLike(value)]
    if type(value) is tuple:
        return [_TupleLike(value)]
    return []


def _paths(value: object, path: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Every node of nested tuples, as index paths."""
    found = [path]
    if isinstance(value, tuple):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replaced(value: object, path: tuple[int, ...], new: object) -> object:
    if not path:
        return new
    assert isinstance(value, tuple)
    head, rest = path[0], path[1:]
    return (*value[:head], _replaced(value[head], rest, new), *value[head + 1 :])


@settings(max_examples=300)
@given(cpu_read_sequences(reads=st.just(2)), st.data())
def test_an_equal_history_of_other_types_is_not_interchangeable(
    sequence: list[RenderInputs], data: st.DataObject
) -> None:
    """A real history with one node swapped for an equal value of another type (a float,
    a bool, an int, str or tuple subclass) is equal but not interchangeable; an exact copy
    is interchangeable; and interchangeable histories give the next read the same text and
    history."""
    first, second = sequence
    history = stat.render(first).history.stat
    assert history is not None
    field = data.draw(st.sampled_from([field.name for field in attrs.fields(StatHistory)]))
    value = getattr(history, field)
    path = data.draw(st.sampled_from(_paths(value)))
    node = value
    for index in path:
        node = node[index]
    stand_ins = _equal_stand_ins(node)
    copy = attrs.evolve(history, **{field: _replaced(value, path, _copied(node))})
    assert interchangeable(history, copy) and interchangeable(copy, history)
    _assert_same_next_read(second, history, copy)
    if stand_ins:
        bent = attrs.evolve(
            history, **{field: _replaced(value, path, data.draw(st.sampled_from(stand_ins)))}
        )
        assert bent == history
        assert not interchangeable(history, bent) and not interchangeable(bent, history)


def _copied(node: object) -> object:
    """An equal node of the same types that is another object where Python allows it."""
    if type(node) is tuple:
        return tuple(_copied(item) for item in node)
    if type(node) is int:
        return int(str(node))
    if type(node) is str:
        return "".join(list(node))
    return node


def _assert_same_next_read(inputs: RenderInputs, one: StatHistory, other: StatHistory) -> None:
    with_one = stat.render(attrs.evolve(inputs, history=ContainerHistory(stat=one)))
    with_other = stat.render(attrs.evolve(inputs, history=ContainerHistory(stat=other)))
    assert with_one.text == with_other.text
    assert repr(with_one.history) == repr(with_other.history)


def test_histories_that_differ_or_are_of_other_classes_are_not_interchangeable() -> None:
    """Unequal histories, and a history against a value of another class with the same
    fields, are not interchangeable; one object always is with itself."""

    @attrs.frozen
    class Lookalike:
        last_lines: tuple[object, ...] = ()
        baseline: tuple[object, ...] = ()
        view: tuple[object, ...] = ()
        usage_total: tuple[int, ...] = ()

    history = StatHistory(last_lines=(("cpu0", (1,) * 10),), baseline=((0, (1,) * 10),))
    assert interchangeable(history, history)
    assert not interchangeable(history, attrs.evolve(history, usage_total=(1, 2)))
    assert not interchangeable(history, Lookalike(history.last_lines, history.baseline))  # type: ignore[arg-type]
    odd = StatHistory(last_lines=[("cpu0", (1,) * 10)])  # type: ignore[arg-type]
    assert not interchangeable(odd, attrs.evolve(odd, last_lines=list(odd.last_lines)))
