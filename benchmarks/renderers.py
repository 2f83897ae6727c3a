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
shared machine takes CPUs away, but is not counted).
"""

from __future__ import annotations

import os
import re
import time
import timeit
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


def _time(function: Any, seconds: float) -> float:
    """Best-of-five microseconds per call, each run sized to about ``seconds``. Timed in
    the thread's CPU time, not wall time: on a shared machine the other work's share of the
    CPUs would otherwise be counted as the renderer's."""
    timer = timeit.Timer(function, timer=time.thread_time)
    once = min(timer.repeat(number=1, repeat=3))
    number = max(1, int(seconds / max(once, 1e-7)))
    return min(timer.repeat(number=number, repeat=5)) / number * 1e6


def _time_each(make: Any, render: Any, seconds: float) -> float:
    """Like ``_time``, for a render that needs fresh inputs every time: they are built
    before each timing run, so only ``render(inputs)`` is timed (building a snapshot and
    its inputs is the test's work, about 5 us, not the renderer's)."""

    def run(number: int) -> float:
        made = [make() for _ in range(number)]
        started = time.thread_time()
        for inputs in made:
            render(inputs)
        return time.thread_time() - started

    once = min(run(1) for _ in range(3))
    number = max(1, int(seconds / max(once, 1e-7)))
    return min(run(number) for _ in range(5)) / number * 1e6


def measure(quick: bool) -> dict[str, Any]:
    """Microseconds per render of every registry file, cold and warm, on both hosts."""
    seconds = 0.02 if quick else 0.1
    results: dict[str, Any] = {}
    for label, inputs in (("2cpu", fixture_inputs()), ("512cpu", many_cpu_inputs())):
        per_file: dict[str, dict[str, float]] = {}
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
                "cold_us": _time_each(fresh, cold, seconds),
                "warm_us": _time(warm, seconds),
            }
        results[label] = per_file
    return results
