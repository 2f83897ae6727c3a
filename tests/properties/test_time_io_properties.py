"""Properties of /proc/uptime, /proc/loadavg and /proc/diskstats over generated inputs."""

from __future__ import annotations

import re

import attrs
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    host_diskstats_texts,
    init_processes,
    io_cgroups,
    render_inputs,
    task_states,
)

from lxcfs_model.history import LoadavgState
from lxcfs_model.render import diskstats, loadavg, uptime
from lxcfs_model.render.loadavg import FIXED_1, count_tasks, sample
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import Clock, InitProcess, IoCgroup, IoDeviceStats
from lxcfs_model.visible import visible_cpus

# Few CPUs keep host snapshots cheap; the CPU count only scales idle's upper bound.
SMALL_INPUTS = render_inputs(cpus=st.integers(1, 8))
UPTIME_LINE = re.compile(r"(\d+)\.(\d\d) (\d+)\.(\d\d)\n")
LOADAVG_LINE = re.compile(r"\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n")
COUNT = st.integers(0, 64)


def _centiseconds(whole: str, hundredths: str) -> int:
    return int(whole) * 100 + int(hundredths)


# -------------------------------------------------------------------------------- uptime


@given(SMALL_INPUTS)
def test_uptime_idle_lies_between_zero_and_uptime_times_visible_cpus(
    inputs: RenderInputs,
) -> None:
    """Printed idle is in [0, printed uptime x visible CPUs], uptime never exceeds boottime."""
    rendered = uptime.render(inputs)
    if inputs.view.init is None:
        assert rendered.text == inputs.host.uptime
        return
    match = UPTIME_LINE.fullmatch(rendered.text)
    assert match is not None, rendered.text
    age = _centiseconds(match[1], match[2])
    idle = _centiseconds(match[3], match[4])
    assert 0 <= idle <= age * visible_cpus(inputs).count
    assert age <= max(0, inputs.clock.boottime) * 100


@given(SMALL_INPUTS, init_processes(), st.floats())
def test_uptime_never_raises_and_never_prints_a_negative(
    inputs: RenderInputs, init: InitProcess, boottime: float
) -> None:
    """Any clock (NaN, infinite, negative, huge) gives a parsable line or the host file."""
    inputs = attrs.evolve(
        inputs, view=attrs.evolve(inputs.view, init=init), clock=Clock(boottime=boottime)
    )
    rendered = uptime.render(inputs)
    if rendered.fallback is not None:
        assert rendered.text == inputs.host.uptime
    else:
        assert UPTIME_LINE.fullmatch(rendered.text) is not None


# ------------------------------------------------------------------------------- loadavg


@given(st.integers(0, 1 << 20), st.integers(0, 1 << 20), st.integers(0, 1 << 20), COUNT, COUNT)
def test_loadavg_moves_monotonically_toward_the_input(
    one: int, five: int, fifteen: int, running: int, extra: int
) -> None:
    """Each step moves every average toward running x 2048 without overshooting, never < 0."""
    state = LoadavgState(avenrun=(one, five, fifteen))
    target = running * FIXED_1
    following = sample(state, running, running + extra, 1)
    for before, after in zip(state.avenrun, following.avenrun, strict=True):
        assert after >= 0
        if before < target:
            assert before < after <= target
        elif before > target:
            assert target <= after < before
        else:
            assert after == target


@given(st.integers(0, 1 << 20), COUNT)
def test_loadavg_constant_input_converges_exactly(start: int, running: int) -> None:
    """A constant task count is reached exactly (within 3000 samples from up to 512.00)."""
    state = LoadavgState(avenrun=(start, start, start))
    for _ in range(3000):
        state = sample(state, running, running, 1)
    assert state.avenrun == (running * FIXED_1,) * 3


@given(SMALL_INPUTS, st.lists(st.tuples(COUNT, COUNT, st.integers(0, 4194304)), max_size=20))
def test_loadavg_output_always_parses(
    inputs: RenderInputs, samples: list[tuple[int, int, int]]
) -> None:
    """After any samples the file is one kernel-format line, or the host file when off."""
    state = inputs.history.loadavg
    for running, total, last_pid in samples:
        state = sample(state, running, total, last_pid)
    inputs = attrs.evolve(inputs, history=attrs.evolve(inputs.history, loadavg=state))
    rendered = loadavg.render(inputs)
    if rendered.fallback is not None:
        assert rendered.text == inputs.host.loadavg
        assert not inputs.options.enable_loadavg or (state is None and inputs.view.cpu is None)
    else:
        assert inputs.options.enable_loadavg
        assert LOADAVG_LINE.fullmatch(rendered.text) is not None, rendered.text
        running, total = map(int, rendered.text.split()[3].split("/"))
        assert running <= total


@given(task_states())
def test_count_tasks_agrees_with_a_direct_count(states: list[tuple[int, str]]) -> None:
    """Running counts exactly the R and D entries, total every entry, last the top tid."""
    counts = count_tasks(states)
    assert counts.running == sum(1 for _, state in states if state[0] in "RD")
    assert counts.total == len(states)
    assert counts.last_pid == max((tid for tid, _ in states), default=0)


# ----------------------------------------------------------------------------- diskstats


@given(SMALL_INPUTS, io_cgroups(), host_diskstats_texts())
def test_diskstats_keeps_host_columns_and_order_and_prints_no_negatives(
    inputs: RenderInputs, io: IoCgroup, host_text: str
) -> None:
    """Every line is a host device with I/O, with that host line's column count, in host
    order, in the kernel's ``%4d %7d %s`` layout, no number negative or all of them zero."""
    inputs = attrs.evolve(
        inputs,
        view=attrs.evolve(inputs.view, io=io),
        host=attrs.evolve(inputs.host, diskstats=host_text),
    )
    rendered = diskstats.render(inputs)
    if io.path == "/":
        assert rendered.text == host_text
        return
    host_lines = {tuple(line.split()[:3]): line for line in host_text.splitlines()}
    host_order = [line.split()[2] for line in host_text.splitlines()]
    shown = []
    for line in rendered.text.splitlines():
        parts = line.split()
        host_line = host_lines[tuple(parts[:3])]
        assert line.startswith(f"{int(parts[0]):4d} {int(parts[1]):7d} {parts[2]} ")
        assert len(parts) == len(host_line.split())
        numbers = [int(value) for value in parts[3:]]
        assert all(value >= 0 for value in numbers) and any(numbers)
        shown.append(parts[2])
    assert shown == [name for name in host_order if name in shown]


@given(SMALL_INPUTS, io_cgroups(), host_diskstats_texts())
def test_diskstats_lists_every_device_with_io(
    inputs: RenderInputs, io: IoCgroup, host_text: str
) -> None:
    """A host device whose container stats print any nonzero number is listed, others not."""
    inputs = attrs.evolve(
        inputs,
        view=attrs.evolve(inputs.view, io=io),
        host=attrs.evolve(inputs.host, diskstats=host_text),
    )
    assert inputs.view.io is not None
    if io.path == "/":  # the root cgroup is served the host file
        return
    stats = {(d.major, d.minor): d for d in inputs.view.io.devices}
    expected = []
    for line in host_text.splitlines():
        parts = line.split()
        device = stats.get((int(parts[0]), int(parts[1])))
        width = len(parts) - 3
        if device is not None and any(diskstats.device_fields(device)[:width]):
            expected.append(parts[2])
    shown = [line.split()[2] for line in diskstats.render(inputs).text.splitlines()]
    assert shown == expected


@given(
    host_diskstats_texts(),
    st.lists(
        st.builds(
            IoDeviceStats,
            major=st.sampled_from((7, 8, 253, 259)),
            minor=st.integers(-1, 2),
            read_ios=st.integers(-(10**20), 10**20),
            read_bytes=st.integers(-(10**20), 10**20),
            write_ios=st.integers(-(10**20), 10**20),
            discard_bytes=st.integers(-(10**20), 10**20),
        ),
        max_size=8,
    ),
    SMALL_INPUTS,
)
def test_diskstats_never_prints_a_negative_for_bad_counters(
    host_text: str, devices: list[IoDeviceStats], inputs: RenderInputs
) -> None:
    """Negative counters from a broken source print as 0, never with a minus sign."""
    cgroup = IoCgroup(version="v2", path="/c", source="io.stat", devices=tuple(devices))
    inputs = attrs.evolve(
        inputs,
        view=attrs.evolve(inputs.view, io=cgroup),
        host=attrs.evolve(inputs.host, diskstats=host_text),
    )
    for line in diskstats.render(inputs).text.splitlines():
        assert all(int(value) >= 0 for value in line.split()[3:])
