"""Placeholder: serves the host files until the real renderer lands."""

from __future__ import annotations

from lxcfs_model.provenance import FileProvenance
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback

_BASE = "sys/devices/system/cpu/"
PROVENANCE_ONLINE = FileProvenance(path=_BASE + "online", summary="not virtualized yet", rules=())
PROVENANCE_OFFLINE = FileProvenance(path=_BASE + "offline", summary="not virtualized yet", rules=())
PROVENANCE_POSSIBLE = FileProvenance(
    path=_BASE + "possible", summary="not virtualized yet", rules=()
)
PROVENANCE_PRESENT = FileProvenance(path=_BASE + "present", summary="not virtualized yet", rules=())


def render_online(inputs: RenderInputs) -> Rendered:
    return host_fallback(inputs.host.online, inputs, "not virtualized yet")


def render_offline(inputs: RenderInputs) -> Rendered:
    return host_fallback("\n", inputs, "not virtualized yet")


def render_possible(inputs: RenderInputs) -> Rendered:
    return host_fallback(inputs.host.online, inputs, "not virtualized yet")


def render_present(inputs: RenderInputs) -> Rendered:
    return host_fallback(inputs.host.online, inputs, "not virtualized yet")
