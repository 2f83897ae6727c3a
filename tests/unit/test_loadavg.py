"""/proc/loadavg: the kernel's fixed-point load averages, task counting and the file's format."""

from __future__ import annotations

from lxcfs_model.explain import explain
from lxcfs_model.history import ContainerHistory, LoadavgState, StatHistory
from lxcfs_model.render import loadavg
from lxcfs_model.render.loadavg import count_tasks, format_load, sample
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import (
    CgroupView,
    CpuCgroup,
    HostSnapshot,
    InitProcess,
    RenderOptions,
)

HOST_LOADAVG = "1.52 0.93 0.40 3/411 98765\n"
CPU = CpuCgroup(version="v1", path="/c1", quotas=())
ENABLED = RenderOptions(enable_loadavg=True)


def _inputs(
    state: LoadavgState | None,
    options: RenderOptions = ENABLED,
    cpu: CpuCgroup | None = CPU,
    init: InitProcess | None = None,
) -> RenderInputs:
    host = HostSnapshot(
        meminfo="",
        cpuinfo="",
        stat="",
        uptime="",
        loadavg=HOST_LOADAVG,
        diskstats="",
        swaps="",
        online="0-1\n",
    )
    return RenderInputs(
        view=CgroupView(cpu=cpu, init=init),
        host=host,
        options=options,
        history=ContainerHistory(loadavg=state),
    )


def _text(state: LoadavgState) -> str:
    return loadavg.render(_inputs(state)).text


# ------------------------------------------------------------------------------ sample


def test_spec_observation_idle_sample_then_one_busy_task() -> None:
    """Spec 3.8's 5.0.3 run: 0/3 idle, then one busy task gives exactly 0.08 0.02 0.01 1/4.

    By hand, from 0 with active = 1 x 2048: 1 min: (2048 x 164 + 2047) >> 11 = 164, shown
    ((174 & 2047) x 100) >> 11 = 8; 5 min: (2048 x 34 + 2047) >> 11 = 34 -> 44 -> 2;
    15 min: (2048 x 11 + 2047) >> 11 = 11 -> 21 -> 1.
    """
    idle = sample(None, running=0, total=3, last_pid=7642)
    assert idle == LoadavgState(avenrun=(0, 0, 0), running=0, total=3, last_pid=7642)
    assert _text(idle) == "0.00 0.00 0.00 0/3 7642\n"
    busy = sample(idle, running=1, total=4, last_pid=7670)
    assert busy == LoadavgState(avenrun=(164, 34, 11), running=1, total=4, last_pid=7670)
    assert _text(busy) == "0.08 0.02 0.01 1/4 7670\n"


def test_second_busy_sample() -> None:
    """Second sample of one busy task: 1 min (164 x 1884 + 2048 x 164 + 2047) >> 11 = 315
    (0.15), 5 min (34 x 2014 + 2048 x 34 + 2047) >> 11 = 68 (0.03), 15 min 22 (0.01)."""
    state = sample(sample(None, 1, 1, 10), 1, 1, 10)
    assert state.avenrun == (315, 68, 22)
    assert _text(state) == "0.15 0.03 0.01 1/1 10\n"


def test_one_busy_task_for_a_minute_matches_the_exponential() -> None:
    """12 samples (60 s) of one task show 0.63 0.18 0.06: 1 - e^-1, 1 - e^-1/5, 1 - e^-1/15
    (0.632, 0.181, 0.064) in the kernel's two truncated decimals."""
    state = None
    for _ in range(12):
        state = sample(state, running=1, total=1, last_pid=1)
    assert state is not None
    assert _text(state) == "0.63 0.18 0.06 1/1 1\n"


def test_constant_input_is_reached_exactly() -> None:
    """The +2047 rounding lets a constant load of 3 tasks reach 3 x 2048 exactly, and stay."""
    state = None
    for _ in range(4000):
        state = sample(state, running=3, total=9, last_pid=50)
    assert state is not None
    assert state.avenrun == (6144, 6144, 6144)
    assert _text(state) == "3.00 3.00 3.00 3/9 50\n"
    assert sample(state, 3, 9, 50).avenrun == (6144, 6144, 6144)


def test_decay_without_the_rounding_term() -> None:
    """From 1.00 with no runnable task: 2048 x e >> 11 = e, shown as 0.92 0.98 0.99."""
    state = sample(LoadavgState(avenrun=(2048, 2048, 2048)), running=0, total=5, last_pid=9)
    assert state.avenrun == (1884, 2014, 2037)
    assert _text(state) == "0.92 0.98 0.99 0/5 9\n"


def test_empty_cgroup_restarts_from_zero() -> None:
    """A sample without tasks resets the averages, as upstream drops the node."""
    state = sample(LoadavgState(avenrun=(9000, 9000, 9000), running=4, total=4), 0, 0, 77)
    assert state == LoadavgState(avenrun=(0, 0, 0), running=0, total=1, last_pid=77)


def test_bad_counts_are_clamped() -> None:
    """Negative counts count as 0, running never exceeds total, a bad state is not trusted."""
    assert sample(None, running=-5, total=3, last_pid=-1) == LoadavgState(total=3, last_pid=0)
    capped = sample(None, running=10, total=2, last_pid=4)
    assert capped.running == 2
    assert capped.avenrun == sample(None, 2, 2, 4).avenrun
    negative = LoadavgState(avenrun=(-100, -100, -100))
    assert sample(negative, 0, 1, 1).avenrun == (0, 0, 0)


# ---------------------------------------------------------------------------- counting


def test_count_tasks_counts_running_and_uninterruptible() -> None:
    """R and D are active (the kernel's nr_active); S, I, Z, T are not; last is the top tid."""
    states = [(10, "R"), (12, "S"), (11, "D (disk sleep)"), (15, "Z"), (13, "I"), (14, "T")]
    assert count_tasks(states) == (2, 6, 15)
    assert count_tasks([]) == (0, 0, 0)
    assert count_tasks([(3, ""), (2, " R (running)")]).running == 1


# ---------------------------------------------------------------------------- format


def test_format_rounds_like_the_kernel() -> None:
    """avenrun + 10, then LOAD_INT/LOAD_FRAC: 2037 -> 0.99, 2038 -> 1.00, 2048 -> 1.00,
    3 x 2048 + 1024 -> 3.50; a bad negative value shows 0.00."""
    assert format_load(0) == "0.00"
    assert format_load(2037) == "0.99"
    assert format_load(2038) == "1.00"
    assert format_load(2048) == "1.00"
    assert format_load(3 * 2048 + 1024) == "3.50"
    assert format_load(-5) == "0.00"


# ---------------------------------------------------------------------------- render


def test_without_enable_loadavg_the_host_file_is_served() -> None:
    """Load averages are opt-in: without the option the host file passes through verbatim."""
    rendered = loadavg.render(_inputs(LoadavgState(avenrun=(1, 2, 3)), options=RenderOptions()))
    assert rendered.text == HOST_LOADAVG
    assert rendered.fallback is not None


def test_first_read_shows_zeros_and_the_init_pid_and_registers_the_state() -> None:
    """Before any sample: ``0.00 0.00 0.00 0/1 <init pid>``, and that fresh state is returned
    so the sampler learns about the container (upstream inserts its node on first read)."""
    stat = StatHistory(last_lines=(("cpu", (1,) * 10),))
    inputs = RenderInputs(
        view=CgroupView(cpu=CPU, init=InitProcess(pid=7633, start_ticks=0)),
        host=_inputs(None).host,
        options=ENABLED,
        history=ContainerHistory(stat=stat, loadavg=None),
    )
    rendered = loadavg.render(inputs)
    assert rendered.text == "0.00 0.00 0.00 0/1 7633\n"
    assert rendered.history == ContainerHistory(stat=stat, loadavg=LoadavgState(last_pid=7633))


def test_first_read_without_init_shows_pid_zero() -> None:
    """No init known: the last-pid field is 0."""
    assert loadavg.render(_inputs(None)).text == "0.00 0.00 0.00 0/1 0\n"


def test_no_state_and_no_cpu_cgroup_serves_the_host_file() -> None:
    """Nothing sampled and no cpu cgroup to sample in: the host file (spec 3.12)."""
    rendered = loadavg.render(_inputs(None, cpu=None))
    assert rendered.text == HOST_LOADAVG
    assert rendered.fallback is not None


def test_a_sampled_state_is_shown_even_without_cpu_cgroup() -> None:
    """Once the sampler produced a state, it is the container's answer."""
    assert loadavg.render(_inputs(LoadavgState((164, 34, 11), 1, 4, 9), cpu=None)).text == (
        "0.08 0.02 0.01 1/4 9\n"
    )


def test_malformed_state_is_shown_sanely() -> None:
    """Negative or short saved values never print a minus sign or raise."""
    state = LoadavgState(avenrun=(-1, 2048), running=-3, total=-2, last_pid=-9)  # type: ignore[arg-type]
    assert _text(state) == "0.00 1.00 0.00 0/0 0\n"


def test_explain_fills_the_line_rule_from_the_quantities() -> None:
    """--explain covers the line with the loadavg rule, every placeholder filled."""
    rendered = loadavg.render(_inputs(LoadavgState((164, 34, 11), 1, 4, 9)))
    (line,) = explain(loadavg.PROVENANCE, rendered).lines
    assert line.rule is not None
    assert "?" not in line.explanation
    assert line.explanation.startswith("0.08 0.02 0.01: every 5 s")
    assert "avenrun 164/34/11 + 10; 1/4: tasks in state R or D" in line.explanation
