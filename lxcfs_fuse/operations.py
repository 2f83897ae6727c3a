"""The FUSE operations: paths, pids and errno in, the model's text out (spec 1.3, 1.4).

Rules:
1. Thin: a handler finds the node (``tree``), asks ``content`` for text, and maps failures to
   an errno. It formats nothing.
2. Every handler is guarded: whatever it raises, BaseException included, becomes an errno
   (the node's own, else EIO) and one log line; the daemon goes on. Expected answers
   (ENOENT for a probe, EACCES for a write) are logged only with --debug.
3. Reads: the content is made at a read at offset 0 and kept in the open handle; reads at
   other offsets are served from that snapshot (a fresh handle read first at offset > 0
   makes its snapshot then), so reads of any sizes reassemble one consistent text, and
   ``lseek(0)`` + read renders anew (top does this). A read at or past the end returns 0
   bytes (EOF), never EINVAL (upstream's quirk, spec 1.4).
4. ``open`` sets direct_io on every file: no page cache, every read reaches us, st_size never
   bounds or pads what a reader gets.
5. st_size of a rendered file is the byte length of what that caller would read right now:
   a tool that reads exactly st_size bytes gets the whole file (spec 8.14); with direct_io a
   reader never sees trailing NULs. The text rendered for st_size is handed, once, to the
   same task's next read at offset 0 if it comes within ``SIZED_TEXT_SECONDS`` (the usual
   stat -> open -> read of one ``cat``): that read then gets exactly st_size bytes and the
   file is rendered once, not twice. Pass-through sysfs files keep the host's st_size
   (4096, an upper bound of any sysfs attribute).
6. Read-only (spec 1.4, 7.0 flavour): write EINVAL on rendered files, EACCES on
   pass-through; truncate is a no-op under /sys and EPERM elsewhere; mkdir/rmdir EPERM;
   chmod/chown EPERM under /proc and /sys, ENOENT elsewhere; create, mknod, unlink, rename,
   link, symlink ENOSYS. Nothing written through the mount ever reaches a host file.
7. The one exception, opt-in: with ``--enable-cgroup`` every request below ``/cgroup`` goes
   to ``cgroup_tree.CgroupTreeOperations`` (a confined, writable cgroupfs view); each
   handler hands it over before anything else, still inside this module's guard.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import stat as stat_module
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

import attrs

from lxcfs_fuse.cgroup_tree import MOUNT_DIRECTORY, CgroupTreeOperations, is_cgroup_path
from lxcfs_fuse.deadline import MustDefer
from lxcfs_fuse.fuse_api import fuse_caller, handle_of, set_direct_io
from lxcfs_fuse.tree import CpuDirectory, Node, Tree
from lxcfs_model.errors import LxcfsModelError

__all__ = ["ContentSource", "ErrnoError", "LxcfsOperations"]

log = logging.getLogger("lxcfs_fuse")

F = TypeVar("F", bound=Callable[..., Any])

#: How long a text rendered for st_size waits for its reader (rule 5): the kernel's
#: attribute timeout, so it is never older than the st_size the kernel still shows.
SIZED_TEXT_SECONDS = 0.5

#: Largest pass-through file read (sysfs attributes are at most a page; this is generous).
MAX_HOST_FILE = 1 << 20

_EXPECTED = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EINVAL}
    # Answers of the cgroup tree (rule 7): a populated cgroup, an unknown pid, a name taken.
    | {errno.EBUSY, errno.ESRCH, errno.EEXIST}
)


class ErrnoError(OSError):
    """An answer of the filesystem: the request fails with ``errno``."""

    def __init__(self, code: int) -> None:
        super().__init__(code, os.strerror(code))


class ContentSource(CpuDirectory, Protocol):
    """What the operations need from ``ContainerContent``."""

    def render(self, path: str, pid: int) -> str: ...


def _is_model_error(error: BaseException) -> bool:
    """Whether ``error`` is an ``LxcfsModelError`` of any library generation: after a reload
    (SIGUSR1) the model raises its own generation's class, not the one imported here."""
    return any(
        kind.__qualname__ == LxcfsModelError.__qualname__
        and kind.__module__ == LxcfsModelError.__module__
        for kind in type(error).__mro__
    )


def _guarded(handler: F, traced_as: str | None = None) -> F:
    """Rule 2: every exception becomes an errno; unexpected ones are logged once, and with
    -d every request is traced under the operation's name (``traced_as``, else the
    handler's)."""
    name = traced_as or handler.__name__

    @functools.wraps(handler)
    def guarded(self: LxcfsOperations, path: object, *args: Any) -> Any:
        # -d traces every request: which operation, path, caller and how long it took (the
        # container a read resolved to is traced by ``content.render``).
        started = time.perf_counter() if log.isEnabledFor(logging.DEBUG) else 0.0
        try:
            result = handler(self, path, *args)
            if started:
                log.debug(
                    "%s %s pid=%d: ok in %.0f us",
                    name,
                    path,
                    self._pid(),
                    (time.perf_counter() - started) * 1e6,
                )
            return result
        except OSError as error:
            code = error.errno if isinstance(error.errno, int) and error.errno > 0 else errno.EIO
            if code in _EXPECTED:
                log.debug("%s %s: %s", name, path, os.strerror(code))
            else:
                log.warning("%s %s failed: %s", name, path, error)
            raise ErrnoError(code) from None
        except MustDefer:
            raise  # not a failure: the binding serves the request again on a worker
        except BaseException as error:  # rule 2: nothing escapes a handler
            if _is_model_error(error):
                log.warning("%s %s failed: %s", name, path, error)
                raise ErrnoError(errno.EIO) from None
            log.error("%s %s failed: %s: %s", name, path, type(error).__name__, error)
            raise ErrnoError(errno.EIO) from None

    return cast(F, guarded)


@attrs.define
class _Handle:
    """One open file: its node and the snapshot made by the last read at offset 0."""

    node: Node
    content: bytes | None = None
    lock: threading.Lock = attrs.field(factory=threading.Lock)


class LxcfsOperations:
    """The operations object handed to the FUSE binding (``fuse_api.mount``)."""

    use_ns = True  # st_*time in nanoseconds (fusepy's non-deprecated form)

    def __init__(
        self,
        content: ContentSource,
        *,
        sys_root: str = "/sys",
        caller: Callable[[], tuple[int, int, int]] = fuse_caller,
        cgroups: CgroupTreeOperations | None = None,
    ) -> None:
        self._content = content
        self._cgroups = cgroups  # rule 7; None without --enable-cgroup
        self._tree = Tree(content, sys_root)
        self._caller = caller
        self._handles: dict[int, _Handle] = {}
        self._handles_lock = threading.Lock()
        self._next_handle = itertools.count(1)
        # (caller pid, path) -> (when, text) rendered by getattr for that caller (rule 5).
        self._sized: dict[tuple[int, str], tuple[float, bytes]] = {}
        self._sized_lock = threading.Lock()

    def _pid(self) -> int:
        return self._caller()[2]

    def idle_step(self) -> Any:
        """For a binding with nothing to serve: the next step of the content's reading
        ahead (``lxcfs_fuse.ahead``), or None. The binding calls its ``take()`` once the
        moment stays quiet, else its ``give_back()``; neither raises. Never raises (rule
        2)."""
        ahead_step = getattr(self._content, "ahead_step", None)
        if ahead_step is None:
            return None
        try:
            return ahead_step()
        except Exception as error:
            log.error("reading ahead failed: %s: %s", type(error).__name__, error)
            return None

    def _node(self, path: str) -> Node:
        return self._tree.lookup(path, self._pid())

    def _cgroup(self, path: str | None) -> CgroupTreeOperations | None:
        """The cgroup tree if ``path`` is in it (rule 7), else None."""
        return self._cgroups if self._cgroups is not None and is_cgroup_path(path) else None

    # ----------------------------------------------------------------- attributes

    @_guarded
    def getattr(self, path: str, fh: object = None) -> dict[str, int]:
        if cgroups := self._cgroup(path):
            return cgroups.getattr(path)
        node = self._node(path)
        now = time.time_ns()
        attributes = {"st_uid": 0, "st_gid": 0, "st_atime": now, "st_mtime": now, "st_ctime": now}
        if node.kind == "directory":
            attributes.update(st_mode=self._tree.directory_mode(node), st_nlink=2, st_size=0)
        elif node.kind == "rendered":
            size = len(self._render_for_size(node.path))
            attributes.update(st_mode=stat_module.S_IFREG | 0o444, st_nlink=1, st_size=size)
        else:
            host = self._tree.host_stat(node)
            attributes.update(
                st_mode=self._tree.read_only(host.st_mode),
                st_nlink=2 if node.is_directory else 1,
                st_size=0 if node.is_directory else host.st_size,
            )
        return attributes

    @_guarded
    def access(self, path: str, amode: int) -> int:
        if cgroups := self._cgroup(path):
            return cgroups.access(path, amode)
        node = self._node(path)
        if amode & os.W_OK:
            raise ErrnoError(errno.EACCES)  # read-only throughout (rule 6)
        if amode & os.X_OK and not node.is_directory and node.kind != "host_link":
            raise ErrnoError(errno.EACCES)
        return 0

    @_guarded
    def readlink(self, path: str) -> str:
        if cgroups := self._cgroup(path):
            return cgroups.readlink(path)
        node = self._node(path)
        if node.kind != "host_link" or node.host_path is None:
            raise ErrnoError(errno.EINVAL)
        return os.readlink(node.host_path)

    # ---------------------------------------------------------------- directories

    @_guarded
    def opendir(self, path: str) -> int:
        if cgroups := self._cgroup(path):
            return cgroups.opendir(path)
        if not self._node(path).is_directory:
            raise ErrnoError(errno.ENOTDIR)
        return 0

    @_guarded
    def readdir(self, path: str, fh: object) -> list[str]:
        if cgroups := self._cgroup(path):
            return [".", "..", *cgroups.readdir(path)]
        node = self._node(path)
        names = [".", "..", *self._tree.listing(node, self._pid())]
        if self._cgroups is not None and node.path == "":
            names.append(MOUNT_DIRECTORY)
        return names

    @_guarded
    def releasedir(self, path: str, fh: object) -> int:
        return 0

    # ---------------------------------------------------------------------- files

    @_guarded
    def open(self, path: str, file_info: Any) -> int:
        if cgroups := self._cgroup(path):
            with self._handles_lock:
                handle = next(self._next_handle)
            cgroups.open(path, int(getattr(file_info, "flags", 0)), handle)
            set_direct_io(file_info, handle)
            return 0
        node = self._node(path)
        if node.is_directory:
            raise ErrnoError(errno.EISDIR)
        if node.kind == "host_link":
            raise ErrnoError(errno.ELOOP)  # the kernel follows links before opening
        with self._handles_lock:
            handle = next(self._next_handle)
            self._handles[handle] = _Handle(node)
        set_direct_io(file_info, handle)
        return 0

    @_guarded
    def read(self, path: str | None, size: int, offset: int, file_info: Any) -> bytes:
        if self._cgroups is not None and self._cgroups.owns(handle_of(file_info)):
            return self._cgroups.read(handle_of(file_info), size, offset)
        handle = self._handle(file_info)
        with handle.lock:
            if offset == 0 or handle.content is None:
                handle.content = self._generate(handle.node)
            return handle.content[offset : offset + size]

    def _content_of(self, path: str) -> bytes:
        """The text a read at offset 0 of the rendered file ``path`` gets now, for the
        caller: what ``read`` keeps in a handle (rules 3, 5). devfuse with helper processes
        keeps open files in shared memory instead of handles and reads through this; it is
        a read, and traced as one."""
        node = self._node(path)
        if node.kind != "rendered":
            raise ErrnoError(errno.EINVAL)
        return self._generate(node)

    content_of = _guarded(_content_of, traced_as="read")

    def _render_for_size(self, path: str) -> bytes:
        pid = self._pid()
        text = self._content.render(path, pid).encode()
        now = time.monotonic()
        with self._sized_lock:
            stale = [
                key for key, (made, _) in self._sized.items() if now - made > SIZED_TEXT_SECONDS
            ]
            for key in stale:
                del self._sized[key]
            self._sized[(pid, path)] = (now, text)
        return text

    def _generate(self, node: Node) -> bytes:
        if node.kind == "rendered":
            pid = self._pid()
            with self._sized_lock:
                sized = self._sized.pop((pid, node.path), None)
            if sized is not None and time.monotonic() - sized[0] <= SIZED_TEXT_SECONDS:
                return sized[1]
            return self._content.render(node.path, pid).encode()
        assert node.host_path is not None
        with open(node.host_path, "rb") as host_file:
            return host_file.read(MAX_HOST_FILE)

    def _handle(self, file_info: Any) -> _Handle:
        with self._handles_lock:
            handle = self._handles.get(handle_of(file_info))
        if handle is None:
            raise ErrnoError(errno.EBADF)
        return handle

    @_guarded
    def release(self, path: str | None, file_info: Any) -> int:
        if self._cgroups is not None:
            self._cgroups.release(handle_of(file_info))
        with self._handles_lock:
            self._handles.pop(handle_of(file_info), None)
        return 0

    # No ``flush``: without one libfuse answers the first FLUSH with ENOSYS and the kernel
    # stops sending them (fc->no_flush), which saves a daemon round trip on every close().
    # Nothing is buffered here, so there is nothing a flush could do.

    @_guarded
    def fsync(self, path: str | None, datasync: int, file_info: Any) -> int:
        return 0

    @property
    def open_handles(self) -> int:
        """How many files are open (tests check that release frees them)."""
        with self._handles_lock:
            return len(self._handles)

    # ------------------------------------------------------------ refused (rule 6)

    @_guarded
    def write(self, path: str | None, data: bytes, offset: int, file_info: Any) -> int:
        if self._cgroups is not None and self._cgroups.owns(handle_of(file_info)):
            return self._cgroups.write(handle_of(file_info), data)
        node = self._handle(file_info).node
        raise ErrnoError(errno.EINVAL if node.kind == "rendered" else errno.EACCES)

    @_guarded
    def truncate(self, path: str | None, length: int, fh: object = None) -> int:
        if path is not None and (cgroups := self._cgroup(path)):
            return cgroups.truncate(path)
        node = self._node(path or "/")
        if node.under_sys:
            return 0
        raise ErrnoError(errno.EPERM)

    @_guarded
    def chmod(self, path: str | None, mode: int) -> int:
        raise ErrnoError(self._refusal(path))

    @_guarded
    def chown(self, path: str | None, uid: int, gid: int) -> int:
        raise ErrnoError(self._refusal(path))

    def _refusal(self, path: str | None) -> int:
        if self._cgroup(path):
            return errno.EPERM  # chmod/chown through the cgroup tree: never (rule 7)
        node = self._node(path or "/")
        return errno.EPERM if node.under_proc or node.under_sys else errno.ENOENT

    @_guarded
    def mkdir(self, path: str, mode: int) -> int:
        if cgroups := self._cgroup(path):
            return cgroups.mkdir(path)
        raise ErrnoError(errno.EPERM)

    @_guarded
    def rmdir(self, path: str) -> int:
        if cgroups := self._cgroup(path):
            return cgroups.rmdir(path)
        raise ErrnoError(errno.EPERM)

    @_guarded
    def create(self, path: str, mode: int, file_info: Any = None) -> int:
        raise ErrnoError(errno.ENOSYS)

    @_guarded
    def mknod(self, path: str, mode: int, dev: int) -> int:
        raise ErrnoError(errno.ENOSYS)

    @_guarded
    def unlink(self, path: str) -> int:
        raise ErrnoError(errno.ENOSYS)

    @_guarded
    def rename(self, old: str, new: str) -> int:
        raise ErrnoError(errno.ENOSYS)

    @_guarded
    def link(self, target: str, source: str) -> int:
        raise ErrnoError(errno.ENOSYS)

    @_guarded
    def symlink(self, target: str, source: str) -> int:
        raise ErrnoError(errno.ENOSYS)
