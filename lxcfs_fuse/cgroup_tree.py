"""The ``cgroup/`` branch of the mount (``--enable-cgroup``): paths, pids and errno, nothing else.

Rules:
1. Every decision and every real file operation is the library's: ``CgroupTree``
   (``lxcfs_model.io.cgroupfs``) over the pure ``lxcfs_model.cgroupfs``. It is reached through
   the generation serving now (``content.generation.library.cgroup_tree``), one tree per
   generation, so a SIGUSR1 reload replaces this code like every renderer.
2. The caller is resolved as for every other file (``callers``: the init of its pid
   namespace, spec 2.1), but never falls back: a caller that cannot be resolved sees nothing
   here (ENOENT), and SIGUSR2 (virtualization off) changes nothing here, because the host
   view of this tree is every cgroup of the host.
3. Every request runs under the content's deadline (``lxcfs_fuse.deadline``): a cgroup file
   that stalls answers EIO and one log line; the daemon's threads are never all stuck.
4. Handles: ``open`` checks access once, as open(2) does, and keeps the entry. A read at
   offset 0 reads the real file anew (pid files translated for the reader), other offsets
   are served from that snapshot (operations rule 3). Each write() goes to the real file as
   one write, as the kernel takes cgroup file writes; a write at offset > 0 too (``echo``
   after ``>>``). Truncation (O_TRUNC) is a no-op that needs write access, as in lxcfs.
5. Errno: a refusal's reason maps through ``_ERRNO``; errors of the real filesystem
   (EBUSY, EINVAL, ...) pass through as the kernel gave them.
"""

from __future__ import annotations

import errno
import logging
import os
import stat as stat_module
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from lxcfs_fuse.content import ContainerContent, Generation
from lxcfs_fuse.deadline import DeadlineExceeded
from lxcfs_fuse.fuse_api import fuse_caller

__all__ = ["MOUNT_DIRECTORY", "CgroupTreeOperations", "is_cgroup_path"]

log = logging.getLogger("lxcfs_fuse")

MOUNT_DIRECTORY = "cgroup"

T = TypeVar("T")

#: A refusal's reason (``lxcfs_model.cgroupfs.RefusalReason``) -> errno.
_ERRNO = {
    "invisible": errno.ENOENT,
    "denied": errno.EACCES,
    "not-permitted": errno.EPERM,
    "no-such-process": errno.ESRCH,
    "invalid": errno.EINVAL,
    "busy": errno.EBUSY,
}


def is_cgroup_path(path: str | None) -> bool:
    """Whether the mount path ``path`` (``/cgroup/memory/tasks``) is in this branch."""
    stripped = (path or "").strip("/")
    return stripped == MOUNT_DIRECTORY or stripped.startswith(MOUNT_DIRECTORY + "/")


def _tree_path(path: str) -> str:
    return path.strip("/")[len(MOUNT_DIRECTORY) :].strip("/")


def _fail(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@attrs.define
class _Handle:
    """One open cgroup file: its entry, the access open granted, the last offset-0 read."""

    entry: Any
    access: int
    content: bytes | None = None
    lock: threading.Lock = attrs.field(factory=threading.Lock)


class CgroupTreeOperations:
    """The FUSE operations of the ``cgroup/`` branch (called by ``LxcfsOperations``)."""

    def __init__(
        self,
        content: ContainerContent,
        *,
        caller: Callable[[], tuple[int, int, int]] = fuse_caller,
    ) -> None:
        self._content = content
        self._context = caller
        self._trees: dict[int, Any] = {}
        self._trees_lock = threading.Lock()
        self._handles: dict[int, _Handle] = {}
        self._handles_lock = threading.Lock()

    # ------------------------------------------------------------------------ plumbing

    def _tree(self, generation: Generation) -> Any:
        """The library's CgroupTree of ``generation`` over its reader's layout (rule 1)."""
        number = generation.library.number
        with self._trees_lock:
            tree = self._trees.get(number)
            if tree is None:
                kind = generation.library.cgroup_tree
                if kind is None:
                    raise _fail(errno.ENOENT)  # a library without the tree serves none
                tree = kind(generation.reader.root, generation.reader.layout)
                self._trees = {number: tree}  # older generations are done with
            return tree

    def _run(self, work: Callable[[Any, Any], T]) -> T:
        """``work(tree, caller)`` for this request's caller, under the deadline (rule 3),
        refusals mapped to errno (rule 5)."""
        generation = self._content.generation
        uid, gid, pid = self._context()
        if pid <= 0:
            raise _fail(errno.ENOENT)  # the kernel's own request: no caller to show to

        def call() -> T:
            tree = self._tree(generation)
            container = generation.callers.resolve(pid)
            return work(tree, tree.caller(container, uid, gid))

        try:
            return self._content.deadline.call(call)
        except DeadlineExceeded as error:
            self._content.problem_log.warning(
                f"a cgroup tree request of pid {pid} stalled: {error}"
            )
            raise _fail(errno.EIO) from None
        except OSError:
            raise
        except Exception as error:
            reason = getattr(error, "reason", None)
            if isinstance(reason, str) and reason in _ERRNO:
                raise _fail(_ERRNO[reason]) from None
            if isinstance(error, generation.library.vanished):
                raise _fail(errno.ENOENT) from None  # the caller exited meanwhile
            raise

    # ---------------------------------------------------------------------- attributes

    def getattr(self, path: str) -> dict[str, int]:
        entry = self._run(lambda tree, caller: tree.lookup(caller, _tree_path(path)))
        if entry.kind == "root":
            now = time.time_ns()
            return {
                "st_mode": stat_module.S_IFDIR | 0o755,
                "st_nlink": 2,
                "st_size": 0,
                "st_uid": 0,
                "st_gid": 0,
                "st_atime": now,
                "st_mtime": now,
                "st_ctime": now,
            }
        if entry.kind == "alias":
            now = time.time_ns()
            return {
                "st_mode": stat_module.S_IFLNK | 0o777,
                "st_nlink": 1,
                "st_size": len(entry.target),
                "st_uid": 0,
                "st_gid": 0,
                "st_atime": now,
                "st_mtime": now,
                "st_ctime": now,
            }
        info: os.stat_result = entry.stat
        return {
            "st_mode": info.st_mode,
            "st_nlink": info.st_nlink,
            "st_size": info.st_size,
            "st_uid": info.st_uid,
            "st_gid": info.st_gid,
            "st_atime": info.st_atime_ns,
            "st_mtime": info.st_mtime_ns,
            "st_ctime": info.st_ctime_ns,
        }

    def access(self, path: str, amode: int) -> int:
        def check(tree: Any, caller: Any) -> None:
            entry = tree.lookup(caller, _tree_path(path))
            if amode & 7:
                tree.check(caller, entry, amode & 7)

        self._run(check)
        return 0

    def readlink(self, path: str) -> str:
        entry = self._run(lambda tree, caller: tree.lookup(caller, _tree_path(path)))
        if entry.kind != "alias":
            raise _fail(errno.EINVAL)
        return str(entry.target)

    # --------------------------------------------------------------------- directories

    def opendir(self, path: str) -> int:
        def check(tree: Any, caller: Any) -> None:
            entry = tree.lookup(caller, _tree_path(path))
            if not entry.is_directory:
                raise _fail(errno.ENOTDIR)
            tree.listing(caller, entry)  # the read permission open(2) of a directory needs

        self._run(check)
        return 0

    def readdir(self, path: str) -> list[str]:
        def listing(tree: Any, caller: Any) -> list[str]:
            entry = tree.lookup(caller, _tree_path(path))
            if not entry.is_directory:
                raise _fail(errno.ENOTDIR)
            return list(tree.listing(caller, entry))

        return self._run(listing)

    def mkdir(self, path: str) -> int:
        self._run(lambda tree, caller: tree.mkdir(caller, _tree_path(path)))
        return 0

    def rmdir(self, path: str) -> int:
        self._run(lambda tree, caller: tree.rmdir(caller, _tree_path(path)))
        return 0

    # --------------------------------------------------------------------------- files

    def open(self, path: str, flags: int, handle: int) -> None:
        """Check and remember an open of ``path`` as ``handle`` (rule 4)."""

        def opened(tree: Any, caller: Any) -> _Handle:
            entry = tree.lookup(caller, _tree_path(path))
            if entry.is_directory:
                raise _fail(errno.EISDIR)
            if entry.kind == "alias":
                raise _fail(errno.ELOOP)
            return _Handle(entry, tree.open_access(caller, entry, flags))

        opened_handle = self._run(opened)
        with self._handles_lock:
            self._handles[handle] = opened_handle

    def owns(self, handle: int) -> bool:
        """Whether ``handle`` is an open cgroup file."""
        with self._handles_lock:
            return handle in self._handles

    def _handle(self, handle: int) -> _Handle:
        with self._handles_lock:
            found = self._handles.get(handle)
        if found is None:
            raise _fail(errno.EBADF)
        return found

    def read(self, handle: int, size: int, offset: int) -> bytes:
        opened = self._handle(handle)
        if not opened.access & 4:
            raise _fail(errno.EBADF)
        with opened.lock:
            if offset == 0 or opened.content is None:
                opened.content = self._run(lambda tree, caller: tree.read(caller, opened.entry))
            return opened.content[offset : offset + size]

    def write(self, handle: int, data: bytes) -> int:
        opened = self._handle(handle)
        if not opened.access & 2:
            raise _fail(errno.EBADF)
        written: int = self._run(lambda tree, caller: tree.write(caller, opened.entry, data))
        return written

    def release(self, handle: int) -> None:
        with self._handles_lock:
            self._handles.pop(handle, None)

    def truncate(self, path: str) -> int:
        self._run(lambda tree, caller: tree.truncate(caller, _tree_path(path)))
        return 0

    @property
    def open_handles(self) -> int:
        with self._handles_lock:
            return len(self._handles)
