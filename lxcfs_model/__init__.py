"""lxcfs_model: what a container should read in /proc and /sys, computed from values.

This package contains no FUSE code and its renderers no I/O: give it one container's cgroup
values (``CgroupView``) and the host's procfs (``HostSnapshot``), get each file's text.
``lxcfs_model.io`` is the one place that reads a live system (or a fixture tree laid out like
one) into those values.

    >>> from lxcfs_model import render, RenderInputs
    >>> render("meminfo", RenderInputs(view=view, host=host)).text   # doctest: +SKIP
"""

from __future__ import annotations

from lxcfs_model.cpuset import format_cpuset, parse_cpuset
from lxcfs_model.errors import LxcfsModelError, NoSuchCgroup, NoSuchProcess, ParseError, UnknownFile
from lxcfs_model.files import FILES, FileSpec, render, resolve_file, short_name
from lxcfs_model.history import ContainerHistory, LoadavgState, StatHistory
from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs
from lxcfs_model.values import (
    CgroupView,
    Clock,
    CpuCgroup,
    CpusetCgroup,
    CpuTime,
    CpuUsage,
    HostSnapshot,
    InitProcess,
    IoCgroup,
    IoDeviceStats,
    LimitLevel,
    MemoryCgroup,
    PressureCgroup,
    QuotaLevel,
    RenderOptions,
    SwapAccounting,
    effective_limit,
)

__version__ = "0.1.0"

__all__ = [
    "FILES",
    "CgroupView",
    "Clock",
    "ContainerHistory",
    "CpuCgroup",
    "CpuTime",
    "CpuUsage",
    "CpusetCgroup",
    "FileProvenance",
    "FileSpec",
    "HostSnapshot",
    "InitProcess",
    "IoCgroup",
    "IoDeviceStats",
    "LimitLevel",
    "LineRule",
    "LoadavgState",
    "LxcfsModelError",
    "MemoryCgroup",
    "NoSuchCgroup",
    "NoSuchProcess",
    "ParseError",
    "PressureCgroup",
    "QuotaLevel",
    "RenderInputs",
    "RenderOptions",
    "Rendered",
    "StatHistory",
    "SwapAccounting",
    "UnknownFile",
    "__version__",
    "effective_limit",
    "format_cpuset",
    "parse_cpuset",
    "render",
    "resolve_file",
    "short_name",
]
