"""The mount's tree: which path is what, for which caller (spec 1.1, with a coherent sys view).

Rules:
1. The rendered files and their directories come from the model's registry
   (``lxcfs_model.files.FILES``); nothing here lists file names of its own.
2. ``sys/devices/system/cpu`` is coherent with the CPUs the caller sees: its rendered files
   (online, offline, possible, present) are the model's, its ``cpuK`` entries are exactly the
   caller's visible CPUs (``cpuK`` shows the host's ``cpuH`` it maps to, found through
   ``ContainerContent.cpu_directory``), and every other host entry (``kernel_max``,
   ``cpufreq/``, ``vulnerabilities/``, ...) passes through. The host's other ``cpuN``
   directories do not exist for the caller. No name is listed twice.
3. Pass-through is read-only: host directories and files keep their type and size, their
   write permission bits are cleared; contents are read from the host at offset 0.
4. Anything else is ENOENT (upstream lets any host /sys path be stat'ed; we do not).
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
from collections.abc import Mapping
from typing import Literal, Protocol

import attrs

from lxcfs_model.files import FILES
from lxcfs_model.render.sys_cpu import is_cpu_directory

__all__ = ["CPU_DIRECTORY", "Node", "Tree", "TreeError"]

CPU_DIRECTORY = "sys/devices/system/cpu"
_NO_WRITE = ~0o222

NodeKind = Literal["directory", "rendered", "host_directory", "host_file", "host_link"]


class TreeError(OSError):
    """A path the caller cannot use; ``errno`` says why (ENOENT, ENOTDIR, ...)."""

    def __init__(self, code: int, path: str) -> None:
        super().__init__(code, os.strerror(code), path)


class CpuDirectory(Protocol):
    """What the tree needs to know about a caller: its sys cpu directory map."""

    def cpu_directory(self, pid: int) -> Mapping[str, str]: ...


@attrs.frozen
class Node:
    """One path as one caller sees it. ``path``: relative to the mount (``proc/meminfo``);
    ``host_path``: the host file behind a pass-through node."""

    kind: NodeKind
    path: str
    host_path: str | None = None
    # The lstat that classified a pass-through node, so getattr does not make it again.
    host_stat: os.stat_result | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def is_directory(self) -> bool:
        return self.kind in ("directory", "host_directory")

    @property
    def under_sys(self) -> bool:
        return self.path == "sys" or self.path.startswith("sys/")

    @property
    def under_proc(self) -> bool:
        return self.path == "proc" or self.path.startswith("proc/")


def _registry_directories() -> dict[str, list[str]]:
    """directory -> its child names in registry order, for every fixed directory (rule 1)."""
    children: dict[str, list[str]] = {"": []}
    for spec in FILES:
        parts = spec.path.split("/")
        for depth in range(len(parts)):
            parent = "/".join(parts[:depth])
            name = parts[depth]
            listing = children.setdefault(parent, [])
            if name not in listing:
                listing.append(name)
    return children


class Tree:
    """Path -> Node and directory listings, per caller. ``sys_root`` is the host's sysfs."""

    def __init__(self, callers: CpuDirectory, sys_root: str = "/sys") -> None:
        self._callers = callers
        self._sys_root = sys_root.rstrip("/") or "/"
        self._rendered = frozenset(spec.path for spec in FILES)
        self._directories = _registry_directories()

    # --------------------------------------------------------------------- lookups

    def lookup(self, fuse_path: str, pid: int) -> Node:
        """The node at ``fuse_path`` (``/proc/meminfo``) for caller ``pid``; TreeError."""
        path = fuse_path.strip("/")
        if path in self._rendered:
            return Node("rendered", path)
        if path == CPU_DIRECTORY:
            return Node("directory", path, self._host(path))
        if path in self._directories:
            return Node("directory", path)
        if path.startswith(CPU_DIRECTORY + "/"):
            return self._pass_through(path, pid)
        raise TreeError(errno.ENOENT, fuse_path)

    def _host(self, relative_to_sys: str) -> str:
        return os.path.join(self._sys_root, relative_to_sys.removeprefix("sys").lstrip("/"))

    def _pass_through(self, path: str, pid: int) -> Node:
        rest = path[len(CPU_DIRECTORY) + 1 :].split("/")
        if is_cpu_directory(rest[0]):
            host_name = self._callers.cpu_directory(pid).get(rest[0])
            if host_name is None:
                raise TreeError(errno.ENOENT, "/" + path)
            rest[0] = host_name
        host_path = self._host(CPU_DIRECTORY + "/" + "/".join(rest))
        try:
            host_stat = os.lstat(host_path)
        except OSError as error:
            raise TreeError(error.errno or errno.ENOENT, "/" + path) from None
        mode = host_stat.st_mode
        if stat_module.S_ISLNK(mode):
            return Node("host_link", path, host_path, host_stat)
        if stat_module.S_ISDIR(mode):
            return Node("host_directory", path, host_path, host_stat)
        if stat_module.S_ISREG(mode):
            return Node("host_file", path, host_path, host_stat)
        raise TreeError(errno.ENOENT, "/" + path)

    # -------------------------------------------------------------------- listings

    def listing(self, node: Node, pid: int) -> list[str]:
        """The entries of a directory node, without ``.`` and ``..``."""
        if node.path == CPU_DIRECTORY:
            return self._cpu_listing(node, pid)
        if node.kind == "directory":
            return list(self._directories[node.path])
        if node.kind == "host_directory" and node.host_path is not None:
            return sorted(os.listdir(node.host_path))
        raise TreeError(errno.ENOTDIR, "/" + node.path)

    def _cpu_listing(self, node: Node, pid: int) -> list[str]:
        rendered = self._directories[node.path]
        try:
            host_entries = sorted(os.listdir(node.host_path or self._host(node.path)))
        except OSError:
            host_entries = []
        passed = [
            name for name in host_entries if not is_cpu_directory(name) and name not in rendered
        ]
        visible = sorted(self._callers.cpu_directory(pid), key=lambda name: int(name[3:]))
        return rendered + passed + visible

    # ---------------------------------------------------------------------- stats

    def directory_mode(self, node: Node) -> int:
        """Mode bits of a directory: the root 0755, /proc dirs 0555, /sys dirs the host's
        without write bits (rule 3)."""
        if node.path == "":
            return stat_module.S_IFDIR | 0o755
        if node.under_sys:
            try:
                mode = os.lstat(self._host(node.path)).st_mode
            except OSError:
                mode = 0o555
            return stat_module.S_IFDIR | (stat_module.S_IMODE(mode) & _NO_WRITE)
        return stat_module.S_IFDIR | 0o555

    @staticmethod
    def host_stat(node: Node) -> os.stat_result:
        """lstat of a pass-through node's host path, as its lookup made it (TreeError if it
        vanished)."""
        if node.host_stat is not None:
            return node.host_stat
        assert node.host_path is not None
        try:
            return os.lstat(node.host_path)
        except OSError as error:
            raise TreeError(error.errno or errno.ENOENT, "/" + node.path) from None

    @staticmethod
    def read_only(mode: int) -> int:
        """``mode`` without write bits (rule 3); symlinks keep theirs (they mean nothing)."""
        return mode if stat_module.S_ISLNK(mode) else mode & _NO_WRITE
