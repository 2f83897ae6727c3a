"""Placeholder: serves the host files until the real renderer lands."""

from __future__ import annotations

from lxcfs_model.provenance import FileProvenance
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback

PROVENANCE_CPU = FileProvenance(path="proc/pressure/cpu", summary="not virtualized yet", rules=())
PROVENANCE_IO = FileProvenance(path="proc/pressure/io", summary="not virtualized yet", rules=())
PROVENANCE_MEMORY = FileProvenance(
    path="proc/pressure/memory", summary="not virtualized yet", rules=()
)


def render_cpu(inputs: RenderInputs) -> Rendered:
    return host_fallback(inputs.host.pressure_cpu, inputs, "not virtualized yet")


def render_io(inputs: RenderInputs) -> Rendered:
    return host_fallback(inputs.host.pressure_io, inputs, "not virtualized yet")


def render_memory(inputs: RenderInputs) -> Rendered:
    return host_fallback(inputs.host.pressure_memory, inputs, "not virtualized yet")
