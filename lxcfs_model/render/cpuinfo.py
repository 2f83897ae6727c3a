"""Placeholder: serves the host file until the real renderer lands."""

from __future__ import annotations

from lxcfs_model.provenance import FileProvenance
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback

PROVENANCE = FileProvenance(path="proc/cpuinfo", summary="not virtualized yet", rules=())


def render(inputs: RenderInputs) -> Rendered:
    return host_fallback(inputs.host.cpuinfo, inputs, "not virtualized yet")
