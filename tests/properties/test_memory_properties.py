"""Properties of the memory-side files over random hosts and containers (tests/strategies.py).

Each property reads as a sentence; together they pin down "never garbage": every line parses,
every host label appears once in host order, nothing is negative, frees never exceed totals,
and a fallback is the host's text exactly.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from strategies import host_meminfo_values, host_snapshots, kernel_meminfo_line, render_inputs

from lxcfs_model.host_memory import COMPUTED_LABELS
from lxcfs_model.memory import ram_limit
from lxcfs_model.render import meminfo, pressure, slabinfo, swaps
from lxcfs_model.rendering import RenderInputs

# Small hosts: the memory files do not depend on the CPU count.
INPUTS = render_inputs(cpus=st.integers(1, 4))
COMPUTED_LINE = re.compile(r"(?P<label>[A-Za-z_()]+):(?P<pad> +)(?P<value>[0-9]+) kB\n")
SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n"
SWAPS_DEVICE = re.compile(r"none {36}virtual\t\t(?P<size>[0-9]+)\t(?P<used>[0-9]+)\t0\n")


def labels(text: str) -> list[str]:
    return [line.partition(":")[0] for line in text.splitlines()]


def computed_values(text: str) -> dict[str, int]:
    """The computed lines of a rendered meminfo, each checked to be in kernel format."""
    found = {}
    for line in text.splitlines(keepends=True):
        label = line.partition(":")[0]
        if label in COMPUTED_LABELS:
            match = COMPUTED_LINE.fullmatch(line)
            assert match is not None, line
            assert len(label) + 1 + len(match["pad"]) + len(match["value"]) == max(
                24, 16 + len(match["value"])
            ), line  # "%-16s%8lu": the value ends in column 24 unless wider than 8 digits
            found[label] = int(match["value"])
    return found


def virtualized(inputs: RenderInputs) -> bool:
    return inputs.view.memory is not None and inputs.host.meminfo_kb.get("MemTotal", 0) > 0


@given(INPUTS)
def test_meminfo_is_the_host_file_with_computed_lines_swapped_in(inputs: RenderInputs) -> None:
    """Every host label appears exactly as often and in the same order, lines that are not
    computed are the host's byte for byte, and a fallback is the host's text exactly."""
    rendered = meminfo.render(inputs)
    if not virtualized(inputs):
        assert rendered.text == inputs.host.meminfo
        assert rendered.fallback
        return
    assert rendered.fallback is None
    assert labels(rendered.text) == labels(inputs.host.meminfo)
    host_lines = inputs.host.meminfo.splitlines(keepends=True)
    for ours, theirs in zip(rendered.text.splitlines(keepends=True), host_lines, strict=True):
        if theirs.partition(":")[0] not in COMPUTED_LABELS:
            assert ours == theirs


@given(INPUTS)
def test_meminfo_numbers_are_sane(inputs: RenderInputs) -> None:
    """0 <= MemFree <= MemAvailable <= MemTotal <= host MemTotal, MemTotal > 0 and is the
    smallest limit (host MemTotal without one of at least 1 kB), 0 <= SwapFree <= SwapTotal
    <= host SwapTotal, no swap with --disable-swap or without swap accounting, and every
    computed line is in kernel format, whatever the inputs."""
    memory = inputs.view.memory
    if memory is None or not virtualized(inputs):
        return
    shown = computed_values(meminfo.render(inputs).text)
    host = inputs.host.meminfo_kb
    assert 0 < shown["MemTotal"] <= host["MemTotal"]
    assert 0 <= shown["MemFree"] <= shown["MemAvailable"] <= shown["MemTotal"]
    assert 0 <= shown["SwapFree"] <= shown["SwapTotal"] <= host["SwapTotal"]
    assert all(value >= 0 for value in shown.values())

    finite = [level.limit for level in memory.limits if level.limit is not None]
    expected_total = host["MemTotal"]
    if finite and min(finite) // 1024 > 0 and min(finite) < 2**62:
        expected_total = min(min(finite) // 1024, host["MemTotal"])
    assert shown["MemTotal"] == expected_total
    assert (ram_limit(memory) is None) == (not finite or min(finite) >= 2**62)

    if inputs.options.disable_swap or memory.swap is None:
        assert (shown["SwapTotal"], shown["SwapFree"]) == (0, 0)


@given(INPUTS)
def test_swaps_is_header_and_at_most_one_device_agreeing_with_meminfo(
    inputs: RenderInputs,
) -> None:
    """/proc/swaps is upstream's header plus, only when SwapTotal > 0, one 'none' device whose
    Size is SwapTotal and Used SwapTotal - SwapFree; without a memory cgroup it is the host's."""
    rendered = swaps.render(inputs)
    if inputs.view.memory is None:
        assert rendered.text == inputs.host.swaps
        return
    assert rendered.text.startswith(SWAPS_HEADER)
    device = rendered.text[len(SWAPS_HEADER) :]
    shown = computed_values(meminfo.render(inputs).text) if virtualized(inputs) else None
    if device:
        match = SWAPS_DEVICE.fullmatch(device)
        assert match is not None, device
        size, used = int(match["size"]), int(match["used"])
        assert 0 <= used <= size and size > 0
        if shown is not None:
            assert (size, used) == (shown["SwapTotal"], shown["SwapTotal"] - shown["SwapFree"])
    elif shown is not None:
        assert shown["SwapTotal"] == 0


@given(INPUTS)
def test_slabinfo_and_pressure_are_the_cgroup_text_or_the_host_text(
    inputs: RenderInputs,
) -> None:
    """slabinfo is the cgroup's memory.kmem.slabinfo when it has one, each pressure file the
    cgroup's PSI text when it has one; otherwise each is the host's file."""
    memory = inputs.view.memory
    own_slab = memory.kmem_slabinfo if memory is not None else None
    expected = own_slab if own_slab is not None else (inputs.host.slabinfo or "")
    assert slabinfo.render(inputs).text == expected

    cgroup = inputs.view.pressure
    for render, name in (
        (pressure.render_cpu, "cpu"),
        (pressure.render_io, "io"),
        (pressure.render_memory, "memory"),
    ):
        own = getattr(cgroup, name) if cgroup is not None else None
        host_text = getattr(inputs.host, f"pressure_{name}") or ""
        assert render(inputs).text == (own if own is not None else host_text)


@given(INPUTS)
def test_renderers_never_raise_and_report_quantities(inputs: RenderInputs) -> None:
    """Every memory-side renderer returns text for any input; a virtualized meminfo fills
    every placeholder of its provenance table."""
    for render in (meminfo.render, swaps.render, slabinfo.render, pressure.render_cpu):
        assert isinstance(render(inputs).text, str)
    rendered = meminfo.render(inputs)
    if rendered.fallback is None:
        for rule in meminfo.PROVENANCE.rules:
            assert "?" not in rule.describe(rendered.quantities).replace("(?", ""), rule.label


# ---------------------------------------------------------------- the strategies themselves


@given(host_meminfo_values(swap=st.booleans(), huge=st.booleans()))
def test_strategy_meminfo_lines_are_kernel_format(values: dict[str, int]) -> None:
    """The host meminfo the strategies build parses back to the values it was built from,
    and stays plausible (free <= total, swap free <= swap total)."""
    text = "".join(kernel_meminfo_line(label, value) for label, value in values.items())
    parsed = {line.partition(":")[0]: int(line.split()[1]) for line in text.splitlines()}
    assert parsed == values
    assert values["MemFree"] <= values["MemTotal"]
    assert values["SwapFree"] <= values["SwapTotal"]


@given(host_snapshots(cpus=st.integers(1, 8)))
def test_strategy_host_snapshots_are_consistent(host: object) -> None:
    """Host snapshots list as many cpuinfo blocks and cpuN lines as online CPUs, and the
    stat aggregate line starts with 'cpu  ' (two spaces)."""
    from lxcfs_model.values import HostSnapshot

    assert isinstance(host, HostSnapshot)
    online = host.online_cpus
    assert host.cpuinfo.count("processor\t: ") == len(online)
    assert host.stat.startswith("cpu  ")
    cpu_lines = [line for line in host.stat.splitlines() if re.match(r"cpu[0-9]+ ", line)]
    assert [int(line.split()[0][3:]) for line in cpu_lines] == sorted(online)
    assert all(len(line.split()) == 11 for line in cpu_lines)
