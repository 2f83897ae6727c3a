"""Target 4: the cost of every pure renderer, in microseconds per render.

Inputs: the ``v1-nested`` fixture tree (a 2-CPU host, container ``/lxc/c1`` with memory,
memsw, CFS and cpuset limits) and the same container on a synthesized 512-CPU host (the
fixture's CPU blocks and counters repeated with their numbers changed, cpuset 0-511,
per-CPU usage on every CPU).

Two figures per file:
- ``cold``: a new ``HostSnapshot`` for every render (its parsed layouts are cached per
  snapshot object), what a request costs when nothing is shared; the snapshots and inputs
  are built before the timed loop (``_time_each``), so only the render is timed;
- ``warm``: one snapshot reused, what the daemon pays while ``CachingReader`` shares it.
Each is the best of five timing runs in the timing thread's CPU time (other work on a
shared machine takes CPUs away, but is not counted). The runs are interleaved: each of the
five rounds times every file and figure once, so a slow spell of the machine (this VM has
them, a second or so at half speed) spoils one run of several figures, not all five runs
of one (eleventh round: meminfo at 41 us in a run where it was 24-27 in the others, and
faster on the 512-CPU host than on the 2-CPU one).
"""

from __future__ import annotations

import gc
import os
import re
import time
from typing import Any

import attrs

from lxcfs_model import files
from lxcfs_model.history import ContainerHistory
from lxcfs_model.io import SystemReader
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import CpuTime, HostSnapshot, RenderOptions

__all__ = ["fixture_inputs", "many_cpu_inputs", "measure"]

FIXTURE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "v1-nested"
)
OPTIONS = RenderOptions(enable_cfs=True, enable_loadavg=True)


def fixture_inputs() -> RenderInputs:
    """The 2-CPU fixture host and its container ``/lxc/c1``, rendered with -l --enable-cfs."""
    reader = SystemReader(FIXTURE)
    return RenderInputs(
        view=reader.view_for_cgroup("/lxc/c1"),
        host=reader.host_snapshot(),
        options=OPTIONS,
        clock=reader.clock(),
    )


def _many_cpuinfo(text: str, cpus: int) -> str:
    block = text.split("\n\n")[0].strip("\n")
    blocks = []
    for cpu in range(cpus):
        numbered = re.sub(
            r"^(processor|core id|apicid|initial apicid)(\s*): \d+",
            rf"\1\2: {cpu}",
            block,
            flags=re.M,
        )
        numbered = re.sub(
            r"^(siblings|cpu cores)(\s*): \d+", rf"\1\2: {cpus}", numbered, flags=re.M
        )
        blocks.append(numbered)
    return "\n\n".join(blocks) + "\n\n"


def _many_stat(text: str, cpus: int) -> str:
    lines = text.splitlines(keepends=True)
    cpu0 = next(line for line in lines if line.startswith("cpu0 "))
    others = [line for line in lines if not line.startswith("cpu")]
    fields = cpu0.split()[1:]
    total = "cpu  " + " ".join(str(int(f) * cpus) for f in fields) + "\n"
    per_cpu = [f"cpu{n} " + " ".join(fields) + "\n" for n in range(cpus)]
    return "".join([total, *per_cpu, *others])


def many_cpu_inputs(cpus: int = 512) -> RenderInputs:
    """The fixture container on a host with ``cpus`` CPUs, all in its cpuset."""
    base = fixture_inputs()
    host = attrs.evolve(
        base.host,
        cpuinfo=_many_cpuinfo(base.host.cpuinfo, cpus),
        stat=_many_stat(base.host.stat, cpus),
        online=f"0-{cpus - 1}\n",
    )
    view = base.view
    if view.cpuset is not None:
        view = attrs.evolve(view, cpuset=attrs.evolve(view.cpuset, cpus=frozenset(range(cpus))))
    if view.cpu_usage is not None:
        per_cpu = {n: CpuTime(user_ns=10**9 * (n % 7), system_ns=10**8) for n in range(cpus)}
        total = CpuTime(
            user_ns=sum(t.user_ns for t in per_cpu.values()),
            system_ns=sum(t.system_ns for t in per_cpu.values()),
        )
        view = attrs.evolve(
            view, cpu_usage=attrs.evolve(view.cpu_usage, per_cpu=per_cpu, total=total)
        )
    return attrs.evolve(base, host=host, view=view)


def _fresh_host(host: HostSnapshot) -> HostSnapshot:
    """An equal snapshot without any parsed layout cached yet."""
    return HostSnapshot(
        **{field.name: getattr(host, field.name) for field in attrs.fields(HostSnapshot)}
    )


def _steady_history(path: str, inputs: RenderInputs) -> RenderInputs:
    """Inputs carrying the history a previous render left (stat's delta path)."""
    rendered = files.render(path, inputs)
    return attrs.evolve(inputs, history=rendered.history)


#: Timing runs per figure, each round timing every figure once (module docstring).
ROUNDS = 5


class _Timing:
    """One figure: ``render(make())`` timed in runs of about ``seconds`` each, in the
    thread's CPU time, not wall time (on a shared machine the other work's share of the
    CPUs would otherwise be counted as the renderer's). ``make`` builds a render's inputs
    before each run, so only the render is timed (building a snapshot and its inputs is the
    test's work, about 5 us, not the renderer's); None: the same inputs every time."""

    def __init__(self, render: Any, make: Any, seconds: float) -> None:
        self._render = render
        self._make = make
        once = min(self._run(1) for _ in range(3))
        self._number = max(1, int(seconds / max(once, 1e-7)))
        self.best = float("inf")

    def _run(self, number: int) -> float:
        made = [self._make() for _ in range(number)] if self._make is not None else None
        render = self._render
        if made is not None:
            started = time.thread_time()
            for inputs in made:
                render(inputs)
            return time.thread_time() - started
        # The same inputs every time: timed as ``timeit`` times, the collector off.
        collecting = gc.isenabled()
        gc.disable()
        try:
            started = time.thread_time()
            for _ in range(number):
                render()
            return time.thread_time() - started
        finally:
            if collecting:
                gc.enable()

    def run(self) -> None:
        """One timing run; ``best`` keeps the fastest, in microseconds per render."""
        self.best = min(self.best, self._run(self._number) / self._number * 1e6)


def measure(quick: bool) -> dict[str, Any]:
    """Microseconds per render of every registry file, cold and warm, on both hosts."""
    seconds = 0.02 if quick else 0.1
    timings: dict[str, dict[str, dict[str, _Timing]]] = {}
    for label, inputs in (("2cpu", fixture_inputs()), ("512cpu", many_cpu_inputs())):
        per_file: dict[str, dict[str, _Timing]] = {}
        for spec in files.FILES:
            steady = _steady_history(spec.path, inputs)
            history: ContainerHistory = steady.history

            def warm(steady: RenderInputs = steady, path: str = spec.path) -> None:
                files.render(path, steady)

            def fresh(
                steady: RenderInputs = steady, history: ContainerHistory = history
            ) -> RenderInputs:
                return attrs.evolve(steady, host=_fresh_host(steady.host), history=history)

            def cold(inputs: RenderInputs, path: str = spec.path) -> None:
                files.render(path, inputs)

            per_file[spec.path] = {
                "cold_us": _Timing(cold, fresh, seconds),
                "warm_us": _Timing(warm, None, seconds),
            }
        timings[label] = per_file
    every = [
        timing
        for per_file in timings.values()
        for pair in per_file.values()
        for timing in pair.values()
    ]
    for _ in range(ROUNDS):
        for timing in every:
            timing.run()
    return {
        label: {
            path: {figure: timing.best for figure, timing in pair.items()}
            for path, pair in per_file.items()
        }
        for label, per_file in timings.items()
    }
