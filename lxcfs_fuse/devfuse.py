"""Our own FUSE session: the daemon talks to /dev/fuse itself, without libfuse.

Why (docs/performance.md, third round): through libfuse every request is a ctypes callback on
one of libfuse's threads, and each must win the GIL from the thread that served the last
one. That hand-off capped throughput as readers were added, and fusepy's per-callback
conversions were most of a small read's cost. Here one Python thread reads a request, serves
it and writes the answer: no thread switch, no callback, no conversion but ``struct``.

Rules:
1. The operations object is the one every binding gets (``LxcfsOperations``, fusepy's API:
   paths in, dicts, bytes and ``ErrnoError`` out); this module translates the kernel's
   requests into those calls as libfuse's high-level API does (node ids to paths, the order
   of SETATTR's parts, readdir buffered per open directory, ENOSYS for what the operations
   lack), so the behaviour a reader sees is the operations', whatever the binding.
2. One serving thread, which never waits on anything that can stall: a request that would
   have to (``deadline.MustDefer``: it needs a file other than a kernel file, or it is a
   cgroup-tree request) is handed whole to a small pool of worker threads, which serve it
   under the request deadline and write its answer themselves. Answers may go back in any
   order; the kernel matches them by ``unique``. (A second serving thread, tried, halved
   throughput under four readers: the two win the GIL from each other at every read and
   write of /dev/fuse.)
3. The caller of a request is in its header (uid, gid, pid in our pid namespace, as libfuse's
   ``fuse_get_context`` gives them); ``caller()`` returns the one of the request being served
   on this thread.
4. Mounting is ``mount(2)`` with the descriptor, as libfuse does for root (the daemon runs as
   root, like lxcfs): ``lxcfs on <dir> type fuse.lxcfs (rw,nosuid,nodev,relatime,user_id=0,
   group_id=0,allow_other)``. Leaving: SIGTERM, SIGINT or SIGHUP end the loop and detach the
   mount (``umount2(MNT_DETACH)``, libfuse's own way); an ``umount`` from outside ends the
   loop when the kernel says the connection is gone (ENODEV).
5. Nothing a request does can end the loop: any exception becomes EIO and one log line.
6. After answering an OPEN or a READ, the serving thread waits awake (``poll`` with no
   timeout, for up to ``FOLLOW_UP_SECONDS``) before it sleeps in the next read: the same
   reader's next request (its read, the read at EOF, the release at close) comes within
   microseconds, and on a virtual machine a sleeping CPU halts, so waking it costs a VM
   exit and a cold cache (measured: 1,569-1,641 against 2,325-2,663 ops/s for one reader,
   the same CPU per read; docs/performance.md). After any other answer (a RELEASE ends a
   file; the next open may be seconds away) it sleeps at once. (Not waiting after EOF was
   tried: the release then woke a halted CPU, and the daemon's CPU per read rose, 4.89 to
   5.2-5.3 s per 10,000.) Not while a helper process is engaged: the CPUs are busy then,
   and the helper may take the follow-up.
7. With helper processes (``peers``, a ``Peers`` given to ``Session``; the main process
   forks them before mounting): each process runs one such session. The main process reads
   the mounted device without blocking and sleeps in poll on it and its mailbox
   (``_serve_main``); a helper reads a clone of its own while engaged (``serve_helper``).
   ``_dispatch`` serves a request where it was read or forwards it to the process that
   must serve it (``_route``), and an answer goes back on the device its request came from.
   Open rendered files are shared records there (``_read_record``); operations handles
   stay the main process's.
8. Idle work: when the main process finds the device dry after a request, and no helper
   engaged, it asks the operations for a step of idle work (``idle_step()``: reading
   ahead, ``lxcfs_fuse.ahead``, when turned on) once before it sleeps, and takes it, so a
   request that arrives meanwhile waits for one step at most (a render: a few hundred
   microseconds).
   Only after ``QUIET_BEFORE_IDLE_SECONDS`` without a request (asleep in ``select``): a
   reader reading several files back to back opens the next within tens of
   microseconds, and found it behind a render ahead (measured with the benchmark's reads
   in random order: meminfo p90 942 -> 834 us, p99 2.5 -> 1.4 ms); if a request comes
   first the step is given back. The step is asked for before that quiet moment, not
   after: most dry spells have none, and then the loop goes straight to sleep, one
   wake-up instead of two (docs/performance.md, tenth round). A helper never does: its
   caches serve only its own reads. One process alone (``-s``, one CPU) blocks in its read
   and does no idle work.
9. Three of a read's four requests need nothing but the open file's shared record: the
   OPEN of a rendered file (a slot taken), the READ at or past its text's end (EOF) and
   the RELEASE of a record this process may free. The main process answers those as it
   reads them (``_answered_from_record``), with the answer ``_dispatch`` would give,
   without its routing, handler table and per-request bookkeeping, which were more than
   half of what such a request cost (timed warm with its write: 4.1-4.7 against 7.0-7.9
   us; tenth round). The fourth, the READ at offset 0 that renders, goes from there
   straight to ``_read_record`` when no other process holds a text of that record (so
   ``_route`` would keep it here), answered by ``_answer`` as ``_serve_one`` answers
   (eleventh round). Everything else goes through ``_dispatch``.
10. The text is made at the open (``_render_at_open``): having answered the OPEN of a
   rendered file for reading, with no helper engaged, the main process renders it for
   the opener at once, where it would otherwise wait awake for the read (rule 6: a
   reader's read comes some 20 us after its open, which on this machine is time spent
   spinning), and the open file's first request, if it is its READ at offset 0 by the
   same task within ``RENDER_AT_OPEN_SECONDS`` of the open's answer, gets that text, or
   the error the render met; anything else drops it, and such a read renders as before.
   What a reader can tell: its text may have been made up to that long before its read
   (lxcfs makes it at the read), as if the read had come that much sooner; the reader's
   read, which mostly arrives during that render, waits less. A render that must wait
   for a worker (``MustDefer``) is left to the read.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import queue
import select
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from lxcfs_fuse import fuse_protocol as wire
from lxcfs_fuse import peers as serving
from lxcfs_fuse.deadline import MustDefer, inline_only, start_without_signals
from lxcfs_fuse.fuse_protocol import Opcode
from lxcfs_fuse.peers import Peers

__all__ = ["MountOptionError", "Session", "caller", "mount"]

log = logging.getLogger("lxcfs_fuse")

#: How long the kernel keeps a name and its attributes (lxcfs's entry/attr_timeout 0.5 s).
ENTRY_SECONDS = 0.5
ATTR_SECONDS = 0.5
#: How long the serving thread waits awake for a reader's next request of an open file
#: (rule 6): longer than a reader's turn-around, shorter than what sleeping costs.
FOLLOW_UP_SECONDS = 100e-6
#: How long the main process waits, asleep, for another request before a step of idle
#: work (rule 8): a reader reading several files back to back opens the next within tens
#: of microseconds, and a render ahead in its way would hold that open for hundreds.
QUIET_BEFORE_IDLE_SECONDS = 100e-6
#: How soon after an open's answer its first read must come to get the text made at the
#: open (rule 10): many times the usual 20 us, well under the 10 ms for which the values
#: it is made from are shared between requests anyway.
RENDER_AT_OPEN_SECONDS = 0.001
#: Requests after whose answer the same reader's next request is due at once (rule 6).
_FOLLOWED_UP = frozenset({Opcode.OPEN, Opcode.READ})
#: Worker threads for requests that may stall (rule 2); each waits at most the deadline.
DEFERRED_WORKERS = 8
#: Requests on an open file (peers rule 2: records, or the main process's handles); each
#: body starts with the handle.
_ON_HANDLES = frozenset({Opcode.READ, Opcode.WRITE, Opcode.RELEASE, Opcode.FSYNC, Opcode.FLUSH})
_HANDLE = struct.Struct("<Q")
#: A request's opcode, unique and node id (rule 9).
_KIND = struct.Struct("<4xIQQ")
#: What starts the body of a READ and of a RELEASE: the handle, then the offset
#: (``fuse_read_in``) or the flags (``fuse_release_in``; rule 9).
_HANDLE_OFFSET = struct.Struct("<QQ")
#: A READ's size (``fuse_read_in``, after the handle and the offset; rule 9).
_READ_SIZE = struct.Struct("<16xI")
#: A request's caller: uid, gid, pid (``fuse_in_header``; rule 9).
_CALLER = struct.Struct("<24xIII")
_REQUEST_LENGTH = struct.Struct("<I")
_REQUEST_PID = struct.Struct("<32xI")  # fuse_in_header.pid
_FUSE_DEV_IOC_CLONE = 0x8004E500  # _IOR(229, 0, uint32_t)

#: Requests between checks for dead helpers while the main process never sleeps.
_DEATH_CHECK_EVERY = 1024

_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_SYNCHRONOUS = 16
_MS_DIRSYNC = 128
_MS_NOATIME = 1024
_MS_NODIRATIME = 2048
_MS_RELATIME = 1 << 21
_MS_STRICTATIME = 1 << 24
_MNT_DETACH = 2

#: ``-o`` options that are mount flags: (flags set, flags cleared).
_FLAG_OPTIONS: Mapping[str, tuple[int, int]] = {
    "ro": (_MS_RDONLY, 0),
    "rw": (0, _MS_RDONLY),
    "nosuid": (_MS_NOSUID, 0),
    "suid": (0, _MS_NOSUID),
    "nodev": (_MS_NODEV, 0),
    "dev": (0, _MS_NODEV),
    "noexec": (_MS_NOEXEC, 0),
    "exec": (0, _MS_NOEXEC),
    "sync": (_MS_SYNCHRONOUS, 0),
    "async": (0, _MS_SYNCHRONOUS),
    "dirsync": (_MS_DIRSYNC, 0),
    "noatime": (_MS_NOATIME, 0),
    "atime": (0, _MS_NOATIME),
    "nodiratime": (_MS_NODIRATIME, 0),
    "diratime": (0, _MS_NODIRATIME),
    "relatime": (_MS_RELATIME, 0),
    "norelatime": (0, _MS_RELATIME),
    "strictatime": (_MS_STRICTATIME, 0),
}
#: ``-o`` options the kernel's fuse takes as mount data.
_KERNEL_OPTIONS = ("default_permissions", "max_read", "blksize")
#: ``-o`` options libfuse's high-level API takes for itself; this session answers as it does
#: with their defaults, and these values are those defaults or names only (fsname, subtype).
_LIBRARY_OPTIONS = ("fsname", "subtype", "entry_timeout", "attr_timeout", "allow_other")

_current = threading.local()


class _Woken(Exception):
    """Raised by a helper's idle tick to end its blocked read (peers rule 4)."""


class MountOptionError(ValueError):
    """A ``-o`` option this session cannot honour."""


def caller() -> tuple[int, int, int]:
    """(uid, gid, pid) of the request being served on this thread (rule 3)."""
    found: tuple[int, int, int] = getattr(_current, "caller", (0, 0, 0))
    return found


class FileInfo:
    """What an operation's ``open`` may set, and ``read``/``release`` find: fusepy's
    ``fuse_file_info`` fields the operations use."""

    __slots__ = ("direct_io", "fh", "flags", "keep_cache", "nonseekable")

    def __init__(self, flags: int = 0, fh: int = 0) -> None:
        self.flags = flags
        self.fh = fh
        self.direct_io = 0
        self.keep_cache = 0
        self.nonseekable = 0


class _Nodes:
    """Node ids and their paths, as libfuse's high-level API keeps them: one id per path
    while the kernel remembers it (lookup counts), the root is 1."""

    def __init__(self, fixed: Sequence[str] = ()) -> None:
        self.paths: dict[int, str] = {1: "/"}
        self._ids: dict[str, int] = {"/": 1}
        self._lookups: dict[int, int] = {1: 1}
        self._next = 2
        self._lock = threading.Lock()
        # Paths whose ids every serving process knows (peers rule 2): never forgotten.
        self._pinned = frozenset(self.remember(path) for path in fixed)
        for nodeid in self._pinned:
            self._lookups[nodeid] = 0

    def child(self, parent: int, name: str) -> str:
        base = self.paths.get(parent)
        if base is None:
            raise OSError(errno.ENOENT, "unknown node")
        if name == "..":
            return base.rsplit("/", 1)[0] or "/"
        if name == ".":
            return base
        return ("" if base == "/" else base) + "/" + name

    def remember(self, path: str) -> int:
        """The node id of ``path``, its lookup count raised by one."""
        with self._lock:
            nodeid = self._ids.get(path)
            if nodeid is None:
                nodeid = self._next
                self._next += 1
                self._ids[path] = nodeid
                self.paths[nodeid] = path
                self._lookups[nodeid] = 0
            self._lookups[nodeid] += 1
            return nodeid

    def forget(self, nodeid: int, count: int) -> None:
        with self._lock:
            left = self._lookups.get(nodeid, 0) - count
            if nodeid == 1 or left > 0 or nodeid in self._pinned:
                if nodeid in self._lookups:
                    self._lookups[nodeid] = max(left, 1 if nodeid == 1 else 0)
                return
            self._lookups.pop(nodeid, None)
            path = self.paths.pop(nodeid, None)
            if path is not None and self._ids.get(path) == nodeid:
                del self._ids[path]

    def removed(self, path: str) -> None:
        """``path`` was removed: a later lookup of the same name is a new node (its old id
        lives on for the kernel until forgotten)."""
        with self._lock:
            if self._ids.get(path) not in self._pinned:
                self._ids.pop(path, None)

    def __len__(self) -> int:
        return len(self.paths)


class Session:
    """Serves ``operations`` on an open /dev/fuse descriptor (rules 1-2, 5)."""

    def __init__(
        self,
        operations: Any,
        fd: int,
        *,
        workers: int = DEFERRED_WORKERS,
        peers: Peers | None = None,
    ) -> None:
        self._operations = operations
        self._fd = fd
        # Serving processes (rule 7, ``peers``): alone, this process is 0 of 1.
        self._peers = peers
        self._count = peers.count if peers is not None else 1
        self._index = peers.index if peers is not None else 0
        fixed = serving.shared_files() if peers is not None else ()
        self.nodes = _Nodes(fixed)
        # Rendered files whose open files are shared records (peers rule 2), and those of
        # them only the main process renders.
        self._record_nodes = frozenset(self.nodes.remember(path) for path in fixed)
        main_only = serving.main_only_files() if peers is not None else frozenset()
        self._main_only = frozenset(self.nodes.remember(path) for path in main_only)
        self._files = peers.files if peers is not None else None
        self._directories: dict[int, tuple[str, list[str] | None]] = {}
        self._next_directory = 1
        self._directory_lock = threading.Lock()
        self._deferred: queue.SimpleQueue[
            tuple[int, int, int, tuple[int, int, int], bytes, int | None, bytes]
        ] = queue.SimpleQueue()
        self._max_workers = workers
        self._workers = 0
        self._idle_workers = 0
        self._workers_lock = threading.Lock()
        self.stopping = False
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)
        self._follow_up_due = False
        # The text made at the last open (rule 10): slot, task, when the open was
        # answered, and the text or the error its render met; for the next request only.
        self._opened: tuple[int, int, float, bytes | BaseException] | None = None
        self._engaged = False
        self._idle_due = False
        self._wakeups = -1
        self._served = self._served_at_tick = 0
        self._backlog_seen = 0.0
        self._handlers: dict[int, Callable[[int, bytes], bytes | None]] = {
            Opcode.LOOKUP: self._lookup,
            Opcode.GETATTR: self._getattr,
            Opcode.SETATTR: self._setattr,
            Opcode.READLINK: self._readlink,
            Opcode.MKDIR: self._mkdir,
            Opcode.RMDIR: self._rmdir,
            Opcode.UNLINK: self._unlink,
            Opcode.MKNOD: self._mknod,
            Opcode.SYMLINK: self._symlink,
            Opcode.RENAME: self._rename,
            Opcode.RENAME2: self._rename,
            Opcode.LINK: self._link,
            Opcode.CREATE: self._create,
            Opcode.OPEN: self._open,
            Opcode.READ: self._read,
            Opcode.WRITE: self._write,
            Opcode.RELEASE: self._release,
            Opcode.FSYNC: self._fsync,
            Opcode.STATFS: lambda nodeid, body: wire.statfs_out(),
            Opcode.OPENDIR: self._opendir,
            Opcode.READDIR: self._readdir,
            Opcode.RELEASEDIR: self._releasedir,
            Opcode.ACCESS: self._access,
            Opcode.DESTROY: self._destroy,
        }

    # ------------------------------------------------------------------------ the loop

    def serve(self) -> None:
        """Answer requests until the connection ends or ``stop`` (rule 4)."""
        if self._peers is not None:
            self._serve_main()
            return
        buffer = bytearray(wire.REQUEST_BUFFER)
        view = memoryview(buffer)
        header = wire.IN_HEADER
        _current.serving = True
        with inline_only():  # this thread never waits (rule 2)
            while not self.stopping:
                length = self._read_request(buffer)
                if not length:
                    return  # unmounted (a socket standing in for /dev/fuse: closed)
                if length < header.size:
                    log.error("short FUSE request (%d bytes) ignored", length)
                    continue
                _, opcode, unique, nodeid, uid, gid, pid, _, _ = header.unpack_from(buffer)
                body = bytes(view[header.size : length])
                self._serve_one(opcode, unique, nodeid, (uid, gid, pid), body)

    def _read_request(self, buffer: bytearray) -> int | None:
        """The next request's length, or None once unmounted. After an OPEN or a READ the
        same reader's next request is due within microseconds: wait for it awake for up to
        ``FOLLOW_UP_SECONDS`` (rule 6) before sleeping in the read."""
        if self._follow_up_due:
            self._follow_up_due = False
            self._await_follow_up()
        while True:
            try:
                _current.blocked_in_read = True
                return os.readv(self._fd, [buffer])
            except InterruptedError:
                continue
            except OSError as error:
                if error.errno == errno.ENOENT:
                    continue  # the request was interrupted before we read it
                if error.errno == errno.ENODEV:
                    return None  # unmounted
                raise
            finally:
                _current.blocked_in_read = False

    def interrupt_read(self) -> bool:
        """For a signal handler: whether the loop is blocked in its read (then the handler
        raises to leave it; otherwise ``stopping`` ends the loop after this request)."""
        self.stopping = True
        blocked: bool = getattr(_current, "blocked_in_read", False)
        return blocked

    # ------------------------------------------------------- serving processes (rule 7)

    def _serve_main(self) -> None:
        """The main process's loop with helpers (``peers``). It reads its own clone of the
        device without blocking (``attach``) and sleeps in poll on it, its mailbox and the
        helpers' pidfds, so mail is never missed; it engages a helper when it finds a
        requests of more than ``ENGAGE_AFTER`` callers waiting back to back (peers rule
        4)."""
        peers = self._peers
        assert peers is not None
        buffer = bytearray(wire.REQUEST_BUFFER)
        view = memoryview(buffer)
        deaths = peers.death_descriptors()
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(peers.mailbox, select.POLLIN)
        for pidfd in deaths:
            poller.register(pidfd, select.POLLIN)
        # Callers whose requests were read back to back, without the device running dry.
        waiting: set[int] = set()
        idle_step: Callable[[], Any] | None = getattr(self._operations, "idle_step", None)
        idle_allowed = False  # one idle step per dry spell, after a request (rule 8)
        _current.serving = True
        with inline_only(), self._signal_wakeups(poller):  # never waits (rule 2)
            while not self.stopping:
                if peers.mail_waiting():
                    self._take_mail()
                if self._follow_up_due:
                    self._follow_up_due = False
                    # Not while a helper is engaged: it may take the follow-up, and the CPU
                    # this would spin on is the helper's and the readers' (rule 6).
                    if not peers.any_engaged():
                        self._await_follow_up()
                try:
                    length = os.readv(self._fd, [buffer])
                except BlockingIOError:
                    waiting.clear()
                    # Nothing to serve: one step of reading ahead, then look again (rule 8).
                    if idle_step is not None and idle_allowed and not peers.any_engaged():
                        idle_allowed = False
                        step = idle_step()
                        if step is not None:
                            # A reader reading files back to back (top: stat, meminfo,
                            # uptime, loadavg) opens the next at once: a moment's quiet
                            # first, so that open never waits behind a render ahead.
                            if self._quiet(QUIET_BEFORE_IDLE_SECONDS):
                                step.take()
                            else:
                                step.give_back()
                            continue
                    self._wait(poller, deaths)
                    continue
                except InterruptedError:
                    continue
                except OSError as error:
                    if error.errno == errno.ENOENT:
                        continue
                    if error.errno == errno.ENODEV:
                        return
                    raise
                if not length:
                    return
                idle_allowed = True
                waiting.add(_REQUEST_PID.unpack_from(buffer)[0])
                waiting.discard(0)  # a release: sent by the kernel, for no caller
                if len(waiting) > serving.ENGAGE_AFTER:
                    self._backlog_seen = time.monotonic()
                    if peers.engage_idle_helper():
                        waiting.clear()
                request = bytes(view[:length])
                if not self._answered_from_record(request):
                    self._dispatch(request, forwarded=False)

    def _answered_from_record(self, request: bytes) -> bool:
        """Rule 9: answer here, at once, the requests of a read of a rendered file (the
        open, the read at offset 0 that renders, the read at EOF, the release); whether it
        did. Anything else, or any doubt, is left to ``_dispatch``, which answers these the
        same way."""
        if len(request) < wire.IN_HEADER.size:
            return False
        opcode, unique, nodeid = _KIND.unpack_from(request)
        files = self._files
        assert files is not None
        opened, self._opened = self._opened, None  # for this request only (rule 10)
        slot = -1
        try:
            if opcode == Opcode.OPEN:
                if nodeid not in self._record_nodes:
                    return False
                slot = files.take(self._index)
                answer = wire.open_out(serving.SharedFiles.BIT | slot, direct_io=True)
                self._follow_up_due = True
            elif opcode == Opcode.READ or opcode == Opcode.RELEASE:
                if len(request) < wire.IN_HEADER.size + _HANDLE_OFFSET.size:
                    return False
                handle, offset = _HANDLE_OFFSET.unpack_from(request, wire.IN_HEADER.size)
                if not handle & serving.SharedFiles.BIT:
                    return False
                slot = handle ^ serving.SharedFiles.BIT
                holder, length = files.record(slot)
                if opcode == Opcode.READ:
                    if not offset:
                        return self._read_from_start(request, unique, nodeid, slot, holder, opened)
                    if length is None or offset < length:
                        return False
                    self._follow_up_due = True
                else:
                    if holder >= 0 and holder != self._index:
                        return False
                    files.free(handle ^ serving.SharedFiles.BIT)
                answer = b""
            else:
                return False
        except OSError as error:
            if opcode != Opcode.OPEN:
                return False  # a record not open: ``_dispatch`` answers EBADF
            # No slot left (ENFILE): answered here, so the slots are not searched twice.
            self._served += 1
            self._send(wire.reply(unique, error.errno or errno.EIO))
            return True
        self._served += 1
        self._send(wire.reply(unique, 0, answer))
        if opcode == Opcode.OPEN:
            self._render_at_open(request, slot, nodeid)
        return True

    def _read_from_start(
        self,
        request: bytes,
        unique: int,
        nodeid: int,
        slot: int,
        holder: int,
        opened: tuple[int, int, float, bytes | BaseException] | None,
    ) -> bool:
        """Rules 9 and 10: the READ at offset 0 of record ``slot``, served here unless
        ``_route`` would send it elsewhere (whether it was); with the text made at its open
        if ``opened`` is that, for this task, and recent enough."""
        if self._index or (holder >= 0 and holder != self._index):
            return False  # routed (``_record_reader``)
        who = _CALLER.unpack_from(request)
        made: bytes | BaseException | None = None
        if (
            opened is not None
            and opened[0] == slot
            and opened[1] == who[2]
            and time.monotonic() - opened[2] <= RENDER_AT_OPEN_SECONDS
        ):
            made = opened[3]
        self._served += 1
        self._answer(
            Opcode.READ,
            unique,
            nodeid,
            who,
            request[wire.IN_HEADER.size :],
            None,
            self._read_record,
            slot,
            nodeid,
            0,
            _READ_SIZE.unpack_from(request, wire.IN_HEADER.size)[0],
            made,
        )
        return True

    def _render_at_open(self, request: bytes, slot: int, nodeid: int) -> None:
        """Rule 10: after answering the OPEN of a rendered file, make its text for the
        opener while the read is on its way, in the main process with no helper engaged,
        for an open for reading; kept in ``_opened`` for the next request."""
        peers = self._peers
        if self._index or peers is None or peers.any_engaged():
            return
        if len(request) < wire.IN_HEADER.size + wire.OPEN_IN.size:
            return
        flags = wire.OPEN_IN.unpack_from(request, wire.IN_HEADER.size)[0]
        if flags & os.O_ACCMODE != os.O_RDONLY:
            return
        who = _CALLER.unpack_from(request)
        answered = time.monotonic()
        made: bytes | BaseException
        _current.caller = who
        try:
            made = self._operations.content_of(self._path(nodeid))
        except MustDefer:
            return  # the read waits for a worker, as it would have
        except Exception as error:  # the read's answer, as if it had met it itself
            made = error
        finally:
            _current.caller = (0, 0, 0)
        self._opened = (slot, who[2], answered, made)

    @contextlib.contextmanager
    def _signal_wakeups(self, poller: select.poll) -> Iterator[None]:
        """A signal that lands just before the poll starts still ends it (Python's wake-up
        descriptor, polled with the rest): a SIGTERM is never left pending while the loop
        sleeps."""
        readable, writable = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        previous = signal.set_wakeup_fd(writable, warn_on_full_buffer=False)
        poller.register(readable, select.POLLIN)
        self._wakeups = readable
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous)
            poller.unregister(readable)
            self._wakeups = -1
            os.close(readable)
            os.close(writable)

    def _quiet(self, seconds: float) -> bool:
        """Whether neither a request nor mail arrives within ``seconds``: asleep meanwhile,
        not spinning (``select``, whose timeout has microseconds; poll's has milliseconds)."""
        peers = self._peers
        assert peers is not None
        try:
            readable, _, _ = select.select([self._fd, peers.mailbox.fileno()], [], [], seconds)
        except ValueError:  # a descriptor beyond select's range: no wait, as before rule 8 had one
            return True
        return not readable

    def _await_follow_up(self) -> None:
        """Rule 6: awake, up to ``FOLLOW_UP_SECONDS``, until a request waits."""
        ready = self._poller.poll
        deadline = time.monotonic() + FOLLOW_UP_SECONDS
        while not ready(0) and time.monotonic() < deadline:
            pass

    def _wait(self, poller: select.poll, deaths: dict[int, int]) -> None:
        """Until a request, mail or a helper's death."""
        peers = self._peers
        assert peers is not None
        if (
            peers.any_engaged()
            and time.monotonic() - self._backlog_seen > serving.DISENGAGE_SECONDS
        ):
            peers.request_idle()
        try:
            _current.blocked_in_read = True
            events = poller.poll()
        except InterruptedError:
            return
        finally:
            _current.blocked_in_read = False
        mailbox = peers.mailbox.fileno()
        for fd, _ in events:
            if fd == mailbox:
                self._take_mail()
            elif fd == self._wakeups:
                with contextlib.suppress(OSError):
                    os.read(fd, 512)  # the handler runs at the next bytecode
            elif fd in deaths:
                poller.unregister(fd)
                peers.buried(deaths.pop(fd))

    def _take_mail(self) -> bool:
        """Serve what waits in this process's mailbox; False once asked to leave."""
        peers = self._peers
        assert peers is not None
        for message in peers.receive():
            kind = message[:1]
            if kind == serving.KIND_REQUEST:
                # Read by a helper from its own device: answered there.
                device = peers.devices.get(message[1])
                if device is not None:
                    self._dispatch(message[2:], forwarded=True, reply_to=device)
            elif kind == serving.KIND_ENGAGE:
                self._engage()
            elif kind == serving.KIND_QUIT:
                self.stopping = True
                return False
        return True

    def _engage(self) -> None:
        """A helper starts reading /dev/fuse, with an alarm every ``IDLE_SECONDS`` that
        ends it after a tick without a request (peers rule 4)."""
        if self._engaged or self._peers is None or self._peers.index == 0:
            return
        self._engaged = True
        self._idle_due = False
        self._served_at_tick = self._served
        signal.setitimer(signal.ITIMER_REAL, serving.IDLE_SECONDS, serving.IDLE_SECONDS)

    def _go_idle(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        self._engaged = False
        self._idle_due = False
        assert self._peers is not None
        self._peers.go_idle()

    def _on_alarm(self, number: int, frame: object) -> None:
        """A helper's idle tick: no request served since the last one, or the main
        process's request, ends a blocked read (``_blocking_read``) and the engagement."""
        assert self._peers is not None
        if self._served == self._served_at_tick or self._peers.idle_requested():
            self._idle_due = True
        self._served_at_tick = self._served
        if self._idle_due and getattr(_current, "blocked_in_read", False):
            raise _Woken

    def _blocking_read(self, buffer: bytearray) -> int | None:
        """A helper's read of the shared device: the next request's length; 0 when the idle
        tick ended the wait; None once unmounted. The tick's handler raises only while the
        read is blocked, but may run just after it returned: the request is then in
        ``buffer`` all the same (its header's length, zeroed before the read)."""
        _REQUEST_LENGTH.pack_into(buffer, 0, 0)
        _current.blocked_in_read = True
        try:
            return os.readv(self._fd, [buffer])
        except _Woken:
            length: int = _REQUEST_LENGTH.unpack_from(buffer)[0]
            return length
        except InterruptedError:
            return 0
        except OSError as error:
            if error.errno == errno.ENOENT:
                return 0  # the request was interrupted before we read it
            if error.errno == errno.ENODEV:
                return None
            raise
        finally:
            _current.blocked_in_read = False

    def serve_helper(self, before_request: Callable[[], None]) -> None:
        """A helper's loop (peers rules 1, 4): asleep on its mailbox while idle; engaged, a
        blocking read of the shared device until an idle tick. ``before_request`` applies
        what the main process published (peers rule 7)."""
        peers = self._peers
        assert peers is not None and peers.index > 0
        buffer = bytearray(wire.REQUEST_BUFFER)
        view = memoryview(buffer)
        poller = select.poll()
        poller.register(peers.mailbox, select.POLLIN)
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
        try:
            with inline_only():
                while not self.stopping:
                    before_request()
                    if not self._engaged:
                        poller.poll()
                        if not self._take_mail():
                            return
                        continue
                    length = self._blocking_read(buffer)
                    if length is None:
                        return
                    if length:
                        self._dispatch(bytes(view[:length]), forwarded=False)
                    if self._idle_due or peers.idle_requested():
                        self._go_idle()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _dispatch(self, request: bytes, *, forwarded: bool, reply_to: int | None = None) -> None:
        """Serve one raw request here, or forward it to the process that must (peers rule
        1); a forwarded request is served where it arrives, and answered on the device it
        was read from (``reply_to``)."""
        self._served += 1
        _current.request = request
        if len(request) < wire.IN_HEADER.size:
            log.error("short FUSE request (%d bytes) ignored", len(request))
            return
        _, opcode, unique, nodeid, uid, gid, pid, _, _ = wire.IN_HEADER.unpack_from(request)
        body = request[wire.IN_HEADER.size :]
        if not forwarded:
            target = self._route(opcode, nodeid, body, pid)
            if target != self._index:
                peers = self._peers
                assert peers is not None
                if peers.alive(target):
                    peers.forward(target, request)
                elif opcode not in wire.NO_REPLY:
                    self._send(wire.reply(unique, errno.EIO))
                return
        self._serve_one(opcode, unique, nodeid, (uid, gid, pid), body, reply_to)

    def _route(self, opcode: int, nodeid: int, body: bytes, pid: int) -> int:
        """Which process serves this request (peers rules 1-2)."""
        if opcode in _ON_HANDLES:
            if len(body) < _HANDLE.size:
                return self._index
            handle: int = _HANDLE.unpack_from(body)[0]
            if not handle & serving.SharedFiles.BIT:
                return 0  # an operations handle: only the main process opens those
            if opcode == Opcode.READ:
                offset = wire.READ_IN.unpack_from(body)[1]
                return self._record_reader(handle ^ serving.SharedFiles.BIT, offset, nodeid, pid)
            if opcode == Opcode.RELEASE:
                return self._record_holder(handle ^ serving.SharedFiles.BIT)
            return self._index
        if self._index == 0 or opcode == Opcode.INTERRUPT:
            return self._index
        if opcode == Opcode.OPEN and nodeid in self._record_nodes:
            return self._index
        return 0

    def _record_reader(self, slot: int, offset: int, nodeid: int, pid: int) -> int:
        """Who serves a read of a shared record: the holder of its text for a read inside
        it; the main process for a fresh text of a main-only file, or of one whose st_size
        text the main process keeps for this task (peers rule 6); else this process."""
        assert self._files is not None and self._peers is not None
        try:
            holder, length = self._files.record(slot)
        except OSError:
            return self._index  # answered EBADF here
        if offset > 0 and length is not None and offset >= length:
            return self._index  # EOF, wherever it lands
        if holder >= 0 and holder != self._index:
            return holder if self._peers.alive(holder) else self._index
        if offset > 0 and length is not None:
            return self._index
        if self._index != 0 and (
            nodeid in self._main_only or self._peers.sized_pending(pid, nodeid)
        ):
            return 0
        return self._index

    def _record_holder(self, slot: int) -> int:
        """A RELEASE goes to the process keeping the record's text, so it drops it."""
        assert self._files is not None and self._peers is not None
        try:
            holder, _ = self._files.record(slot)
        except OSError:
            return self._index
        if holder >= 0 and holder != self._index and self._peers.alive(holder):
            return holder
        return self._index

    def _serve_one(
        self,
        opcode: int,
        unique: int,
        nodeid: int,
        who: tuple[int, int, int],
        body: bytes,
        reply_to: int | None = None,
    ) -> None:
        """Serve one request and answer it on ``reply_to`` (the device it was read from;
        None: this session's own)."""
        if opcode == Opcode.INIT:
            self._send(self._init(unique, body), reply_to)
            return
        if opcode in wire.NO_REPLY:
            if opcode == Opcode.FORGET:
                self.nodes.forget(nodeid, wire.FORGET_IN.unpack_from(body)[0])
            elif opcode == Opcode.BATCH_FORGET:
                count = wire.BATCH_FORGET_IN.unpack_from(body)[0]
                for index in range(count):
                    offset = wire.BATCH_FORGET_IN.size + index * wire.FORGET_ONE.size
                    self.nodes.forget(*wire.FORGET_ONE.unpack_from(body, offset))
            return  # INTERRUPT: requests here are short or bounded by the deadline
        handler = self._handlers.get(opcode)
        if handler is None:
            self._send(wire.reply(unique, errno.ENOSYS), reply_to)
            return
        self._answer(opcode, unique, nodeid, who, body, reply_to, handler, nodeid, body)

    def _answer(
        self,
        opcode: int,
        unique: int,
        nodeid: int,
        who: tuple[int, int, int],
        body: bytes,
        reply_to: int | None,
        call: Callable[..., bytes | None],
        *arguments: Any,
    ) -> None:
        """Run ``call(*arguments)`` for the request as its caller and answer it (rule 5):
        its payload, its errno, or EIO; a ``MustDefer`` hands the request to a worker
        (rule 2). None from ``call``: answered elsewhere."""
        _current.caller = who
        try:
            payload = call(*arguments)
        except MustDefer:
            self._defer(opcode, unique, nodeid, who, body, reply_to)
            return
        except OSError as error:
            code = error.errno if isinstance(error.errno, int) and error.errno > 0 else errno.EIO
            self._send(wire.reply(unique, code), reply_to)
            return
        except Exception as error:  # rule 5
            log.error("FUSE request %d failed: %s: %s", opcode, type(error).__name__, error)
            self._send(wire.reply(unique, errno.EIO), reply_to)
            return
        finally:
            _current.caller = (0, 0, 0)
        if payload is not None:
            self._send(wire.reply(unique, 0, payload), reply_to)
            if opcode in _FOLLOWED_UP and getattr(_current, "serving", False):
                self._follow_up_due = True

    def _send(self, answer: bytes, reply_to: int | None = None) -> None:
        try:
            os.write(self._fd if reply_to is None else reply_to, answer)
        except OSError as error:
            # ENOENT: the request was interrupted and is gone; ENODEV: unmounted meanwhile.
            if error.errno not in (errno.ENOENT, errno.ENODEV):
                log.warning("cannot answer a FUSE request: %s", error)

    # ----------------------------------------------------------- deferred requests (rule 2)

    def _defer(
        self,
        opcode: int,
        unique: int,
        nodeid: int,
        who: tuple[int, int, int],
        body: bytes,
        reply_to: int | None,
    ) -> None:
        self._deferred.put(
            (opcode, unique, nodeid, who, body, reply_to, getattr(_current, "request", b""))
        )
        with self._workers_lock:
            if self._idle_workers > 0 or self._workers >= self._max_workers:
                return
            self._workers += 1
        start_without_signals(
            threading.Thread(target=self._work, name="lxcfs-deferred", daemon=True)
        )

    def _work(self) -> None:
        # Started with every signal blocked: the serving thread alone takes them (rule 4).
        while True:
            with self._workers_lock:
                self._idle_workers += 1
            opcode, unique, nodeid, who, body, reply_to, _current.request = self._deferred.get()
            with self._workers_lock:
                self._idle_workers -= 1
            self._serve_one(opcode, unique, nodeid, who, body, reply_to)

    # --------------------------------------------------------------- requests (rule 1)

    def _init(self, unique: int, body: bytes) -> bytes:
        major, minor, max_readahead, _ = wire.INIT_IN.unpack_from(body)
        try:
            return wire.reply(unique, 0, wire.init_out(major, minor, max_readahead))
        except ValueError as error:
            log.error("%s", error)
            return wire.reply(unique, errno.EPROTO)

    def _path(self, nodeid: int) -> str:
        path = self.nodes.paths.get(nodeid)
        if path is None:
            raise OSError(errno.ENOENT, "unknown node")
        return path

    def _entry(self, path: str) -> bytes:
        attributes = self._operations.getattr(path, None)
        nodeid = self.nodes.remember(path)
        self._mark_sized(nodeid)
        return wire.entry_out(nodeid, attributes, ENTRY_SECONDS, ATTR_SECONDS)

    def _mark_sized(self, nodeid: int) -> None:
        """Before answering with a helper file's st_size: its next open is the main
        process's (peers rule 6), which holds the text rendered for that size."""
        if self._peers is not None and nodeid in self._record_nodes:
            self._peers.mark_sized(caller()[2], nodeid)

    def _lookup(self, nodeid: int, body: bytes) -> bytes:
        return self._entry(self.nodes.child(nodeid, wire.name_at(body)))

    def _getattr(self, nodeid: int, body: bytes) -> bytes:
        attributes = self._operations.getattr(self._path(nodeid), None)
        self._mark_sized(nodeid)
        return wire.attr_out(nodeid, attributes, ATTR_SECONDS)

    def _setattr(self, nodeid: int, body: bytes) -> bytes:
        """chmod, chown, truncate, then the times, in libfuse's order; the first failure is
        the answer. There is no utimens operation, so setting times is ENOSYS, as there."""
        fields = wire.SETATTR_IN.unpack_from(body)
        valid, _, fh, size = fields[0], fields[1], fields[2], fields[3]
        mode, uid, gid = fields[11], fields[13], fields[14]
        path = self._path(nodeid)
        if valid & wire.FATTR_MODE:
            self._operations.chmod(path, mode & 0o7777)
        if valid & (wire.FATTR_UID | wire.FATTR_GID):
            self._operations.chown(
                path,
                uid if valid & wire.FATTR_UID else -1,
                gid if valid & wire.FATTR_GID else -1,
            )
        if valid & wire.FATTR_SIZE:
            self._operations.truncate(path, size, fh if valid & wire.FATTR_FH else None)
        if valid & (wire.FATTR_ATIME | wire.FATTR_MTIME):
            raise OSError(errno.ENOSYS, "no utimens")
        return wire.attr_out(nodeid, self._operations.getattr(path, None), ATTR_SECONDS)

    def _readlink(self, nodeid: int, body: bytes) -> bytes:
        target: str = self._operations.readlink(self._path(nodeid))
        return target.encode("utf-8", "surrogateescape")

    def _mkdir(self, nodeid: int, body: bytes) -> bytes:
        mode, _ = wire.MKDIR_IN.unpack_from(body)
        path = self.nodes.child(nodeid, wire.name_at(body, wire.MKDIR_IN.size))
        self._operations.mkdir(path, mode)
        return self._entry(path)

    def _removal(self, nodeid: int, body: bytes, operation: str) -> bytes:
        path = self.nodes.child(nodeid, wire.name_at(body))
        getattr(self._operations, operation)(path)
        self.nodes.removed(path)
        return b""

    def _rmdir(self, nodeid: int, body: bytes) -> bytes:
        return self._removal(nodeid, body, "rmdir")

    def _unlink(self, nodeid: int, body: bytes) -> bytes:
        return self._removal(nodeid, body, "unlink")

    def _mknod(self, nodeid: int, body: bytes) -> bytes:
        mode, rdev = wire.MKDIR_IN.unpack_from(body)  # fuse_mknod_in: mode rdev umask padding
        path = self.nodes.child(nodeid, wire.name_at(body, 16))
        self._operations.mknod(path, mode, rdev)
        return self._entry(path)

    def _symlink(self, nodeid: int, body: bytes) -> bytes:
        name = wire.name_at(body)
        target = wire.name_at(body, len(name.encode("utf-8", "surrogateescape")) + 1)
        path = self.nodes.child(nodeid, name)
        self._operations.symlink(path, target)
        return self._entry(path)

    def _rename(self, nodeid: int, body: bytes) -> bytes:
        # Nothing here can be renamed (the operations refuse); the request's names are
        # not needed to say so.
        self._operations.rename(self._path(nodeid), self._path(nodeid))
        return b""

    def _link(self, nodeid: int, body: bytes) -> bytes:
        self._operations.link(self._path(nodeid), self._path(nodeid))
        return b""

    def _create(self, nodeid: int, body: bytes) -> bytes:
        flags, mode = wire.OPEN_IN.unpack_from(body)  # fuse_create_in: flags mode umask ...
        path = self.nodes.child(nodeid, wire.name_at(body, 16))
        self._operations.create(path, mode, FileInfo(flags))
        raise OSError(errno.ENOSYS, "create")  # the operations never create a file

    def _open(self, nodeid: int, body: bytes) -> bytes:
        flags, _ = wire.OPEN_IN.unpack_from(body)
        if self._files is not None and nodeid in self._record_nodes:
            slot = self._files.take(self._index)
            return wire.open_out(serving.SharedFiles.BIT | slot, direct_io=True)
        info = FileInfo(flags)
        self._operations.open(self._path(nodeid), info)
        return wire.open_out(info.fh, direct_io=bool(info.direct_io))

    def _read(self, nodeid: int, body: bytes) -> bytes:
        fh, offset, size = wire.READ_IN.unpack_from(body)[:3]
        if fh & serving.SharedFiles.BIT and self._files is not None:
            return self._read_record(fh ^ serving.SharedFiles.BIT, nodeid, offset, size)  # type: ignore[return-value]
        data: bytes = self._operations.read(
            self.nodes.paths.get(nodeid), size, offset, FileInfo(0, fh)
        )
        return data[:size]

    def _write(self, nodeid: int, body: bytes) -> bytes:
        fh, offset, size = wire.WRITE_IN.unpack_from(body)[:3]
        if fh & serving.SharedFiles.BIT and self._files is not None:
            # A shared record is a rendered file: read-only, EINVAL (operations rule 6).
            raise OSError(errno.EINVAL, "read-only")
        data = body[wire.WRITE_IN.size : wire.WRITE_IN.size + size]
        written: int = self._operations.write(
            self.nodes.paths.get(nodeid), data, offset, FileInfo(0, fh)
        )
        return wire.write_out(written)

    def _read_record(
        self,
        slot: int,
        nodeid: int,
        offset: int,
        size: int,
        made: bytes | BaseException | None = None,
    ) -> bytes | None:
        """Operations rule 3 on a shared record: the text is rendered at a read at offset 0
        (or the first read), and kept by this process only if the read did not take all of
        it; a read at or past its end is EOF wherever it lands (peers rule 2). ``made``:
        the text made at the open for this read, or the error its render met (rule 10)."""
        files = self._files
        assert files is not None and self._peers is not None
        holder, length = files.record(slot)
        if offset > 0 and length is not None:
            if offset >= length:
                return b""
            kept = files.held.get(slot) if holder == self._index else None
            if kept is not None:
                return kept[offset : offset + size]
        if isinstance(made, BaseException):
            raise made
        text: bytes = made if made is not None else self._operations.content_of(self._path(nodeid))
        if self._index == 0:
            # The text rendered for st_size, if any, went to this read (peers rule 6).
            self._peers.sized_served(caller()[2], nodeid)
        if offset + size < len(text):
            if self._index != 0:
                # Only the main process keeps texts (peers rule 2): it renders this read
                # anew and keeps that text (nobody has seen this one).
                self._peers.forward(0, _current.request)
                return None
            files.held[slot] = text
            files.rendered(slot, self._index, len(text))
        else:
            files.held.pop(slot, None)
            files.rendered(slot, -1, len(text))
        return text[offset : offset + size]

    def _release(self, nodeid: int, body: bytes) -> bytes:
        fh, flags = wire.RELEASE_IN.unpack_from(body)[:2]
        if fh & serving.SharedFiles.BIT and self._files is not None:
            self._files.free(fh ^ serving.SharedFiles.BIT)
            return b""
        self._operations.release(self.nodes.paths.get(nodeid), FileInfo(flags, fh))
        return b""

    def _fsync(self, nodeid: int, body: bytes) -> bytes:
        fh, flags, _ = wire.FSYNC_IN.unpack_from(body)
        self._operations.fsync(self.nodes.paths.get(nodeid), flags & 1, FileInfo(0, fh))
        return b""

    def _opendir(self, nodeid: int, body: bytes) -> bytes:
        path = self._path(nodeid)
        self._operations.opendir(path)
        with self._directory_lock:
            handle = self._next_directory
            self._next_directory += 1
            self._directories[handle] = (path, None)
        return wire.open_out(handle, direct_io=False)

    def _readdir(self, nodeid: int, body: bytes) -> bytes:
        """The listing is taken at offset 0 and kept with the open directory, so a listing
        read in several requests is one consistent list (libfuse buffers it the same way)."""
        fh, offset, size = wire.READ_IN.unpack_from(body)[:3]
        with self._directory_lock:
            found = self._directories.get(fh)
        if found is None:
            raise OSError(errno.EBADF, "unknown directory handle")
        path, names = found
        if offset == 0 or names is None:
            names = list(self._operations.readdir(path, fh))
            with self._directory_lock:
                if fh in self._directories:
                    self._directories[fh] = (path, names)
        return wire.dirents(names, offset, size)

    def _releasedir(self, nodeid: int, body: bytes) -> bytes:
        fh = wire.RELEASE_IN.unpack_from(body)[0]
        with self._directory_lock:
            found = self._directories.pop(fh, None)
        if found is not None:
            self._operations.releasedir(found[0], fh)
        return b""

    def _access(self, nodeid: int, body: bytes) -> bytes:
        mask, _ = wire.ACCESS_IN.unpack_from(body)
        self._operations.access(self._path(nodeid), mask)
        return b""

    def _destroy(self, nodeid: int, body: bytes) -> bytes:
        self.stopping = True
        return b""

    @property
    def requests_served(self) -> int:
        """Requests read (or received as mail) and served or passed on by this process."""
        return self._served

    @property
    def open_directories(self) -> int:
        with self._directory_lock:
            return len(self._directories)


# ----------------------------------------------------------------------- mounting (rule 4)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def mount_arguments(
    options: Mapping[str, str | bool], fd: int, uid: int, gid: int
) -> tuple[str, str, int, str]:
    """(source, type, flags, data) for mount(2) from the daemon's ``-o`` options. Raises
    MountOptionError for an option neither the kernel nor this session knows."""
    flags = _MS_NOSUID | _MS_NODEV
    data = [f"fd={fd}", "rootmode=40000", f"user_id={uid}", f"group_id={gid}"]
    source = type_name = "lxcfs"
    for key, value in options.items():
        if key in _FLAG_OPTIONS:
            set_flags, cleared = _FLAG_OPTIONS[key]
            flags = (flags | set_flags) & ~cleared
        elif key in _KERNEL_OPTIONS:
            data.append(key if value is True else f"{key}={value}")
        elif key == "fsname":
            source = str(value)
        elif key == "subtype":
            type_name = str(value)
        elif key == "allow_other":
            data.append("allow_other")
        elif key in _LIBRARY_OPTIONS:
            continue
        else:
            raise MountOptionError(f"unknown mount option {key!r}")
    return source, f"fuse.{type_name}", flags, ",".join(data)


def open_device() -> int:
    """A fresh /dev/fuse descriptor, not yet mounted (the main process forks its helpers
    between this and ``mount``, peers rule 8)."""
    return os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)


def mount(
    operations: Any,
    mountpoint: str,
    options: Mapping[str, str | bool],
    *,
    fd: int | None = None,
    peers: Peers | None = None,
) -> Session:
    """Mount /dev/fuse (``fd``, else a fresh one) on ``mountpoint`` (rule 4); the session is
    ready to serve, with ``peers`` if helpers share the descriptor. Raises OSError when the
    kernel refuses, MountOptionError for a bad ``-o``."""
    if fd is None:
        fd = open_device()
    try:
        source, kind, flags, data = mount_arguments(options, fd, os.geteuid(), os.getegid())
        if (
            _libc.mount(source.encode(), mountpoint.encode(), kind.encode(), flags, data.encode())
            != 0
        ):
            code = ctypes.get_errno()
            raise OSError(code, f"mount {mountpoint}: {os.strerror(code)}")
    except BaseException:
        os.close(fd)
        raise
    if peers is None:
        return Session(operations, fd)
    # With helpers (peers rule 3): the main process reads the device as mounted, without
    # blocking, so it sleeps in poll on it and its mailbox together; each helper gets a
    # clone of its own, read blocking (one request wakes one reader), so that when a helper
    # dies the kernel ends what it had read.
    try:
        os.set_blocking(fd, False)
        for index in range(1, peers.count):
            peers.hand_device(index, clone_device(fd))
    except OSError:
        _libc.umount2(mountpoint.encode(), _MNT_DETACH)
        os.close(fd)
        raise
    return Session(operations, fd, peers=peers)


def clone_device(fd: int) -> int:
    """Another descriptor on the connection of the mounted ``fd`` (FUSE_DEV_IOC_CLONE): the
    kernel hands each request to one reader of either; an answer goes back on the
    descriptor its request was read from, and closing the last copy of a clone ends the
    requests read from it."""
    clone = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(clone, _FUSE_DEV_IOC_CLONE, struct.pack("I", fd))
    except BaseException:
        os.close(clone)
        raise
    return clone


def unmount(session: Session, mountpoint: str) -> None:
    """Detach the mount (libfuse's way for root) and close the descriptor; a mount already
    gone is fine."""
    if _libc.umount2(mountpoint.encode(), _MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):
            log.warning("cannot unmount %s: %s", mountpoint, os.strerror(code))
    os.close(session._fd)
    if session._peers is not None:
        for device in session._peers.devices.values():
            os.close(device)
        session._peers.devices.clear()


class _Leave(Exception):
    """Raised by the leaving signals' handler to end a read blocked on /dev/fuse."""


def serve_until_signalled(session: Session, mountpoint: str) -> None:
    """Serve in this (the main) thread until SIGTERM/SIGINT/SIGHUP or an unmount, then
    unmount (rule 4). The handlers are Python's, so they run on this thread between
    requests, or end the blocked read at once."""

    def leave(number: int, frame: object) -> None:
        if session.interrupt_read():
            raise _Leave

    previous = {
        number: signal.signal(number, leave)
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    }
    try:
        session.serve()
    except _Leave:
        pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        unmount(session, mountpoint)
        if session._peers is not None:
            session._peers.stop()
