"""/proc/pressure/{cpu,io,memory} for one container: its cgroup's PSI file, else the host's.

Rules:
1. Read side only: no PSI triggers, no poll (the FUSE adapter refuses writes).
2. Never reads host state: the cgroup's texts are ``PressureCgroup.cpu/io/memory``, which
   the reader fills from cgroup v2 ``cpu.pressure``, ``io.pressure`` and
   ``memory.pressure``; the host's are ``HostSnapshot.pressure_*``.
3. A cgroup PSI text is served verbatim (``some avg10=... avg60=... avg300=... total=...``
   and ``full ...``), like upstream 7.0.
4. Fallback (spec 3.12): no pressure cgroup (v1, no PSI) or no such file for this cgroup ->
   the host's /proc/pressure/<x> unchanged, or an empty file where the host has no PSI.
   Upstream behaves the same; an empty PSI file is what a kernel without PSI would show
   had it the file at all, and tools reading it see "no data" rather than wrong data.
"""

from __future__ import annotations

from collections.abc import Callable

from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback
from lxcfs_model.values import HostSnapshot, PressureCgroup

__all__ = [
    "PROVENANCE_CPU",
    "PROVENANCE_IO",
    "PROVENANCE_MEMORY",
    "render_cpu",
    "render_io",
    "render_memory",
]


def _provenance(resource: str) -> FileProvenance:
    source = f"<{resource} cgroup>/{resource}.pressure (v2)"
    formula = "verbatim from {source}: share of time tasks stalled on " + resource
    return FileProvenance(
        path=f"proc/pressure/{resource}",
        summary=(
            f"The container's cgroup v2 {resource}.pressure verbatim, else the host's "
            f"/proc/pressure/{resource}."
        ),
        rules=(
            LineRule("some", (source,), formula + " (at least one task)"),
            LineRule("full", (source,), formula + " (all non-idle tasks at once)"),
        ),
        fallback=(
            f"No cgroup {resource}.pressure for the container (cgroup v1, or no PSI): the "
            f"host's /proc/pressure/{resource} unchanged; empty when the host has no PSI."
        ),
    )


PROVENANCE_CPU = _provenance("cpu")
PROVENANCE_IO = _provenance("io")
PROVENANCE_MEMORY = _provenance("memory")


def _render(
    inputs: RenderInputs,
    resource: str,
    cgroup_text: Callable[[PressureCgroup], str | None],
    host_text: Callable[[HostSnapshot], str | None],
) -> Rendered:
    pressure = inputs.view.pressure
    text = cgroup_text(pressure) if pressure is not None else None
    if pressure is None or text is None:
        reason = f"no {resource}.pressure for this container"
        if host_text(inputs.host) is None:
            reason += "; the host has no PSI either"
        return host_fallback(host_text(inputs.host), inputs, reason)
    source = f"{pressure.path}/{resource}.pressure"
    return Rendered(text=text, history=inputs.history, quantities={"source": source})


def render_cpu(inputs: RenderInputs) -> Rendered:
    """The container's /proc/pressure/cpu."""
    return _render(inputs, "cpu", lambda cgroup: cgroup.cpu, lambda host: host.pressure_cpu)


def render_io(inputs: RenderInputs) -> Rendered:
    """The container's /proc/pressure/io."""
    return _render(inputs, "io", lambda cgroup: cgroup.io, lambda host: host.pressure_io)


def render_memory(inputs: RenderInputs) -> Rendered:
    """The container's /proc/pressure/memory."""
    return _render(
        inputs, "memory", lambda cgroup: cgroup.memory, lambda host: host.pressure_memory
    )
