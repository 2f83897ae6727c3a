"""The kernel's FUSE wire format (``include/uapi/linux/fuse.h``), as pure packing and unpacking.

Rules:
1. Pure: bytes in, values out and back; no descriptor, clock or thread here, so every layout
   is unit-tested without a mount (``tests/unit/test_fuse_protocol.py``).
2. We speak protocol 7.31 whatever newer minor the kernel offers: every structure below has
   had this layout since 7.9 (attributes) and 7.23 (``fuse_init_out``), and nothing we use
   changed after. The kernel adapts to the minor we answer with.
3. Only what a read-mostly, path-addressed filesystem needs: the request kinds
   ``devfuse.Session`` serves, and their answers. Unknown requests are answered ENOSYS by the
   session, which is what the kernel expects of a filesystem without that operation.
4. Attributes come as fusepy-style dicts (``st_mode``, ``st_size``, times in nanoseconds),
   the form ``LxcfsOperations.getattr`` already returns, so the operations are shared by
   every binding unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

__all__ = [
    "ATTR",
    "ENTRY_OUT",
    "IN_HEADER",
    "OUT_HEADER",
    "Opcode",
    "attr_out",
    "dirents",
    "entry_out",
    "init_out",
    "open_out",
    "statfs_out",
    "write_out",
]

KERNEL_MAJOR = 7
#: The minor version we answer INIT with (rule 2).
OUR_MINOR = 31


class Opcode:
    """Request kinds (``enum fuse_opcode``)."""

    LOOKUP = 1
    FORGET = 2
    GETATTR = 3
    SETATTR = 4
    READLINK = 5
    SYMLINK = 6
    MKNOD = 8
    MKDIR = 9
    UNLINK = 10
    RMDIR = 11
    RENAME = 12
    LINK = 13
    OPEN = 14
    READ = 15
    WRITE = 16
    STATFS = 17
    RELEASE = 18
    FSYNC = 20
    SETXATTR = 21
    GETXATTR = 22
    LISTXATTR = 23
    REMOVEXATTR = 24
    FLUSH = 25
    INIT = 26
    OPENDIR = 27
    READDIR = 28
    RELEASEDIR = 29
    FSYNCDIR = 30
    ACCESS = 34
    CREATE = 35
    INTERRUPT = 36
    DESTROY = 38
    BATCH_FORGET = 42
    RENAME2 = 45


#: Requests the kernel expects no answer to.
NO_REPLY = frozenset({Opcode.FORGET, Opcode.BATCH_FORGET, Opcode.INTERRUPT})

# fuse_in_header: len, opcode, unique, nodeid, uid, gid, pid, total_extlen, padding
IN_HEADER = struct.Struct("<IIQQIIIHH")
# fuse_out_header: len, error (minus errno), unique
OUT_HEADER = struct.Struct("<IiQ")
# fuse_attr: ino size blocks atime mtime ctime, atimensec mtimensec ctimensec mode nlink uid
# gid rdev blksize flags
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")
# fuse_entry_out: nodeid generation entry_valid attr_valid entry_valid_nsec attr_valid_nsec
ENTRY_OUT = struct.Struct("<QQQQII")
# fuse_attr_out: attr_valid attr_valid_nsec dummy
ATTR_OUT = struct.Struct("<QII")
# fuse_open_out: fh open_flags padding
OPEN_OUT = struct.Struct("<QII")
# fuse_write_out: size padding
WRITE_OUT = struct.Struct("<II")
# fuse_kstatfs: blocks bfree bavail files ffree, bsize namelen frsize padding, spare[6]
STATFS_OUT = struct.Struct("<QQQQQIIII24x")
# fuse_init_in (the part we read): major minor max_readahead flags
INIT_IN = struct.Struct("<IIII")
# fuse_init_out: major minor max_readahead flags max_background congestion_threshold
# max_write time_gran max_pages map_alignment flags2 unused[7]
INIT_OUT = struct.Struct("<IIIIHHIIHHI28x")
# fuse_read_in (also READDIR): fh offset size read_flags lock_owner flags padding
READ_IN = struct.Struct("<QQIIQII")
# fuse_write_in: fh offset size write_flags lock_owner flags padding; the data follows
WRITE_IN = struct.Struct("<QQIIQII")
# fuse_open_in: flags open_flags
OPEN_IN = struct.Struct("<II")
# fuse_release_in: fh flags release_flags lock_owner
RELEASE_IN = struct.Struct("<QIIQ")
# fuse_getattr_in: getattr_flags dummy fh
GETATTR_IN = struct.Struct("<IIQ")
# fuse_setattr_in: valid padding fh size lock_owner atime mtime ctime atimensec mtimensec
# ctimensec mode unused4 uid gid unused5
SETATTR_IN = struct.Struct("<IIQQQQQQIIIIIIII")
# fuse_mkdir_in: mode umask; the name follows
MKDIR_IN = struct.Struct("<II")
# fuse_access_in: mask padding
ACCESS_IN = struct.Struct("<II")
# fuse_fsync_in: fh fsync_flags padding
FSYNC_IN = struct.Struct("<QII")
# fuse_forget_in: nlookup
FORGET_IN = struct.Struct("<Q")
# fuse_batch_forget_in: count dummy; then count x fuse_forget_one (nodeid nlookup)
BATCH_FORGET_IN = struct.Struct("<II")
FORGET_ONE = struct.Struct("<QQ")
# fuse_dirent: ino off namelen type; the name follows, padded to 8 bytes
DIRENT = struct.Struct("<QQII")

FOPEN_DIRECT_IO = 1 << 0
FOPEN_KEEP_CACHE = 1 << 1
FOPEN_NONSEEKABLE = 1 << 2

# fuse_setattr_in.valid
FATTR_MODE = 1 << 0
FATTR_UID = 1 << 1
FATTR_GID = 1 << 2
FATTR_SIZE = 1 << 3
FATTR_ATIME = 1 << 4
FATTR_MTIME = 1 << 5
FATTR_FH = 1 << 6

#: libfuse's inode number for a directory entry when ``use_ino`` is off: "look it up".
UNKNOWN_INO = 0xFFFFFFFF

#: Largest write the kernel may send; the session's read buffer holds one plus headers.
MAX_WRITE = 128 * 1024
#: The read buffer: a request header, the largest write-in header and MAX_WRITE bytes.
REQUEST_BUFFER = MAX_WRITE + 4096

_NS = 1_000_000_000


def _split_ns(value: object) -> tuple[int, int]:
    """(seconds, nanoseconds) of a time given in nanoseconds (fusepy's ``use_ns`` form)."""
    nanoseconds = int(value) if isinstance(value, int | float) else 0
    return nanoseconds // _NS, nanoseconds % _NS


def attr(nodeid: int, attributes: Mapping[str, object]) -> bytes:
    """``fuse_attr`` of a getattr dict; the inode number is the node id, as libfuse's is
    without ``use_ino``."""

    def number(key: str) -> int:
        value = attributes.get(key, 0)
        return int(value) if isinstance(value, int | float) else 0

    atime, atime_ns = _split_ns(attributes.get("st_atime", 0))
    mtime, mtime_ns = _split_ns(attributes.get("st_mtime", 0))
    ctime, ctime_ns = _split_ns(attributes.get("st_ctime", 0))
    return ATTR.pack(
        nodeid,
        number("st_size"),
        number("st_blocks"),
        atime,
        mtime,
        ctime,
        atime_ns,
        mtime_ns,
        ctime_ns,
        number("st_mode"),
        number("st_nlink"),
        number("st_uid"),
        number("st_gid"),
        number("st_rdev"),
        number("st_blksize"),
        0,
    )


def _valid(seconds: float) -> tuple[int, int]:
    whole = int(seconds)
    return whole, round((seconds - whole) * _NS)


def entry_out(
    nodeid: int, attributes: Mapping[str, object], entry_seconds: float, attr_seconds: float
) -> bytes:
    """The answer to LOOKUP and MKDIR: the node, how long its name and attributes stay valid."""
    entry_valid, entry_ns = _valid(entry_seconds)
    attr_valid, attr_ns = _valid(attr_seconds)
    return ENTRY_OUT.pack(nodeid, 0, entry_valid, attr_valid, entry_ns, attr_ns) + attr(
        nodeid, attributes
    )


def attr_out(nodeid: int, attributes: Mapping[str, object], attr_seconds: float) -> bytes:
    """The answer to GETATTR and SETATTR."""
    valid, valid_ns = _valid(attr_seconds)
    return ATTR_OUT.pack(valid, valid_ns, 0) + attr(nodeid, attributes)


def open_out(handle: int, *, direct_io: bool) -> bytes:
    """The answer to OPEN and OPENDIR."""
    return OPEN_OUT.pack(handle, FOPEN_DIRECT_IO if direct_io else 0, 0)


def write_out(size: int) -> bytes:
    """The answer to WRITE: how many bytes were taken."""
    return WRITE_OUT.pack(size, 0)


def statfs_out() -> bytes:
    """The answer to STATFS of a filesystem without a statfs operation, as libfuse's: no
    blocks, 512-byte blocks, names up to 255 bytes."""
    return STATFS_OUT.pack(0, 0, 0, 0, 0, 512, 255, 0, 0)


def init_out(kernel_major: int, kernel_minor: int, max_readahead: int) -> bytes:
    """The answer to INIT: protocol 7.31 (or the kernel's, if older), no optional
    capabilities (rule 2: page cache, locks, splice and readdirplus are not used), writes up
    to MAX_WRITE. Raises ValueError for a kernel of another major version."""
    if kernel_major != KERNEL_MAJOR:
        raise ValueError(f"kernel speaks FUSE {kernel_major}.{kernel_minor}, we speak 7.x")
    minor = min(kernel_minor, OUR_MINOR)
    return INIT_OUT.pack(KERNEL_MAJOR, minor, max_readahead, 0, 12, 9, MAX_WRITE, 1, 0, 0, 0)


def dirents(names: Sequence[str], start: int, size: int) -> bytes:
    """``fuse_dirent`` records of ``names[start:]`` that fit in ``size`` bytes. Each entry's
    offset is its index + 1 (where the next READDIR resumes); the inode is "unknown" and the
    type DT_UNKNOWN, as libfuse's high-level API sends them without ``use_ino``."""
    out = bytearray()
    for index in range(start, len(names)):
        name = names[index].encode("utf-8", "surrogateescape")
        record = DIRENT.pack(UNKNOWN_INO, index + 1, len(name), 0) + name
        record += b"\0" * (-len(record) % 8)
        if len(out) + len(record) > size:
            break
        out += record
    return bytes(out)


def reply(unique: int, error: int = 0, payload: bytes = b"") -> bytes:
    """One answer: the header (``error`` is a positive errno or 0) and its payload; an error
    carries no payload."""
    if error:
        return OUT_HEADER.pack(OUT_HEADER.size, -error, unique)
    return OUT_HEADER.pack(OUT_HEADER.size + len(payload), 0, unique) + payload


def name_at(body: bytes | memoryview, offset: int = 0) -> str:
    """The NUL-terminated name in a request body starting at ``offset``."""
    raw = bytes(body[offset:])
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")
