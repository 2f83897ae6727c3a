"""``devfuse.Session`` served over a socket pair standing in for /dev/fuse (no mount, no
root): one request in, its answer out, as the kernel would see them.

A SOCK_SEQPACKET pair keeps message boundaries like /dev/fuse does: each ``send`` is one
request the session reads whole, each answer one message.
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lxcfs_fuse import devfuse
from lxcfs_fuse import fuse_protocol as wire
from lxcfs_fuse.deadline import Deadline, DeadlineExceeded
from lxcfs_fuse.fuse_protocol import Opcode
from lxcfs_fuse.operations import ErrnoError

TEXT = b"MemTotal:         262144 kB\n"


class FakeOperations:
    """Two files and a directory; ``stall`` makes reads of /slow wait on a deadline, as a
    read of a non-kernel file does."""

    def __init__(self) -> None:
        self.deadline = Deadline(2.0)
        self.release_event = threading.Event()
        self.callers: list[tuple[int, int, int]] = []
        self.released: list[int] = []
        self.calls: list[tuple[str, Any]] = []

    def getattr(self, path: str, fh: object = None) -> dict[str, int]:
        self.callers.append(devfuse.caller())
        if path in ("/", "/proc"):
            return {"st_mode": 0o40555, "st_nlink": 2}
        if path in ("/proc/meminfo", "/slow"):
            return {"st_mode": 0o100444, "st_nlink": 1, "st_size": len(TEXT)}
        if path == "/boom":
            raise RuntimeError("a bug")
        raise ErrnoError(errno.ENOENT)

    def open(self, path: str, info: Any) -> int:
        info.fh = 7 if path == "/proc/meminfo" else 8
        info.direct_io = 1
        return 0

    def read(self, path: str, size: int, offset: int, info: Any) -> bytes:
        if info.fh == 8:
            self.deadline.call(self.release_event.wait)
        return TEXT[offset : offset + size]

    def release(self, path: str, info: Any) -> int:
        self.released.append(info.fh)
        return 0

    def opendir(self, path: str) -> int:
        return 0

    def readdir(self, path: str, fh: object) -> list[str]:
        return [".", "..", "meminfo"]

    def releasedir(self, path: str, fh: object) -> int:
        return 0

    def chmod(self, path: str, mode: int) -> int:
        self.calls.append(("chmod", mode))
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        self.calls.append(("chown", (uid, gid)))
        raise ErrnoError(errno.EPERM)

    def truncate(self, path: str, length: int, fh: object = None) -> int:
        self.calls.append(("truncate", length))
        return 0


class Kernel:
    """Our end of the pair: sends requests, reads answers."""

    def __init__(self, end: socket.socket) -> None:
        self.end = end
        self.unique = 0

    def send(self, opcode: int, nodeid: int, body: bytes = b"", pid: int = 321) -> int:
        self.unique += 1
        header = wire.IN_HEADER.pack(
            wire.IN_HEADER.size + len(body), opcode, self.unique, nodeid, 1000, 1001, pid, 0, 0
        )
        self.end.send(header + body)
        return self.unique

    def answer(self) -> tuple[int, int, bytes]:
        data = self.end.recv(1 << 20)
        length, error, unique = wire.OUT_HEADER.unpack_from(data)
        assert length == len(data)
        return unique, -error, data[wire.OUT_HEADER.size :]

    def call(self, opcode: int, nodeid: int, body: bytes = b"") -> tuple[int, bytes]:
        unique = self.send(opcode, nodeid, body)
        got, error, payload = self.answer()
        assert got == unique
        return error, payload


@pytest.fixture
def served() -> Iterator[tuple[Kernel, FakeOperations, devfuse.Session]]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    operations = FakeOperations()
    session = devfuse.Session(operations, theirs.fileno())
    thread = threading.Thread(target=session.serve, daemon=True)
    thread.start()
    kernel = Kernel(ours)
    try:
        error, payload = kernel.call(Opcode.INIT, 0, struct.pack("<IIII", 7, 38, 131072, 0))
        assert error == 0 and wire.INIT_OUT.unpack(payload)[:2] == (7, 31)
        yield kernel, operations, session
    finally:
        operations.release_event.set()
        ours.close()
        thread.join(timeout=5)
        theirs.close()
    assert not thread.is_alive()


def _lookup(kernel: Kernel, parent: int, name: str) -> tuple[int, bytes]:
    return kernel.call(Opcode.LOOKUP, parent, name.encode() + b"\0")


def test_open_read_release_of_a_file_found_by_name(served: Any) -> None:
    """LOOKUP proc, LOOKUP meminfo, OPEN (direct I/O), READ, READ at EOF, RELEASE: the
    answers a cat gets, with the caller's uid, gid and pid handed to the operations."""
    kernel, operations, _ = served
    error, entry = _lookup(kernel, 1, "proc")
    assert error == 0
    proc = wire.ENTRY_OUT.unpack_from(entry)[0]
    error, entry = _lookup(kernel, proc, "meminfo")
    meminfo = wire.ENTRY_OUT.unpack_from(entry)[0]
    attr = wire.ATTR.unpack_from(entry, wire.ENTRY_OUT.size)
    assert (attr[0], attr[1], attr[9]) == (meminfo, len(TEXT), 0o100444)
    assert operations.callers[-1] == (1000, 1001, 321)
    error, opened = kernel.call(Opcode.OPEN, meminfo, struct.pack("<II", 0, 0))
    assert error == 0 and wire.OPEN_OUT.unpack(opened) == (7, wire.FOPEN_DIRECT_IO, 0)
    read = wire.READ_IN.pack(7, 0, 4096, 0, 0, 0, 0)
    assert kernel.call(Opcode.READ, meminfo, read) == (0, TEXT)
    at_end = wire.READ_IN.pack(7, len(TEXT), 4096, 0, 0, 0, 0)
    assert kernel.call(Opcode.READ, meminfo, at_end) == (0, b"")
    assert kernel.call(Opcode.RELEASE, meminfo, wire.RELEASE_IN.pack(7, 0, 0, 0)) == (0, b"")
    assert operations.released == [7]
    assert devfuse.caller() == (0, 0, 0)  # nothing leaks to other threads


def test_errors_become_errno_answers_and_the_loop_goes_on(served: Any) -> None:
    """ENOENT from the operations is ENOENT; an unexpected exception is EIO; an unknown
    request is ENOSYS; an unknown node is ENOENT; the session keeps serving after each."""
    kernel, _, _ = served
    assert _lookup(kernel, 1, "nothing")[0] == errno.ENOENT
    assert _lookup(kernel, 1, "boom")[0] == errno.EIO
    assert kernel.call(99, 1)[0] == errno.ENOSYS
    assert kernel.call(Opcode.GETATTR, 12345, wire.GETATTR_IN.pack(0, 0, 0))[0] == errno.ENOENT
    assert kernel.call(Opcode.FLUSH, 1, bytes(24))[0] == errno.ENOSYS
    assert _lookup(kernel, 1, "proc")[0] == 0


def test_forget_drops_a_node_and_a_new_lookup_gets_a_new_id(served: Any) -> None:
    """Lookups count up, FORGET counts down (no answer is sent to it); at zero the id is
    gone and the next lookup of the same name is a new node."""
    kernel, _, session = served
    first = wire.ENTRY_OUT.unpack_from(_lookup(kernel, 1, "proc")[1])[0]
    assert wire.ENTRY_OUT.unpack_from(_lookup(kernel, 1, "proc")[1])[0] == first
    kernel.send(Opcode.FORGET, first, wire.FORGET_IN.pack(2))
    error, _ = kernel.call(Opcode.GETATTR, first, wire.GETATTR_IN.pack(0, 0, 0))
    assert error == errno.ENOENT  # answered after the FORGET: the id is gone
    assert wire.ENTRY_OUT.unpack_from(_lookup(kernel, 1, "proc")[1])[0] != first
    assert len(session.nodes) == 2  # the root and the new node


def test_a_request_that_must_wait_is_answered_by_a_worker_meanwhile_others_are_served(
    served: Any,
) -> None:
    """A read that waits on the deadline is handed to a worker: a later request is answered
    first, then the waiting one, each under its own unique."""
    kernel, operations, _ = served
    slow = wire.ENTRY_OUT.unpack_from(_lookup(kernel, 1, "slow")[1])[0]
    assert kernel.call(Opcode.OPEN, slow, struct.pack("<II", 0, 0))[0] == 0
    waiting = kernel.send(Opcode.READ, slow, wire.READ_IN.pack(8, 0, 4096, 0, 0, 0, 0))
    quick = kernel.send(Opcode.GETATTR, 1, wire.GETATTR_IN.pack(0, 0, 0))
    assert kernel.answer()[0] == quick
    operations.release_event.set()
    unique, error, payload = kernel.answer()
    assert (unique, error, payload) == (waiting, 0, TEXT)


def test_setattr_runs_chmod_chown_truncate_in_libfuses_order_and_stops_at_a_failure(
    served: Any,
) -> None:
    """mode, then owner, then size, as libfuse's high-level API: chown's EPERM is the
    answer and truncate is never called; times alone are ENOSYS (no utimens)."""
    kernel, operations, _ = served
    valid = wire.FATTR_MODE | wire.FATTR_UID | wire.FATTR_SIZE
    body = wire.SETATTR_IN.pack(valid, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0o100644, 0, 5, 0, 0)
    assert kernel.call(Opcode.SETATTR, 1, body)[0] == errno.EPERM
    assert operations.calls == [("chmod", 0o644), ("chown", (5, -1))]
    times = wire.SETATTR_IN.pack(wire.FATTR_MTIME, *([0] * 15))
    assert kernel.call(Opcode.SETATTR, 1, times)[0] == errno.ENOSYS


def test_readdir_is_one_listing_across_requests(served: Any) -> None:
    """OPENDIR, READDIR in small pieces resuming at each offset, RELEASEDIR: every name
    once, in order."""
    kernel, _, session = served
    error, opened = kernel.call(Opcode.OPENDIR, 1, struct.pack("<II", 0, 0))
    handle = wire.OPEN_OUT.unpack(opened)[0]
    names, offset = [], 0
    while True:
        error, data = kernel.call(
            Opcode.READDIR, 1, wire.READ_IN.pack(handle, offset, 40, 0, 0, 0, 0)
        )
        assert error == 0
        if not data:
            break
        _, offset, namelen, _ = wire.DIRENT.unpack_from(data)
        names.append(data[wire.DIRENT.size : wire.DIRENT.size + namelen].decode())
    assert names == [".", "..", "meminfo"]
    kernel.call(Opcode.RELEASEDIR, 1, wire.RELEASE_IN.pack(handle, 0, 0, 0))
    assert session.open_directories == 0


def test_mount_arguments_follow_libfuse_for_root() -> None:
    """fsname/subtype name the mount, allow_other and kernel options go to the data,
    ro is a flag, nosuid and nodev are always set, an unknown option is refused."""
    source, kind, flags, data = devfuse.mount_arguments(
        {
            "allow_other": True,
            "fsname": "lxcfs",
            "subtype": "lxcfs",
            "ro": True,
            "max_read": "8192",
        },
        5,
        0,
        0,
    )
    assert (source, kind) == ("lxcfs", "fuse.lxcfs")
    assert flags == 1 | 2 | 4  # MS_RDONLY | MS_NOSUID | MS_NODEV
    assert data == "fd=5,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=8192"
    with pytest.raises(devfuse.MountOptionError, match="hard_remove"):
        devfuse.mount_arguments({"hard_remove": True}, 5, 0, 0)


def test_a_deadline_on_an_inline_thread_defers_instead_of_waiting() -> None:
    """Deadline.call waits on an ordinary thread, raises MustDefer at once in inline_only."""
    from lxcfs_fuse.deadline import MustDefer, inline_only

    deadline = Deadline(0.05)
    assert deadline.call(lambda: 3) == 3
    with inline_only(), pytest.raises(MustDefer):
        deadline.call(lambda: 3)
    with pytest.raises(DeadlineExceeded):
        deadline.call(lambda: threading.Event().wait(1))


class _CountingPoller:
    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0

    def poll(self, timeout: int) -> Any:
        self.calls += 1
        return self.real.poll(timeout)


def test_the_serving_thread_waits_awake_only_for_a_follow_up(served: Any) -> None:
    """After an OPEN's answer the thread polls for the next request before sleeping in the
    read; after a RELEASE's answer it goes straight to the read."""
    kernel, _, session = served
    poller = _CountingPoller(session._poller)
    session._poller = poller
    meminfo = wire.ENTRY_OUT.unpack_from(_lookup(kernel, 1, "proc")[1])[0]
    assert kernel.call(Opcode.OPEN, meminfo, struct.pack("<II", 0, 0))[0] == 0
    kernel.call(Opcode.GETATTR, 1, wire.GETATTR_IN.pack(0, 0, 0))
    assert poller.calls >= 1
    after_open = poller.calls
    assert kernel.call(Opcode.RELEASE, meminfo, wire.RELEASE_IN.pack(7, 0, 0, 0))[0] == 0
    kernel.call(Opcode.GETATTR, 1, wire.GETATTR_IN.pack(0, 0, 0))
    assert poller.calls == after_open
