"""The registry of rendered files: mount path -> renderer and provenance table.

Rules:
1. This is the one list of files the model renders; the CLI, the FUSE layout and the docs
   all read it. Adding a file means adding a row here.
2. Names: the full path under the mount (``proc/meminfo``) always works; the short name (the
   last component, or the last two where the last is ambiguous: ``pressure/cpu``) works too.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from lxcfs_model.errors import UnknownFile
from lxcfs_model.provenance import FileProvenance
from lxcfs_model.render import (
    cpuinfo,
    diskstats,
    loadavg,
    meminfo,
    pressure,
    slabinfo,
    stat,
    swaps,
    sys_cpu,
    uptime,
)
from lxcfs_model.rendering import Rendered, RenderInputs

__all__ = ["FILES", "FileSpec", "render", "resolve_file", "short_name"]


@attrs.frozen
class FileSpec:
    """One rendered file."""

    path: str
    renderer: Callable[[RenderInputs], Rendered]
    provenance: FileProvenance


_CPU = "sys/devices/system/cpu/"

FILES: tuple[FileSpec, ...] = (
    FileSpec("proc/cpuinfo", cpuinfo.render, cpuinfo.PROVENANCE),
    FileSpec("proc/diskstats", diskstats.render, diskstats.PROVENANCE),
    FileSpec("proc/loadavg", loadavg.render, loadavg.PROVENANCE),
    FileSpec("proc/meminfo", meminfo.render, meminfo.PROVENANCE),
    FileSpec("proc/slabinfo", slabinfo.render, slabinfo.PROVENANCE),
    FileSpec("proc/stat", stat.render, stat.PROVENANCE),
    FileSpec("proc/swaps", swaps.render, swaps.PROVENANCE),
    FileSpec("proc/uptime", uptime.render, uptime.PROVENANCE),
    FileSpec("proc/pressure/cpu", pressure.render_cpu, pressure.PROVENANCE_CPU),
    FileSpec("proc/pressure/io", pressure.render_io, pressure.PROVENANCE_IO),
    FileSpec("proc/pressure/memory", pressure.render_memory, pressure.PROVENANCE_MEMORY),
    FileSpec(_CPU + "online", sys_cpu.render_online, sys_cpu.PROVENANCE_ONLINE),
    FileSpec(_CPU + "offline", sys_cpu.render_offline, sys_cpu.PROVENANCE_OFFLINE),
    FileSpec(_CPU + "possible", sys_cpu.render_possible, sys_cpu.PROVENANCE_POSSIBLE),
    FileSpec(_CPU + "present", sys_cpu.render_present, sys_cpu.PROVENANCE_PRESENT),
)

_BY_PATH = {spec.path: spec for spec in FILES}


def short_name(path: str) -> str:
    """The shortest unambiguous suffix of a file's path (``meminfo``, ``pressure/cpu``).

    Pressure files keep their directory: a bare ``cpu`` would read as the CPU directory."""
    parts = path.split("/")
    for width in range(2 if "pressure" in parts else 1, len(parts) + 1):
        suffix = "/".join(parts[-width:])
        if sum(1 for spec in FILES if spec.path.endswith("/" + suffix)) == 1:
            return suffix
    return path


_BY_SHORT = {short_name(spec.path): spec for spec in FILES}


def resolve_file(name: str) -> FileSpec:
    """The file a user means by ``name`` (full path, with or without a leading ``/``, or short
    name). Raises ``UnknownFile`` with the list of known names."""
    key = name.strip().strip("/")
    spec = _BY_PATH.get(key) or _BY_SHORT.get(key)
    if spec is None:
        known = ", ".join(short_name(s.path) for s in FILES)
        raise UnknownFile(f"unknown file {name!r}; known files: {known}")
    return spec


def render(name: str, inputs: RenderInputs) -> Rendered:
    """Render the file ``name`` for the container described by ``inputs``."""
    return resolve_file(name).renderer(inputs)
