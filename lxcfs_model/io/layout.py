"""Which cgroup hierarchies a root has and which controllers each one carries.

Rules:
1. Discovery looks only at ``<root>/sys/fs/cgroup`` (no mountinfo), so a fixture tree is
   discovered exactly like the live system: pure v2 when ``cgroup.controllers`` sits at the
   top, else v1/hybrid with one directory per v1 hierarchy, named by its controllers
   (``cpu,cpuacct``; a symlink ``cpu -> cpu,cpuacct`` is an alias), ``systemd`` being the
   named hierarchy ``name=systemd`` and ``unified`` (if it has ``cgroup.controllers``) the
   cgroup2 part of a hybrid.
2. A controller lives in exactly one hierarchy; a v1 hierarchy wins over the v2 one (that
   is how the kernel binds a controller in hybrid mode).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import attrs

from lxcfs_model.values import CgroupVersion

__all__ = ["CgroupLayout", "Hierarchy", "discover_layout"]

LayoutKind = Literal["v1", "hybrid", "v2", "none"]


@attrs.frozen
class Hierarchy:
    """One mounted hierarchy: ``directory`` is its mount point relative to the root
    (``sys/fs/cgroup/memory``; ``sys/fs/cgroup`` for pure v2)."""

    version: CgroupVersion
    directory: str
    controllers: frozenset[str]


@attrs.frozen
class CgroupLayout:
    """The hierarchies of one root. ``kind``: ``v1`` (no cgroup2 mount), ``hybrid`` (v1 plus
    the ``unified`` cgroup2 mount), ``v2`` (pure cgroup2), ``none`` (no cgroup mounts)."""

    kind: LayoutKind
    hierarchies: tuple[Hierarchy, ...]
    by_controller: Mapping[str, Hierarchy] = attrs.field(hash=False, repr=False)

    def hierarchy_for(self, controller: str) -> Hierarchy | None:
        """The hierarchy carrying ``controller`` (``memory``, ``name=systemd``), if any."""
        return self.by_controller.get(controller)

    @property
    def unified(self) -> Hierarchy | None:
        """The cgroup2 hierarchy (pure v2 or the hybrid's ``unified`` mount), if any."""
        for hierarchy in self.hierarchies:
            if hierarchy.version == "v2":
                return hierarchy
        return None


def _read_controllers(path: str) -> frozenset[str] | None:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return frozenset(file.read().split())
    except OSError:
        return None


def _v1_controllers(name: str) -> frozenset[str]:
    if name == "systemd":
        return frozenset({"name=systemd"})
    return frozenset(part for part in name.split(",") if part)


def _build(kind: LayoutKind, hierarchies: list[Hierarchy]) -> CgroupLayout:
    by_controller: dict[str, Hierarchy] = {}
    for hierarchy in sorted(hierarchies, key=lambda h: h.version == "v2"):
        for controller in hierarchy.controllers:
            by_controller.setdefault(controller, hierarchy)
    return CgroupLayout(kind=kind, hierarchies=tuple(hierarchies), by_controller=by_controller)


def discover_layout(root: str) -> CgroupLayout:
    """Find the hierarchies under ``<root>/sys/fs/cgroup`` (rules 1 and 2)."""
    mount = os.path.join(root, "sys/fs/cgroup")
    top_controllers = _read_controllers(os.path.join(mount, "cgroup.controllers"))
    if top_controllers is not None:
        return _build("v2", [Hierarchy("v2", "sys/fs/cgroup", top_controllers)])
    try:
        names = sorted(os.listdir(mount))
    except OSError:
        return _build("none", [])
    hierarchies: list[Hierarchy] = []
    for name in names:
        path = os.path.join(mount, name)
        if os.path.islink(path) or not os.path.isdir(path):
            # cpu -> cpu,cpuacct: the real directory is listed under its own name.
            continue
        if name == "unified":
            controllers = _read_controllers(os.path.join(path, "cgroup.controllers"))
            if controllers is not None:
                hierarchies.append(Hierarchy("v2", f"sys/fs/cgroup/{name}", controllers))
            continue
        if not os.path.exists(os.path.join(path, "cgroup.procs")):
            continue  # an empty mount point, not a hierarchy
        hierarchies.append(Hierarchy("v1", f"sys/fs/cgroup/{name}", _v1_controllers(name)))
    if not hierarchies:
        return _build("none", [])
    has_v2 = any(h.version == "v2" for h in hierarchies)
    has_v1 = any(h.version == "v1" for h in hierarchies)
    kind: LayoutKind = "hybrid" if has_v1 and has_v2 else ("v1" if has_v1 else "v2")
    return _build(kind, hierarchies)
