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
from lxcfs_model.values import CgroupView, HostSnapshot

__all__ = [
    "FILES",
    "HOST_PARTS",
    "KMEM_SLABINFO",
    "VIEW_FIELDS",
    "VIEW_PARTS",
    "FileSpec",
    "render",
    "resolve_file",
    "short_name",
]


#: The ``CgroupView`` fields a renderer may look at (``problems`` is never rendered).
VIEW_FIELDS = frozenset(field.name for field in attrs.fields(CgroupView)) - {"problems"}

#: A part of a part: ``MemoryCgroup.kmem_slabinfo``, which only /proc/slabinfo renders. A
#: file that names ``memory`` without it gets the memory field with ``kmem_slabinfo`` None,
#: so a /proc/meminfo read does not read memory.kmem.slabinfo (a file and a probe of the
#: hierarchy root on every miss).
KMEM_SLABINFO = "memory.kmem_slabinfo"

#: Everything a reader can be asked for: the view fields and the sub-parts above.
VIEW_PARTS = VIEW_FIELDS | {KMEM_SLABINFO}

#: The ``HostSnapshot`` texts a renderer may look at (``clk_tck`` is not a text: always set).
HOST_PARTS = frozenset(field.name for field in attrs.fields(HostSnapshot)) - {"clk_tck"}

# What the visible-CPU policy (lxcfs_model.visible) reads: every file that counts CPUs.
_VISIBLE = frozenset({"cpuset", "cpu"})
_ONLINE = frozenset({"online"})


@attrs.frozen
class FileSpec:
    """One rendered file. ``view_parts``/``host_parts``: the view fields (and sub-parts,
    ``KMEM_SLABINFO``) and host texts its renderer reads, so a reader need not read the
    others (the FUSE daemon reads only these per request: /proc/slabinfo alone costs the
    kernel milliseconds); rendering with the other view fields None and host texts empty
    gives the same text (tests/properties prove it). ``stateless``: the text depends on
    nothing but those parts and the options (not the clock, not the history), so a reader
    may reuse a text made from the very same inputs (the FUSE daemon does; tests/properties
    prove it too)."""

    path: str
    renderer: Callable[[RenderInputs], Rendered]
    provenance: FileProvenance
    view_parts: frozenset[str] = VIEW_PARTS
    host_parts: frozenset[str] = HOST_PARTS
    stateless: bool = True


_CPU = "sys/devices/system/cpu/"
_MEMORY = frozenset({"memory"})

FILES: tuple[FileSpec, ...] = (
    FileSpec("proc/cpuinfo", cpuinfo.render, cpuinfo.PROVENANCE, _VISIBLE, _ONLINE | {"cpuinfo"}),
    FileSpec(
        "proc/diskstats",
        diskstats.render,
        diskstats.PROVENANCE,
        frozenset({"io"}),
        frozenset({"diskstats"}),
    ),
    FileSpec(
        "proc/loadavg",
        loadavg.render,
        loadavg.PROVENANCE,
        frozenset({"cpu", "init"}),
        frozenset({"loadavg"}),
        stateless=False,
    ),
    FileSpec("proc/meminfo", meminfo.render, meminfo.PROVENANCE, _MEMORY, frozenset({"meminfo"})),
    FileSpec(
        "proc/slabinfo",
        slabinfo.render,
        slabinfo.PROVENANCE,
        _MEMORY | {KMEM_SLABINFO},
        frozenset({"slabinfo"}),
    ),
    FileSpec(
        "proc/stat",
        stat.render,
        stat.PROVENANCE,
        _VISIBLE | {"cpu_usage"},
        _ONLINE | {"stat"},
        stateless=False,
    ),
    FileSpec(
        "proc/swaps", swaps.render, swaps.PROVENANCE, _MEMORY, frozenset({"swaps", "meminfo"})
    ),
    FileSpec(
        "proc/uptime",
        uptime.render,
        uptime.PROVENANCE,
        _VISIBLE | {"init"},
        _ONLINE | {"uptime"},
        stateless=False,
    ),
    FileSpec(
        "proc/pressure/cpu",
        pressure.render_cpu,
        pressure.PROVENANCE_CPU,
        frozenset({"pressure"}),
        frozenset({"pressure_cpu"}),
    ),
    FileSpec(
        "proc/pressure/io",
        pressure.render_io,
        pressure.PROVENANCE_IO,
        frozenset({"pressure"}),
        frozenset({"pressure_io"}),
    ),
    FileSpec(
        "proc/pressure/memory",
        pressure.render_memory,
        pressure.PROVENANCE_MEMORY,
        frozenset({"pressure"}),
        frozenset({"pressure_memory"}),
    ),
    FileSpec(_CPU + "online", sys_cpu.render_online, sys_cpu.PROVENANCE_ONLINE, _VISIBLE, _ONLINE),
    FileSpec(
        _CPU + "offline", sys_cpu.render_offline, sys_cpu.PROVENANCE_OFFLINE, _VISIBLE, _ONLINE
    ),
    FileSpec(
        _CPU + "possible", sys_cpu.render_possible, sys_cpu.PROVENANCE_POSSIBLE, _VISIBLE, _ONLINE
    ),
    FileSpec(
        _CPU + "present", sys_cpu.render_present, sys_cpu.PROVENANCE_PRESENT, _VISIBLE, _ONLINE
    ),
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
