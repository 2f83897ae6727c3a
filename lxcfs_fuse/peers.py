"""Serving processes: the daemon and its helper processes serve one FUSE connection.

Why (docs/performance.md, fourth round): one Python process serves at most one CPU's worth
of requests (the GIL), and a second serving thread in it halved throughput. Under readers in
several containers the daemon was CPU-bound on one CPU while the other idled, and Debian's
lxcfs, multi-threaded C, used both. A helper is a fork of the daemon made before any thread
starts, so it has its own interpreter, GIL and caches.

Rules:
1. The main process (index 0) serves everything and owns all shared state: the node table
   (lookups, forgets), directory handles, operations handles (pass-through and cgroup-tree
   files), /proc/stat's histories, the load averages and the st_size texts (operations rule
   5). A helper serves only what needs none of it: the rendered /proc files
   (``shared_files``), opening them, reading them (but ``main_only_files``: stat and
   loadavg) and releasing them. Everything else it reads it forwards, whole, to the main
   process.
2. Open rendered files are records in shared memory (``SharedFiles``), so whichever process
   reads a request on one serves it: the text is rendered at the read at offset 0 (operations
   rule 3), and only its length is kept, so any process answers the read at its end; a text
   a read did not take whole is kept by the main process alone (a helper hands such a read
   over, and the main process renders it afresh: nobody saw the helper's text). One
   difference from operations rule 3 follows: after a read that took the whole text, a
   read at an offset inside it (a ``pread`` back into what was read) gets a fresh text's
   bytes, not the first text's; every reader that reads on to EOF, as ``cat``, stdio and
   every runtime do, sees one consistent text. Their node ids are fixed, the same in every
   process (assigned in order after the root, before the fork).
3. Devices: the main process reads the device as mounted, without blocking, and sleeps in
   poll on it and its mailbox together, so mail is never missed. Each helper reads a clone
   of its own (FUSE_DEV_IOC_CLONE), blocking: the kernel wakes one reader per request, and
   when a helper dies the kernel ends the requests it had read (the main process closes its
   copy of that clone, the last one). An answer goes back on the device its request was read
   from; the main process keeps each helper's clone for the requests the helper forwards.
4. Engagement: helpers read only when engaged. The main process engages an idle helper when
   it reads, back to back without the device running dry, requests of more than
   ``ENGAGE_AFTER`` callers (a backlog: more readers than one process keeps up with), and
   asks engaged helpers to stop once it has found the device dry for ``DISENGAGE_SECONDS``;
   an engaged helper also stops after an ``IDLE_SECONDS`` tick without a request. One
   reader never engages a helper: its latency is the single process's.
5. Mailboxes: one datagram socket pair per process; a forwarded request is one datagram
   (kind byte, sender index, the raw request). Per-sender counters in shared memory tell a
   busy main process that mail waits without a system call. Only the main process receives
   requests, and it drains its mailbox at every request, so a helper's blocking send waits
   at most for the request the main process is serving; the main process sends helpers only
   their device, engagements and the request to quit.
6. Operations rule 5 (the text rendered for st_size is what the same task's next read gets):
   the main process marks (pid, node) in a shared table whenever it answers LOOKUP or
   GETATTR of a rendered file; a helper hands the fresh read of a marked pair, or any fresh
   read while a mark could not be stored (``overflow``), to the main process, which holds
   that text. The main process clears the mark once it has served that pair's fresh read
   (``sized_served``): the text is handed once, and a mark left to its expiry sent every
   read of that task and file to the main process for half a second, after every lookup
   (the kernel looks a name up again each ``ENTRY_SECONDS``).
7. Control: virtualization on/off and reloads (SIGUSR2 and SIGUSR1, taken by the main
   process's housekeeping) are published in shared memory; a helper applies them before its
   next request.
8. Lifetime: helpers die with the main process (PR_SET_PDEATHSIG), ignore SIGINT, SIGTERM
   and SIGHUP (the main process ends them after unmounting: ``stop``), and a helper that
   dies is noticed by the main process (its pidfd), which serves on alone (rule 3 ends what
   the helper had read) and never engages it again.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import mmap
import os
import signal
import socket
import struct
import time
from collections.abc import Callable

from lxcfs_model.files import FILES

__all__ = [
    "ENGAGE_AFTER",
    "HELPERS_VARIABLE",
    "Peers",
    "SharedFiles",
    "main_only_files",
    "process_count",
    "shared_files",
]

log = logging.getLogger("lxcfs_fuse")

#: The main process engages a helper when it reads, back to back without the device running
#: dry, requests of more than this many callers (rule 4). Callers, not requests: one reader
#: alone queues its release, lookup, open and reads back to back whenever the daemon is a
#: little slower than the reader, and a helper serving one reader only costs it wake-ups.
#: From two readers on it pays (docs/performance.md, fourth round: 3,552 -> 4,086 ops/s at
#: two readers, alternating runs).
ENGAGE_AFTER = 1
#: An engaged helper's idle check: a tick without a request ends its engagement (rule 4).
IDLE_SECONDS = 0.02
#: The main process asks engaged helpers to stop reading once it has found no request
#: waiting for this long (rule 4): the load one process keeps up with again.
DISENGAGE_SECONDS = 0.05
#: How long a mark of operations rule 5 lives: the text's own lifetime there.
SIZED_SECONDS = 0.5
#: Mark slots (rule 6); a clash with a live mark sets ``overflow`` instead of evicting it.
SIZED_SLOTS = 4096
#: How long ``stop`` waits for a helper to leave before killing it.
STOP_SECONDS = 2.0

KIND_REQUEST = b"R"
KIND_ENGAGE = b"E"
KIND_QUIT = b"Q"
KIND_DEVICE = b"F"  # with a descriptor: the helper's own device

IDLE = 0
ENGAGED = 1
DEAD = 2
IDLE_REQUESTED = 3

_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_MARK = struct.Struct("<IId")  # pid, node id, expiry (monotonic seconds)
_PR_SET_PDEATHSIG = 1
_MAILBOX_BYTES = 1 << 20


#: Environment variable that sets the number of helper processes (0: serve alone).
HELPERS_VARIABLE = "LXCFS_FUSE_HELPERS"


def process_count(single_threaded: bool) -> int:
    """How many processes serve: ``LXCFS_FUSE_HELPERS`` helpers plus the main process if
    that is set; otherwise one alone with ``-s`` or on one CPU, else the main process and
    one helper (two CPUs' worth; a second helper, tried with the first design, made eight
    readers slower on this two-CPU machine; larger machines were not measured)."""
    setting = os.environ.get(HELPERS_VARIABLE, "").strip()
    if setting:
        try:
            helpers = int(setting)
        except ValueError:
            log.error("%s=%r is not a number; serving alone", HELPERS_VARIABLE, setting)
            return 1
        if not 0 <= helpers <= 64:
            log.error("%s=%d is out of range 0..64; serving alone", HELPERS_VARIABLE, helpers)
            return 1
        return 1 + helpers
    if single_threaded or len(os.sched_getaffinity(0)) < 2:
        return 1
    return 2


def shared_files() -> tuple[str, ...]:
    """The rendered /proc files, as node paths: their node ids are fixed and their open
    files are ``SharedFiles`` records (rules 1-2)."""
    return tuple("/" + spec.path for spec in FILES if spec.path.startswith("proc/"))


def main_only_files() -> frozenset[str]:
    """Of ``shared_files``, those only the main process renders: /proc/stat (its histories)
    and /proc/loadavg (the sampler's load averages). uptime reads the clock, which every
    process shares; the others depend on nothing but their inputs."""
    return frozenset(
        "/" + spec.path
        for spec in FILES
        if spec.path.startswith("proc/") and not spec.stateless and spec.path != "proc/uptime"
    )


class SharedFiles:
    """Open rendered files as records in shared memory (rule 2), so that whichever process
    reads a request on one can serve it: (state, holder, length + 1). ``holder`` is the
    process that keeps the text (only after a read that did not take all of it, so a later
    read inside it needs that very text: operations rule 3); ``length`` is the text's,
    once one was rendered, so any process answers the read at its end. Each process takes
    slots from its own share (slot % count == index), so taking one needs no lock; the
    process that serves the RELEASE frees it."""

    RECORD = struct.Struct("<IiQ")
    #: Set in every handle of a record, never in an operations handle.
    BIT = 1 << 62
    FREE = 0
    OPEN = 1

    def __init__(self, count: int, per_process: int = 1 << 20) -> None:
        self.count = count
        self.per_process = per_process
        # MAP_SHARED anonymous memory: untouched pages cost nothing.
        self._memory = mmap.mmap(-1, count * per_process * self.RECORD.size, flags=mmap.MAP_SHARED)
        self._next = 0
        #: This process's texts of records it holds: slot -> text.
        self.held: dict[int, bytes] = {}

    def take(self, index: int) -> int:
        """A free slot of process ``index``'s share, marked open. Raises OSError(ENFILE)
        when all ``per_process`` are open."""
        for _ in range(self.per_process):
            slot = index + self.count * self._next
            self._next = (self._next + 1) % self.per_process
            if self.RECORD.unpack_from(self._memory, slot * self.RECORD.size)[0] == self.FREE:
                self.RECORD.pack_into(self._memory, slot * self.RECORD.size, self.OPEN, -1, 0)
                return slot
        raise OSError(errno.ENFILE, "too many open files in this serving process")

    def record(self, slot: int) -> tuple[int, int | None]:
        """(holder or -1, text length or None before the first read)."""
        if not 0 <= slot < self.count * self.per_process:
            raise OSError(errno.EBADF, "unknown file handle")
        state, holder, length = self.RECORD.unpack_from(self._memory, slot * self.RECORD.size)
        if state != self.OPEN:
            raise OSError(errno.EBADF, "file handle not open")
        return holder, (length - 1 if length else None)

    def rendered(self, slot: int, holder: int, length: int) -> None:
        self.RECORD.pack_into(self._memory, slot * self.RECORD.size, self.OPEN, holder, length + 1)

    def free(self, slot: int) -> None:
        self.held.pop(slot, None)
        self.RECORD.pack_into(self._memory, slot * self.RECORD.size, self.FREE, -1, 0)


class Peers:
    """This process's view of the serving processes: who it is, the shared memory, the
    mailboxes. Made by the main process before it forks (``fork_helpers``); each helper
    keeps the copy its fork gave it, made its own by ``become``."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("at least the main process serves")
        self.count = count
        self.index = 0
        self.pids: list[int] = [os.getpid()] + [0] * (count - 1)
        # Layout: state[count], sent[count][count], virtualize, reloads, overflow-until,
        # then the marks (rule 6).
        self._state_at = 0
        self._sent_at = 8 * count
        self._control_at = self._sent_at + 8 * count * count
        self._overflow_at = self._control_at + 16
        self._marks_at = self._overflow_at + 8
        size = self._marks_at + _MARK.size * SIZED_SLOTS
        self._memory = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
        self.files = SharedFiles(count)
        #: In the main process: each helper's device (``hand_device``), on which what it
        #: forwards is answered.
        self.devices: dict[int, int] = {}
        self._pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(count)]
        for sender, receiver in self._pairs:
            receiver.setblocking(False)
            for end, option in ((sender, socket.SO_SNDBUF), (receiver, socket.SO_RCVBUF)):
                end.setsockopt(socket.SOL_SOCKET, option, _MAILBOX_BYTES)
        self._received = 0
        self._sent_by_me = [0] * count
        self._pidfds: dict[int, int] = {}
        self._reloads_published = 0

    # ---------------------------------------------------------------- processes (rule 8)

    def fork_helpers(self, run_helper: Callable[[Peers], int]) -> None:
        """Fork the helpers; each runs ``run_helper(self)`` and exits with its status. Call
        before any thread starts (a fork copies only the calling thread)."""
        for index in range(1, self.count):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    self.become(index)
                    status = run_helper(self)
                except BaseException as error:  # a helper never returns into the daemon
                    log.error("helper %d failed: %s: %s", index, type(error).__name__, error)
                finally:
                    os._exit(status)
            self.pids[index] = pid
            self._pidfds[index] = os.pidfd_open(pid)
        log.info("serving with %d helper process(es): %s", self.count - 1, self.pids[1:])

    def become(self, index: int) -> None:
        """In a fresh fork: this process is helper ``index`` (rule 8)."""
        self.index = index
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != self.pids[0]:
            os._exit(1)  # the main process died before the death signal was set
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
        self._pidfds = {}
        for other, (_, receiver) in enumerate(self._pairs):
            if other != index:
                receiver.close()

    def stop(self) -> None:
        """In the main process, after unmounting: ask every helper to leave, wait for it,
        kill one that does not."""
        for index in range(1, self.count):
            if self.state(index) != DEAD:
                with contextlib.suppress(OSError):
                    self._pairs[index][0].send(KIND_QUIT)
        deadline = time.monotonic() + STOP_SECONDS
        for index in range(1, self.count):
            pid = self.pids[index]
            while pid:
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.01)
        for pidfd in self._pidfds.values():
            os.close(pidfd)
        self._pidfds = {}

    def death_descriptors(self) -> dict[int, int]:
        """pidfd -> helper index, for the main process's poll (readable: the helper died)."""
        return {pidfd: index for index, pidfd in self._pidfds.items()}

    def buried(self, index: int) -> None:
        """In the main process, once helper ``index`` died: mark it dead and close our copy
        of its device. That was the last reference, so the kernel ends every request the
        helper had read and not answered (fuse_dev_release: the reader gets an error, it is
        never left waiting), and our answers to what it forwarded end with it."""
        self._set_state(index, DEAD)
        pidfd = self._pidfds.pop(index, None)
        if pidfd is not None:
            os.close(pidfd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pids[index], os.WNOHANG)
        device = self.devices.pop(index, None)
        if device is not None:
            os.close(device)
        log.error("helper process %d (pid %d) died; serving on without it", index, self.pids[index])

    # ------------------------------------------------------------- devices (rules 2, 7)

    def hand_device(self, index: int, device: int) -> None:
        """In the main process: give helper ``index`` its own descriptor of the mounted
        connection (a clone), and keep a copy to answer what it forwards."""
        self.devices[index] = device
        socket.send_fds(self._pairs[index][0], [KIND_DEVICE], [device])

    def receive_device(self) -> int | None:
        """In a helper: wait for its device (``hand_device``); None if asked to quit first."""
        self.mailbox.setblocking(True)
        try:
            while True:
                message, descriptors, _, _ = socket.recv_fds(self.mailbox, 64, 1)
                self._received += 1
                if message[:1] == KIND_DEVICE and descriptors:
                    return descriptors[0]
                for descriptor in descriptors:
                    os.close(descriptor)
                if message[:1] == KIND_QUIT:
                    return None
        finally:
            self.mailbox.setblocking(False)

    # ------------------------------------------------------------------ state (rule 4)

    def state(self, index: int) -> int:
        value: int = _U64.unpack_from(self._memory, self._state_at + 8 * index)[0]
        return value

    def _set_state(self, index: int, value: int) -> None:
        _U64.pack_into(self._memory, self._state_at + 8 * index, value)

    def engage_idle_helper(self) -> bool:
        """In the main process: engage one idle helper, if any (rule 4)."""
        for index in range(1, self.count):
            state = self.state(index)
            if state == IDLE_REQUESTED:
                self._set_state(index, ENGAGED)  # still reading: no message needed
                return True
            if state == IDLE:
                self._set_state(index, ENGAGED)
                self.send(index, KIND_ENGAGE)
                return True
        return False

    def any_engaged(self) -> bool:
        return any(self.state(index) in (ENGAGED, IDLE_REQUESTED) for index in range(1, self.count))

    def request_idle(self) -> None:
        """In the main process: the backlog is gone; engaged helpers stop reading at their
        next request or idle tick (rule 4)."""
        for index in range(1, self.count):
            if self.state(index) == ENGAGED:
                self._set_state(index, IDLE_REQUESTED)

    def idle_requested(self) -> bool:
        """In a helper: whether the main process asked it to stop reading."""
        return self.state(self.index) == IDLE_REQUESTED

    def go_idle(self) -> None:
        """In a helper: it stopped reading (rule 4)."""
        if self.state(self.index) in (ENGAGED, IDLE_REQUESTED):
            self._set_state(self.index, IDLE)

    def alive(self, index: int) -> bool:
        return self.state(index) != DEAD

    # --------------------------------------------------------------- mailboxes (rule 5)

    @property
    def mailbox(self) -> socket.socket:
        return self._pairs[self.index][1]

    def forward(self, index: int, request: bytes) -> None:
        """Send a request read from this process's device to process ``index``, which
        answers it on that device (``devices``)."""
        self.send(index, KIND_REQUEST + bytes([self.index]) + request)

    def send(self, index: int, message: bytes) -> None:
        """One message to process ``index`` (rule 5). The counter goes up before the send,
        so a receiver never has a message it does not count (it may count one a moment
        before it arrives: its next look finds it); the send blocks only while that
        mailbox is full."""
        offset = self._sent_at + 8 * (self.index * self.count + index)
        self._sent_by_me[index] += 1
        _U64.pack_into(self._memory, offset, self._sent_by_me[index])
        try:
            self._pairs[index][0].send(message)
        except OSError as error:
            self._sent_by_me[index] -= 1
            _U64.pack_into(self._memory, offset, self._sent_by_me[index])
            log.warning("cannot send to serving process %d: %s", index, error)

    def mail_waiting(self) -> bool:
        """Whether anybody sent this process more than it received (no system call)."""
        total = 0
        for sender in range(self.count):
            offset = self._sent_at + 8 * (sender * self.count + self.index)
            total += _U64.unpack_from(self._memory, offset)[0]
        return total > self._received

    def receive(self) -> list[bytes]:
        """Every message waiting in this process's mailbox, without blocking."""
        messages = []
        while True:
            try:
                messages.append(self.mailbox.recv(1 << 18))
            except BlockingIOError:
                break
            except InterruptedError:
                continue
        self._received += len(messages)
        return messages

    # ------------------------------------------------------------------ marks (rule 6)

    def mark_sized(self, pid: int, nodeid: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        offset = self._marks_at + _MARK.size * _slot(pid, nodeid)
        held_pid, held_node, expiry = _MARK.unpack_from(self._memory, offset)
        if (held_pid, held_node) != (pid, nodeid) and expiry > now:
            _F64.pack_into(self._memory, self._overflow_at, now + SIZED_SECONDS)
            return
        # Expiry first to 0, so a reader never pairs the old key with the new expiry.
        _F64.pack_into(self._memory, offset + 8, 0.0)
        _MARK.pack_into(self._memory, offset, pid, nodeid, now + SIZED_SECONDS)

    def sized_served(self, pid: int, nodeid: int) -> None:
        """In the main process, after a fresh read of (pid, node): its mark, if it holds
        one, is done with (rule 6). Only the main process writes marks, so clearing the
        expiry alone is enough for a reader of the table."""
        offset = self._marks_at + _MARK.size * _slot(pid, nodeid)
        held_pid, held_node, expiry = _MARK.unpack_from(self._memory, offset)
        if (held_pid, held_node) == (pid, nodeid) and expiry:
            _F64.pack_into(self._memory, offset + 8, 0.0)

    def sized_pending(self, pid: int, nodeid: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if _F64.unpack_from(self._memory, self._overflow_at)[0] > now:
            return True
        offset = self._marks_at + _MARK.size * _slot(pid, nodeid)
        held_pid, held_node, expiry = _MARK.unpack_from(self._memory, offset)
        return (held_pid, held_node) == (pid, nodeid) and expiry > now

    # ----------------------------------------------------------------- control (rule 7)

    def publish(self, virtualize: bool, reloaded: bool = False) -> None:
        """In the main process: the virtualization switch, and one more reload if
        ``reloaded``."""
        if reloaded:
            self._reloads_published += 1
            _U64.pack_into(self._memory, self._control_at + 8, self._reloads_published)
        _U64.pack_into(self._memory, self._control_at, 1 if virtualize else 0)

    def control(self) -> tuple[bool, int]:
        """(virtualize, reloads published so far)."""
        virtualize, reloads = struct.unpack_from("<QQ", self._memory, self._control_at)
        return bool(virtualize), reloads


def _slot(pid: int, nodeid: int) -> int:
    return (pid * 65599 + nodeid) % SIZED_SLOTS
