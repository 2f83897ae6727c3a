"""Properties of the CPU files: one visible set everywhere, sums that add up, counters that
never go backwards, host lines that pass through untouched."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from strategies import cpu_read_sequences, render_inputs

from lxcfs_model import files
from lxcfs_model.cpuset import format_cpuset, parse_cpuset
from lxcfs_model.render import cpuinfo, stat, sys_cpu
from lxcfs_model.rendering import Rendered, RenderInputs
from lxcfs_model.snapshot import Snapshot, snapshot_from_json, snapshot_to_json
from lxcfs_model.visible import visible_cpus

MANY_CPUS = st.integers(1, 64)
_SYS = "sys/devices/system/cpu/"


def _stat_rows(rendered: Rendered) -> tuple[list[int], list[tuple[str, list[int]]]]:
    """The aggregate and the (label, counters) of each cpuN line of a rendered /proc/stat."""
    aggregate: list[int] = []
    rows = []
    for line in rendered.text.splitlines():
        label, *numbers = line.split(" ")
        if label == "cpu":
            aggregate = [int(n) for n in numbers if n != ""]
            assert line.startswith("cpu  ")  # two spaces, as the kernel prints it
        elif label.startswith("cpu") and label[3:].isdigit():
            rows.append((label, [int(n) for n in numbers]))
    return aggregate, rows


@given(render_inputs(cpus=MANY_CPUS))
def test_every_file_lists_the_same_visible_cpus(inputs: RenderInputs) -> None:
    """cpuinfo processors, stat cpuN lines, online/possible/present and the cpu directory
    map all show the same k CPUs, numbered 0..k-1."""
    visible = visible_cpus(inputs)
    count = visible.count
    assert count >= 1
    expected_numbers = list(range(count))

    info = cpuinfo.render(inputs)
    assert info.fallback is None
    processors = [line for line in info.text.splitlines() if line.startswith("processor")]
    assert processors == [f"processor\t: {k}" for k in expected_numbers]

    _, rows = _stat_rows(stat.render(inputs))
    assert [label for label, _ in rows] == [f"cpu{k}" for k in expected_numbers]

    for name in ("online", "possible", "present"):
        text = files.render(_SYS + name, inputs).text
        assert text.endswith("\n")
        assert sorted(parse_cpuset(text)) == expected_numbers
    assert files.render(_SYS + "offline", inputs).text == "\n"

    mapping = sys_cpu.cpu_directory_map(inputs)
    assert list(mapping) == [f"cpu{k}" for k in expected_numbers]
    assert list(mapping.values()) == [f"cpu{cpu}" for cpu in visible.host_cpus]


@given(render_inputs(cpus=MANY_CPUS))
def test_cpuinfo_blocks_are_the_hosts_verbatim(inputs: RenderInputs) -> None:
    """Each shown block is the host block of the CPU it stands for, after the processor line."""
    text = cpuinfo.render(inputs).text
    host_blocks = inputs.host.cpuinfo.split("processor\t: ")[1:]
    by_cpu = {int(block.split("\n", 1)[0]): block.split("\n", 1)[1] for block in host_blocks}
    shown = text.split("processor\t: ")[1:]
    for index, (block, cpu) in enumerate(zip(shown, visible_cpus(inputs).host_cpus, strict=True)):
        number, body = block.split("\n", 1)
        assert number == str(index)
        assert body == by_cpu[cpu]


@given(render_inputs(cpus=MANY_CPUS))
def test_stat_aggregate_is_the_sum_and_nothing_is_negative(inputs: RenderInputs) -> None:
    """The `cpu  ` line is the field-wise sum of the cpuN lines; all have ten counters >= 0."""
    rendered = stat.render(inputs)
    assert rendered.fallback is None
    aggregate, rows = _stat_rows(rendered)
    assert len(aggregate) == 10
    assert all(len(counters) == 10 for _, counters in rows)
    assert aggregate == [sum(column) for column in zip(*(c for _, c in rows), strict=True)]
    assert min(aggregate) >= 0


@given(render_inputs(cpus=MANY_CPUS))
def test_stat_passes_the_other_host_lines_through_in_order(inputs: RenderInputs) -> None:
    """After the cpu lines comes every non-cpu host line, byte for byte, in host order."""
    text = stat.render(inputs).text
    host_rest = "".join(
        line for line in inputs.host.stat.splitlines(keepends=True) if not line.startswith("cpu")
    )
    cpu_part = "".join(line for line in text.splitlines(keepends=True) if line.startswith("cpu"))
    assert text == cpu_part + host_rest
    assert "btime " in host_rest and "btime " in text


@given(cpu_read_sequences())
def test_stat_counters_never_go_backwards(sequence: list[RenderInputs]) -> None:
    """Across reads with growing host counters, cgroup usage that grows or restarts, and
    cpusets that change: the aggregate never decreases, nor does any cpuN line while the
    number of visible CPUs stays the same."""
    history = sequence[0].history
    before: tuple[list[int], list[tuple[str, list[int]]]] | None = None
    for inputs in sequence:
        rendered = stat.render(
            RenderInputs(
                view=inputs.view, host=inputs.host, options=inputs.options, history=history
            )
        )
        assert rendered.fallback is None
        history = rendered.history
        aggregate, rows = _stat_rows(rendered)
        assert aggregate == [sum(column) for column in zip(*(c for _, c in rows), strict=True)]
        if before is not None:
            previous_aggregate, previous_rows = before
            assert all(now >= then for now, then in zip(aggregate, previous_aggregate, strict=True))
            if len(rows) == len(previous_rows):
                for (_, now_row), (_, then_row) in zip(rows, previous_rows, strict=True):
                    assert all(now >= then for now, then in zip(now_row, then_row, strict=True))
        before = (aggregate, rows)


def _usage_ticks(inputs: RenderInputs) -> tuple[int, int] | None:
    """The container's (user, system) ticks as stat counts them (per CPU on v1)."""
    usage = inputs.view.cpu_usage
    if usage is None:
        return None
    tck = inputs.host.clk_tck
    times = list(usage.per_cpu.values()) if usage.per_cpu is not None else [usage.total]
    return (
        sum(t.user_ns * tck // 10**9 for t in times),
        sum(t.system_ns * tck // 10**9 for t in times),
    )


@given(cpu_read_sequences())
def test_stat_accounts_for_exactly_the_containers_growth(sequence: list[RenderInputs]) -> None:
    """Between two reads showing the same host CPUs, with no usage counter going back, the
    aggregate user and system grow by exactly the container's growth in ticks (v1 time on
    unseen CPUs is folded in, v2 totals are spread, nothing is lost or invented)."""
    history = sequence[0].history
    previous: tuple[RenderInputs, list[int]] | None = None
    for inputs in sequence:
        rendered = stat.render(
            RenderInputs(
                view=inputs.view, host=inputs.host, options=inputs.options, history=history
            )
        )
        history = rendered.history
        aggregate, _ = _stat_rows(rendered)
        now = _usage_ticks(inputs)
        if previous is not None and now is not None:
            before_inputs, before_aggregate = previous
            then = _usage_ticks(before_inputs)
            same_cpus = visible_cpus(inputs).host_cpus == visible_cpus(before_inputs).host_cpus
            usage, before_usage = inputs.view.cpu_usage, before_inputs.view.cpu_usage
            assert usage is not None and before_usage is not None and then is not None
            if usage.per_cpu is not None and before_usage.per_cpu is not None:
                grew = all(
                    usage.per_cpu[cpu].user_ns >= before_usage.per_cpu[cpu].user_ns
                    and usage.per_cpu[cpu].system_ns >= before_usage.per_cpu[cpu].system_ns
                    for cpu in usage.per_cpu
                )
            else:
                grew = now[0] >= then[0] and now[1] >= then[1]
            if same_cpus and grew:
                assert aggregate[0] - before_aggregate[0] == now[0] - then[0]
                assert aggregate[2] - before_aggregate[2] == now[1] - then[1]
        previous = (inputs, aggregate)


@given(render_inputs(cpus=st.just(512)))
def test_512_cpu_hosts_render_whole(inputs: RenderInputs) -> None:
    """Big hosts (512 CPUs, counters up to 20 digits) render every visible CPU in full."""
    count = visible_cpus(inputs).count
    _, rows = _stat_rows(stat.render(inputs))
    assert len(rows) == count
    assert cpuinfo.render(inputs).text.count("processor\t: ") == count
    assert files.render(_SYS + "online", inputs).text == format_cpuset(range(count)) + "\n"


@given(cpu_read_sequences(reads=st.just(2)))
def test_stat_history_survives_a_json_snapshot(sequence: list[RenderInputs]) -> None:
    """The history a read returns, saved as JSON and loaded back, renders the next read
    exactly like the live value (the daemon can keep it across a reload)."""
    first, second = sequence
    history = stat.render(first).history
    live = RenderInputs(view=second.view, host=second.host, options=second.options, history=history)
    loaded = snapshot_from_json(snapshot_to_json(Snapshot.of(live))).inputs()
    assert loaded.history == history
    assert stat.render(loaded).text == stat.render(live).text
