"""The I/O layer: the one place in lxcfs_model that reads files, clocks and processes.

It reads a live system (root ``/``) or a fixture tree laid out the same way (``<root>/proc``,
``<root>/sys/fs/cgroup``) into the values the renderers take. Contract (implemented in the
modules of this package):

- ``SystemReader(root="/")``
  - ``.host_snapshot() -> HostSnapshot``
  - ``.clock() -> Clock``
  - ``.layout`` -> the cgroup hierarchies found (v1, hybrid or v2): ``CgroupLayout``
  - ``.view_for_cgroup(path) -> CgroupView`` (same path in every hierarchy; ``NoSuchCgroup``)
  - ``.resolve_pid(pid) -> Container`` (the container a pid belongs to, spec section 2;
    ``NoSuchProcess``)
  - ``.view_for_container(container) -> CgroupView``
  - ``.view_for_pid(pid) -> CgroupView``
  - for the FUSE adapter's pid cache: ``.pid_namespace_inode(pid)``,
    ``.process_start_ticks(pid)`` (a pid plus its start time names one process).

- ``CachingReader(root="/", max_age=0.010)``: the same answers, host snapshot and views
  shared between requests for at most ``max_age`` seconds (what the daemon uses).

- ``CgroupTree(root="/", layout)``: the real cgroup files behind ``<mount>/cgroup``
  (``--enable-cgroup``), every act decided first by ``lxcfs_model.cgroupfs``.

Modules: ``layout`` (which hierarchies exist), ``reader`` (SystemReader, Container),
``cached`` (CachingReader), ``cgroupfs`` (CgroupTree), ``kernel_files`` (reads of procfs,
sysfs and cgroupfs files that keep the GIL; ``only_kernel_files`` refuses any other file
instead of blocking, so the FUSE adapter can serve a request inline). The text
parsers are pure and live in ``lxcfs_model.cgroup_parsers``.
"""

from __future__ import annotations

from lxcfs_model.io.cached import CachingReader
from lxcfs_model.io.cgroupfs import CgroupTree
from lxcfs_model.io.layout import CgroupLayout, Hierarchy, discover_layout
from lxcfs_model.io.reader import Container, SystemReader, prune_init_scope

__all__ = [
    "CachingReader",
    "CgroupLayout",
    "CgroupTree",
    "Container",
    "Hierarchy",
    "SystemReader",
    "discover_layout",
    "prune_init_scope",
]
