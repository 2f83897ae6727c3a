"""Reads of kernel pseudo-files (procfs, sysfs, cgroupfs) that keep the GIL.

Rules:
1. A file on procfs, sysfs or a cgroup filesystem is made by the kernel from memory when it
   is read: reading it waits on no device and no other process. Such a file is read through
   libc with the GIL held (``ctypes.PyDLL``), so a request of the FUSE daemon reads its
   dozen cgroup files without giving the GIL away a dozen times: under concurrent readers
   every release became a thread switch to win it back (measured in docs/performance.md:
   throughput fell from 1,650 to 540 ops/s going from one reader to eight).
2. Only below the ``trusted`` directories (checked with statfs to be such mounts when a
   ``KernelFiles`` is made), and only after ``fstatfs`` on the opened descriptor confirms
   it (a file bind-mounted over one of them later, such as another LXCFS's meminfo in a
   nested container, is not trusted). The open uses ``O_NONBLOCK``, so opening a named pipe
   never waits. Anything else is read with ``os`` (GIL released; it may block).
3. While ``only_kernel_files()`` is in force on a thread, a read that would need ``os``
   raises ``WouldBlock`` instead of touching the file, so the caller can move the work to a
   thread that may block (the FUSE adapter's deadline workers, lxcfs_fuse/deadline.py).
4. Same results and errors as the ``os`` functions they replace: text decoded like
   ``read_text`` (UTF-8 with replacement, universal newlines), ``OSError`` subclasses with
   the errno (``FileNotFoundError`` for ENOENT, ...).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["KERNEL_FILESYSTEMS", "KernelFiles", "WouldBlock", "decode_text", "read_text"]

#: statfs f_type of the filesystems rule 1 trusts: procfs, sysfs, cgroup v1, cgroup2.
KERNEL_FILESYSTEMS = frozenset({0x9FA0, 0x62656572, 0x27E0EB, 0x63677270})

_READ_CHUNK = 1 << 16
# Per thread, and libfuse may run fifty threads under load: 16 KiB holds every cgroup file
# and most host texts in one read, and a larger file just takes more reads.
_GIL_READ_CHUNK = 1 << 14


class WouldBlock(Exception):
    """A file that is not a trusted kernel file was to be read under ``only_kernel_files``
    (rule 3). Deliberately not an ``OSError`` nor a model error: nothing on the way up
    mistakes it for a missing or malformed file."""


def decode_text(data: bytes) -> str:
    """Bytes of a file as text, as ``open(path, encoding="utf-8", errors="replace")`` reads
    them (universal newlines included)."""
    text = data.decode("utf-8", errors="replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def read_text(path: str) -> str:
    """The whole file as text through ``os`` (GIL released; blocks where the file does):
    plain descriptor reads to EOF, no file object."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        while chunk := os.read(descriptor, _READ_CHUNK):
            parts.append(chunk)
    finally:
        os.close(descriptor)
    return decode_text(b"".join(parts))


# ----------------------------------------------------------------------- libc, GIL held

_libc = ctypes.PyDLL(None, use_errno=True)


def _libc_function(name: str, result: type, *arguments: type) -> Any:
    function = getattr(_libc, name)
    function.restype = result
    function.argtypes = list(arguments)
    return function


_open = _libc_function("open", ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
_read = _libc_function("read", ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
_close = _libc_function("close", ctypes.c_int, ctypes.c_int)
_fstatfs = _libc_function("fstatfs", ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_readlink = _libc_function(
    "readlink", ctypes.c_ssize_t, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
)

# struct statfs starts with f_type (__fsword_t, a C long) on every Linux architecture; the
# whole struct is 120 bytes on 64-bit ones, so 256 is room to spare.
_STATFS_SIZE = 256
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
_PATH_FLAGS = os.O_PATH | os.O_CLOEXEC


class _Buffers(threading.local):
    def __init__(self) -> None:
        self.data = ctypes.create_string_buffer(_GIL_READ_CHUNK)
        self.statfs = ctypes.create_string_buffer(_STATFS_SIZE)
        self.kernel_only = False


_buffers = _Buffers()


def _error(path: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code), path)  # OSError picks the subclass from code


def _filesystem_of(descriptor: int) -> int | None:
    statfs = _buffers.statfs
    if _fstatfs(descriptor, statfs) != 0:
        return None
    return ctypes.c_long.from_buffer(statfs).value & 0xFFFFFFFF


def _statfs_type(path: str) -> int | None:
    """f_type of the filesystem ``path`` is on, or None if it cannot be opened."""
    try:
        descriptor = os.open(path, _PATH_FLAGS)
    except OSError:
        return None
    try:
        return _filesystem_of(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def only_kernel_files() -> Iterator[None]:
    """Rule 3, on the calling thread, for the ``with`` block."""
    previous = _buffers.kernel_only
    _buffers.kernel_only = True
    try:
        yield
    finally:
        _buffers.kernel_only = previous


class KernelFiles:
    """The reads of rules 1-4 for files below ``trusted`` directories."""

    WouldBlock = WouldBlock

    def __init__(self, directories: Iterable[str], files: Iterable[str] = ()) -> None:
        """``directories``: those whose files to trust, each kept only if it is on a kernel
        filesystem now; ``files``: single files below them to check as well (a bind mount
        over one, such as another LXCFS's meminfo, would otherwise be opened with the GIL
        held, and a stalled FUSE daemon could then stall this whole process)."""
        kept = {
            directory.rstrip("/") + "/"
            for directory in directories
            if _statfs_type(directory) in KERNEL_FILESYSTEMS
        }
        self.trusted: tuple[str, ...] = tuple(sorted(kept))
        self.distrusted = frozenset(
            file
            for file in files
            if file.startswith(self.trusted)
            and _statfs_type(file) not in (KERNEL_FILESYSTEMS | {None})
        )

    def _trusts(self, path: str) -> bool:
        if path.startswith(self.trusted):
            return path not in self.distrusted
        return path + "/" in self.trusted  # a trusted directory itself

    only_kernel_files = staticmethod(only_kernel_files)

    def _may_block(self, path: str) -> str:
        """What to do with a path that is not a trusted kernel file (rule 3)."""
        if _buffers.kernel_only:
            raise WouldBlock(path)
        return path

    def read_text(self, path: str) -> str:
        """The whole file as text (rule 4)."""
        if not self._trusts(path):
            return read_text(self._may_block(path))
        encoded = os.fsencode(path)
        descriptor = int(_open(encoded, _OPEN_FLAGS))
        if descriptor < 0:
            raise _error(path)
        try:
            if _filesystem_of(descriptor) not in KERNEL_FILESYSTEMS:
                kernel = False
            else:
                kernel = True
                data = _buffers.data
                parts = []
                while True:
                    count = _read(descriptor, data, _GIL_READ_CHUNK)
                    if count < 0:
                        if ctypes.get_errno() == errno.EINTR:
                            continue
                        raise _error(path)
                    if count == 0:
                        break
                    parts.append(ctypes.string_at(data, count))
        finally:
            _close(descriptor)
        if not kernel:
            return read_text(self._may_block(path))
        return decode_text(b"".join(parts))

    @staticmethod
    def _opens(path: str, flags: int) -> bool:
        """Whether ``open(path, O_PATH | flags)`` succeeds (no data is touched, so O_PATH
        opens even a named pipe at once); any failure is False, as for os.path."""
        descriptor = int(_open(os.fsencode(path), _PATH_FLAGS | flags))
        if descriptor < 0:
            return False
        _close(descriptor)
        return True

    def is_directory(self, path: str) -> bool:
        """``os.path.isdir``."""
        if not self._trusts(path):
            return os.path.isdir(self._may_block(path))
        return self._opens(path, os.O_DIRECTORY)

    def exists(self, path: str) -> bool:
        """``os.path.exists``."""
        if not self._trusts(path):
            return os.path.exists(self._may_block(path))
        return self._opens(path, 0)

    def read_link(self, path: str) -> str:
        """``os.readlink``."""
        if not self._trusts(path):
            return os.readlink(self._may_block(path))
        data = _buffers.data
        count = _readlink(os.fsencode(path), data, _GIL_READ_CHUNK)
        if count < 0:
            raise _error(path)
        return os.fsdecode(ctypes.string_at(data, count))
