"""Reads of kernel pseudo-files (procfs, sysfs, cgroupfs) that keep the GIL.

Rules:
1. A file on procfs, sysfs or a cgroup filesystem is made by the kernel from memory when it
   is read: reading it waits on no device and no other process. Such a file is read through
   libc with the GIL held (``ctypes.PyDLL``), so a request of the FUSE daemon reads its
   dozen cgroup files without giving the GIL away a dozen times: under concurrent readers
   every release became a thread switch to win it back (measured in docs/performance.md:
   throughput fell from 1,650 to 540 ops/s going from one reader to eight).
2. Only below the ``trusted`` directories, each checked with statfs to be such a mount when
   a ``KernelFiles`` is made and held open from then on (one ``O_PATH`` descriptor per
   directory, a dozen at most). A file is opened relative to its directory's descriptor
   with ``openat2(RESOLVE_NO_XDEV)``: the kernel refuses (EXDEV) a path that would cross
   into any other mount *before* it asks that mount's filesystem anything. So whatever is
   mounted below a trusted directory (another LXCFS's meminfo bind-mounted over
   /proc/meminfo in a nested container, a FUSE-served cgroupfs when the daemon itself runs
   nested) is never looked up, opened or read with the GIL held: it is read with ``os``
   (rule 3 applies). Every file that does open is on the trusted directory's own mount, a
   kernel filesystem, so no per-file ``fstatfs`` is needed (it cost a syscall per file and
   guarded only the read, not the open). Opens use ``O_NONBLOCK``. A mount made over a
   trusted directory itself after start is not seen: its descriptor keeps reading the
   kernel's directory beneath (as LXCFS keeps its hierarchies' descriptors). A kernel
   without openat2 (before 5.6, or a seccomp profile refusing it) gets the older check:
   open by path, then ``fstatfs`` on the descriptor before reading.
3. While ``only_kernel_files()`` is in force on a thread, a read that would need ``os``
   raises ``WouldBlock`` instead of touching the file, so the caller can move the work to a
   thread that may block (the FUSE adapter's deadline workers, lxcfs_fuse/deadline.py).
4. A file the kernel makes in one piece (``SINGLE_RECORD_FILES``) is read with one read
   when that read returns less than the buffer: ``seq_read_iter`` grows its buffer until
   the one record fits, so a short first read is the whole text and the read that would
   return 0 is skipped. Any other file is read until a read returns 0 (a multi-record
   file such as /proc/cpuinfo or /proc/kallsyms returns a page at a time).
4a. The single ``files`` named at construction (the host's /proc/meminfo, /proc/stat, ...)
   that are single-record trusted kernel files are opened once and held: each read is a
   ``pread`` at offset 0, which makes ``seq_read_iter`` start afresh, so it shows the
   kernel's values of that moment exactly as a new open would, without the open and
   close. They are files of the whole system, never removed or replaced while it runs;
   descriptors are shared between threads safely because the GIL is held through each
   pread and they are closed only when the ``KernelFiles`` is collected. A held file is
   only ever read with that one pread from offset 0: a text that fills the buffer is read
   through a descriptor of its own, then and from then on (a second pread further on
   could continue the record another thread's pread from 0 just made, a newer one: a torn
   text).
4b. A caller may hold such a file of its own choosing (``open_kept``, ``read_kept``,
   ``close_kept``): any single-record trusted kernel file, read with the same ``pread`` at
   offset 0. It decides how long and closes it when no other thread can be reading it
   (``CachingReader`` rule 3b: a container's usage files, for ``setting_max_age``). A
   cgroup removed since reads ENODEV (kernfs deactivates its open files); a v1 cgroup
   renamed since reads on under its new name, which is why a holder bounds the time.
5. Same results and errors as the ``os`` functions they replace: text decoded like
   ``read_text`` (UTF-8 with replacement, universal newlines), ``OSError`` subclasses with
   the errno (``FileNotFoundError`` for ENOENT, ...).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import sys
import threading
import weakref
from collections.abc import Iterable
from typing import Any

__all__ = [
    "KERNEL_FILESYSTEMS",
    "SINGLE_RECORD_FILES",
    "KernelFiles",
    "WouldBlock",
    "decode_text",
    "read_text",
]

#: statfs f_type of the filesystems rule 1 trusts: procfs, sysfs, cgroup v1, cgroup2.
KERNEL_FILESYSTEMS = frozenset({0x9FA0, 0x62656572, 0x27E0EB, 0x63677270})

#: Rule 4: names of the files the reader reads whose text the kernel shows in one record.
#: procfs: ``single_open`` files (meminfo, uptime, loadavg, stat) and the per-process
#: ``proc_single_show`` ones (<pid>/stat, status, cgroup); sysfs attributes (``online``)
#: are one ``show`` call. cgroup files: ``cgroup_init_cftypes`` gives every cftype without
#: a ``seq_start`` the single-record ``cgroup_kf_single_ops`` (v1 and v2 alike); none of
#: these has one. Left out on purpose: cpuinfo, diskstats, swaps, slabinfo,
#: memory.kmem.slabinfo (record by record on older kernels) and cgroup.procs.
#: tests/unit/test_kernel_files.py checks each one present on the machine.
SINGLE_RECORD_FILES = frozenset(
    {
        "stat",
        "status",
        "cgroup",
        "meminfo",
        "uptime",
        "loadavg",
        "online",
        "memory.usage_in_bytes",
        "memory.limit_in_bytes",
        "memory.memsw.usage_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.stat",
        "memory.swappiness",
        "memory.current",
        "memory.max",
        "memory.swap.current",
        "memory.swap.max",
        "cpuset.cpus",
        "cpuset.effective_cpus",
        "cpuset.cpus.effective",
        "cpu.cfs_quota_us",
        "cpu.cfs_period_us",
        "cpu.max",
        "cpu.stat",
        "cpuacct.usage",
        "cpuacct.usage_all",
        "cpuacct.usage_percpu",
        "io.stat",
        "blkio.throttle.io_serviced_recursive",
        "blkio.throttle.io_service_bytes_recursive",
        "cpu.pressure",
        "io.pressure",
        "memory.pressure",
    }
)

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
_pread = _libc_function(
    "pread", ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long
)
_readlink = _libc_function(
    "readlink", ctypes.c_ssize_t, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
)
# openat2(dirfd, path, how, size): glibc 2.36 has no wrapper, so through syscall(2).
_syscall = _libc_function(
    "syscall",
    ctypes.c_long,
    ctypes.c_long,
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
)
_SYS_OPENAT2 = 437  # the same number on every Linux architecture but alpha
_RESOLVE_NO_XDEV = 0x01

# struct statfs starts with f_type (__fsword_t, a C long) on every Linux architecture; the
# whole struct is 120 bytes on 64-bit ones, so 256 is room to spare.
_STATFS_SIZE = 256
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
_PATH_FLAGS = os.O_PATH | os.O_CLOEXEC
_FOREIGN = -1  # what _open returns for a file that is not a trusted kernel file
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


class _OpenHow(ctypes.Structure):
    """struct open_how of openat2(2)."""

    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _How:
    """One way to open: flags for open(2), and the same as a ready open_how for openat2."""

    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.struct = _OpenHow(flags, 0, _RESOLVE_NO_XDEV)  # kept alive: address below
        self.address = ctypes.addressof(self.struct)
        self.size = ctypes.sizeof(self.struct)
        self.path_only = bool(flags & os.O_PATH)


_READ = _How(_OPEN_FLAGS)
_EXISTS = _How(_PATH_FLAGS)
_DIRECTORY = _How(_PATH_FLAGS | os.O_DIRECTORY)


class _Buffers(threading.local):
    def __init__(self) -> None:
        self.data = ctypes.create_string_buffer(_GIL_READ_CHUNK)
        self.statfs = ctypes.create_string_buffer(_STATFS_SIZE)
        self.kernel_only = False


_buffers = _Buffers()


def _error(path: str, code: int | None = None) -> OSError:
    code = ctypes.get_errno() if code is None else code
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


def _openat2_works(directory: int) -> bool:
    """Whether this kernel (and any seccomp filter) lets openat2 open ``.`` below
    ``directory`` (rule 2's fallback otherwise)."""
    descriptor = int(_syscall(_SYS_OPENAT2, directory, b".", _EXISTS.address, _EXISTS.size))
    if descriptor < 0:
        return False
    _close(descriptor)
    return True


def _close_all(descriptors: Iterable[int]) -> None:
    for descriptor in descriptors:
        _close(descriptor)


class only_kernel_files:  # lower case: called as the function it was, ``with only_kernel_files():``
    """Rule 3, on the calling thread, for the ``with`` block. A class, not a generator
    context manager: entered at every read of a view, where the generator's machinery
    cost a microsecond more."""

    __slots__ = ("_previous",)

    def __enter__(self) -> None:
        self._previous = _buffers.kernel_only
        _buffers.kernel_only = True

    def __exit__(self, *exception: object) -> None:
        _buffers.kernel_only = self._previous


class KernelFiles:
    """The reads of rules 1-5 for files below ``trusted`` directories."""

    WouldBlock = WouldBlock

    def __init__(
        self,
        directories: Iterable[str],
        files: Iterable[str] = (),
        *,
        filesystems: frozenset[int] = KERNEL_FILESYSTEMS,
    ) -> None:
        """``directories``: those whose files to trust, each kept (and held open) only if
        it is on one of ``filesystems`` now (tests name another to stand in for a kernel
        filesystem); ``files``: single files below them to check as well (a bind mount over
        one, such as another LXCFS's meminfo, is then never even tried)."""
        files = tuple(files)
        self._directories: dict[str, int] = {}
        for directory in directories:
            prefix = directory.rstrip("/") + "/"
            if prefix in self._directories:
                continue
            try:
                descriptor = os.open(directory, _PATH_FLAGS | os.O_DIRECTORY)
            except OSError:
                continue
            if _filesystem_of(descriptor) in filesystems:
                self._directories[prefix] = descriptor
            else:
                os.close(descriptor)
        self.trusted: tuple[str, ...] = tuple(sorted(self._directories))
        # The trusted prefix of a path in one C call; the longest first, should one trusted
        # directory lie below another.
        self._prefix = re.compile(
            "|".join(re.escape(prefix) for prefix in sorted(self.trusted, key=len, reverse=True))
            or "(?!)"
        ).match
        self.filesystems = filesystems
        self.distrusted = frozenset(
            file
            for file in files
            if file.startswith(self.trusted) and _statfs_type(file) not in (filesystems | {None})
        )
        self.resolves_beneath = any(
            _openat2_works(descriptor) for descriptor in list(self._directories.values())[:1]
        )
        self._held: dict[str, int] = {}  # rule 4a
        for file in files:
            if file.rpartition("/")[2] not in SINGLE_RECORD_FILES or file in self._held:
                continue
            try:
                descriptor = self._open(file, _READ)
            except OSError:
                continue  # not there (no PSI) or not ours to read: read each time as before
            if descriptor != _FOREIGN:
                self._held[file] = descriptor
        weakref.finalize(self, _close_all, (*self._directories.values(), *self._held.values()))

    def _trusts(self, path: str) -> bool:
        if path.startswith(self.trusted):
            return path not in self.distrusted
        return path + "/" in self._directories  # a trusted directory itself

    only_kernel_files = staticmethod(only_kernel_files)

    def _may_block(self, path: str) -> str:
        """What to do with a path that is not a trusted kernel file (rule 3)."""
        if _buffers.kernel_only:
            raise WouldBlock(path)
        return path

    def _open(self, path: str, how: _How) -> int:
        """A descriptor of ``path`` if it is a trusted kernel file (rule 2), else
        ``_FOREIGN``; the open's OSError if it fails otherwise."""
        found = self._prefix(path)
        if found is not None:
            if path in self.distrusted:
                return _FOREIGN
            directory, relative = self._directories[found.group()], path[found.end() :] or "."
        elif path + "/" in self._directories:
            directory, relative = self._directories[path + "/"], "."
        else:
            return _FOREIGN
        if self.resolves_beneath:
            descriptor = int(
                _syscall(
                    _SYS_OPENAT2,
                    directory,
                    relative.encode(_FS_ENCODING, _FS_ERRORS),
                    how.address,
                    how.size,
                )
            )
            if descriptor >= 0:
                return descriptor
            code = ctypes.get_errno()
            if code == errno.EXDEV:
                return _FOREIGN  # it lies on another mount
            raise _error(path, code)
        descriptor = int(_open(os.fsencode(path), how.flags))
        if descriptor < 0:
            raise _error(path)
        if not how.path_only and _filesystem_of(descriptor) not in self.filesystems:
            _close(descriptor)
            return _FOREIGN
        return descriptor

    def read_text(self, path: str) -> str:
        """The whole file as text (rules 4, 4a and 5)."""
        held = self._held.get(path)
        if held is not None:
            text = _read_from_start(held, path)
            if text is not None:
                return text
            # Longer than the buffer (/proc/stat of a big host): opened each time from now
            # on, not pread twice; the descriptor is closed with the others (rule 4a).
            self._held.pop(path, None)
        return self._read_opened(path)

    def _read_opened(self, path: str) -> str:
        """The whole file through a descriptor of its own (rules 2 and 4)."""
        descriptor = self._open(path, _READ)
        if descriptor == _FOREIGN:
            return read_text(self._may_block(path))
        try:
            one_record = path[path.rfind("/") + 1 :] in SINGLE_RECORD_FILES
            return _read_all(descriptor, path, one_record)
        finally:
            _close(descriptor)

    def open_kept(self, path: str) -> int | None:
        """Rule 4b: a descriptor of ``path`` for ``read_kept`` if it is a single-record
        trusted kernel file, else None (read it with ``read_text``); the open's OSError
        if it fails."""
        if path[path.rfind("/") + 1 :] not in SINGLE_RECORD_FILES:
            return None
        descriptor = self._open(path, _READ)
        return None if descriptor == _FOREIGN else descriptor

    def read_kept(self, descriptor: int, path: str) -> str:
        """Rule 4b: the text of a file ``open_kept`` opened, read afresh from offset 0."""
        text = _read_from_start(descriptor, path)
        return self._read_opened(path) if text is None else text

    @staticmethod
    def close_kept(descriptor: int) -> None:
        """Rule 4b: close what ``open_kept`` opened."""
        _close(descriptor)

    def _opens(self, path: str, how: _How) -> bool | None:
        """Whether an ``O_PATH`` open of ``path`` succeeds (no data is touched, so it
        opens even a named pipe at once); any failure is False, as for os.path; None if
        ``path`` is not a trusted kernel file."""
        try:
            descriptor = self._open(path, how)
        except OSError:
            return False
        if descriptor == _FOREIGN:
            return None
        _close(descriptor)
        return True

    def is_directory(self, path: str) -> bool:
        """``os.path.isdir``."""
        opened = self._opens(path, _DIRECTORY)
        if opened is None:
            return os.path.isdir(self._may_block(path))
        return opened

    def exists(self, path: str) -> bool:
        """``os.path.exists``."""
        opened = self._opens(path, _EXISTS)
        if opened is None:
            return os.path.exists(self._may_block(path))
        return opened

    def read_link(self, path: str) -> str:
        """``os.readlink``."""
        if not self._trusts(path):
            return os.readlink(self._may_block(path))
        data = _buffers.data
        count = _readlink(os.fsencode(path), data, _GIL_READ_CHUNK)
        if count < 0:
            raise _error(path)
        return os.fsdecode(ctypes.string_at(data, count))


def _read_all(descriptor: int, path: str, one_record: bool) -> str:
    """The text read from ``descriptor`` with ``read`` from where it is; a short read of a
    single-record file is all of it (rule 4)."""
    data = _buffers.data
    parts: list[bytes] = []
    while True:
        count = _read(descriptor, data, _GIL_READ_CHUNK)
        if count < 0:
            if ctypes.get_errno() == errno.EINTR:
                continue
            raise _error(path)
        if count == 0:
            break
        parts.append(ctypes.string_at(data, count))
        if one_record and count < _GIL_READ_CHUNK:
            break  # rule 4: that was all of it
    return decode_text(parts[0] if len(parts) == 1 else b"".join(parts))


def _read_from_start(descriptor: int, path: str) -> str | None:
    """Rules 4a and 4b: the text of a held single-record file, one ``pread`` from offset 0,
    or None if it fills the buffer. Never a second pread further on: the descriptor's
    record is shared, and another thread's pread from 0 in between would make the kernel
    print a newer one, whose rest that pread would get (a text torn mid-line where the
    two records' lengths differ, as /proc/stat's on a host of some 300 CPUs or more)."""
    data = _buffers.data
    while True:
        count = _pread(descriptor, data, _GIL_READ_CHUNK, 0)
        if count >= 0:
            break
        if ctypes.get_errno() != errno.EINTR:
            raise _error(path)
    if count == _GIL_READ_CHUNK:
        return None
    return decode_text(ctypes.string_at(data, count))
