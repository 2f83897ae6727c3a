"""The FUSE wire format of ``lxcfs_fuse.fuse_protocol`` against the kernel's own layout.

The sizes are those of ``include/uapi/linux/fuse.h`` (checked against the installed header
where there is one); a wrong size or field order would make the kernel reject every answer.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lxcfs_fuse import fuse_protocol as wire

HEADER = Path("/usr/include/linux/fuse.h")

# struct name -> (our Struct, its size in the kernel's header)
SIZES = {
    "fuse_in_header": (wire.IN_HEADER, 40),
    "fuse_out_header": (wire.OUT_HEADER, 16),
    "fuse_attr": (wire.ATTR, 88),
    "fuse_open_out": (wire.OPEN_OUT, 16),
    "fuse_write_out": (wire.WRITE_OUT, 8),
    "fuse_kstatfs": (wire.STATFS_OUT, 80),
    "fuse_init_out": (wire.INIT_OUT, 64),
    "fuse_read_in": (wire.READ_IN, 40),
    "fuse_write_in": (wire.WRITE_IN, 40),
    "fuse_release_in": (wire.RELEASE_IN, 24),
    "fuse_getattr_in": (wire.GETATTR_IN, 16),
    "fuse_setattr_in": (wire.SETATTR_IN, 88),
    "fuse_dirent": (wire.DIRENT, 24),
}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_structures_have_the_kernels_sizes(name: str) -> None:
    """Every structure we pack or unpack has the size the kernel's fuse.h gives it."""
    ours, size = SIZES[name]
    assert ours.size == size


_C_SIZES = {"uint64_t": 8, "int64_t": 8, "uint32_t": 4, "int32_t": 4, "uint16_t": 2}


def _header_size(name: str) -> int | None:
    """The size of ``struct name`` summed from the installed header's field list (these
    structures have no implicit padding), or None when it uses a type not summed here."""
    match = re.search(rf"struct {name} \{{(.*?)\}};", HEADER.read_text(), re.S)
    assert match, name
    total = 0
    for field in re.finditer(r"^\s*(\w+)\s+(\w+)(?:\[(\d+)\])?;", match.group(1), re.M):
        kind, _, count = field.groups()
        if kind not in _C_SIZES:
            return None
        total += _C_SIZES[kind] * int(count or 1)
    return total


@pytest.mark.skipif(not HEADER.exists(), reason="no /usr/include/linux/fuse.h (linux-libc-dev)")
@pytest.mark.parametrize("name", sorted(set(SIZES) - {"fuse_dirent", "fuse_attr"}))
def test_sizes_agree_with_the_installed_kernel_header(name: str) -> None:
    """The installed kernel header's structures sum to the sizes we use."""
    size = _header_size(name)
    if size is None:
        pytest.skip(f"{name} has a field type this check does not sum")
    assert size == SIZES[name][1]


def test_attr_splits_nanosecond_times_and_uses_the_node_id_as_inode() -> None:
    """st_*time in nanoseconds becomes seconds + nanoseconds; st_ino is the node id."""
    packed = wire.attr(
        7,
        {
            "st_mode": 0o100444,
            "st_nlink": 1,
            "st_size": 1503,
            "st_uid": 3,
            "st_gid": 4,
            "st_atime": 1_700_000_000_123_456_789,
            "st_mtime": 5,
            "st_ctime": 2_000_000_000,
            "st_ino": 99,
        },
    )
    fields = wire.ATTR.unpack(packed)
    assert fields[:6] == (7, 1503, 0, 1_700_000_000, 0, 2)
    assert fields[6:12] == (123_456_789, 5, 0, 0o100444, 1, 3)
    assert fields[12] == 4


def test_entry_out_carries_the_validity_as_seconds_and_nanoseconds() -> None:
    """A 0.5 s entry/attr timeout is 0 s + 500,000,000 ns, as libfuse sends it."""
    packed = wire.entry_out(5, {"st_mode": 0o40555}, 0.5, 1.25)
    nodeid, generation, entry_s, attr_s, entry_ns, attr_ns = wire.ENTRY_OUT.unpack_from(packed)
    assert (nodeid, generation, entry_s, attr_s, entry_ns, attr_ns) == (
        5,
        0,
        0,
        1,
        500_000_000,
        250_000_000,
    )
    assert len(packed) == wire.ENTRY_OUT.size + wire.ATTR.size


def test_error_reply_is_a_bare_header_with_minus_errno() -> None:
    """An error answer is 16 bytes: length, -errno, unique; no payload even if given."""
    assert wire.reply(42, 2, b"ignored") == struct.pack("<IiQ", 16, -2, 42)
    assert wire.reply(42, 0, b"abc") == struct.pack("<IiQ", 19, 0, 42) + b"abc"


def test_init_answers_our_minor_or_the_kernels_if_older() -> None:
    """7.38 offered: we answer 7.31; 7.19 offered: 7.19; another major: refused."""
    assert wire.INIT_OUT.unpack(wire.init_out(7, 38, 65536))[:4] == (7, 31, 65536, 0)
    assert wire.INIT_OUT.unpack(wire.init_out(7, 19, 4096))[:2] == (7, 19)
    assert wire.INIT_OUT.unpack(wire.init_out(7, 38, 0))[6] == wire.MAX_WRITE
    with pytest.raises(ValueError, match="FUSE 8"):
        wire.init_out(8, 0, 0)


def _parse_dirents(data: bytes) -> list[tuple[int, int, int, str]]:
    entries, offset = [], 0
    while offset < len(data):
        ino, off, namelen, kind = wire.DIRENT.unpack_from(data, offset)
        start = offset + wire.DIRENT.size
        entries.append((ino, off, kind, data[start : start + namelen].decode()))
        offset = start + namelen + (-(wire.DIRENT.size + namelen) % 8)
    return entries


@given(
    st.lists(
        st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1), max_size=30
    ),
    st.integers(0, 35),
    st.integers(0, 2000),
)
def test_dirents_resume_where_the_last_entry_left_off(
    names: list[str], start: int, size: int
) -> None:
    """Records are 8-byte aligned, never exceed the asked size, carry index + 1 as their
    offset, an unknown inode and type, and list names[start:] in order up to what fits."""
    data = wire.dirents(names, start, size)
    assert len(data) <= size and len(data) % 8 == 0
    entries = _parse_dirents(data)
    assert [name for *_, name in entries] == names[start : start + len(entries)]
    for index, (ino, off, kind, _) in enumerate(entries):
        assert (ino, off, kind) == (wire.UNKNOWN_INO, start + index + 1, 0)
    if start + len(entries) < len(names):  # stopped early: the next one, padded, did not fit
        record = wire.DIRENT.size + len(names[start + len(entries)].encode())
        assert len(data) + record + (-record % 8) > size


def test_name_at_stops_at_the_nul() -> None:
    """A request's name ends at its NUL; a second name follows it (SYMLINK)."""
    body = b"link\0target\0"
    assert wire.name_at(body) == "link"
    assert wire.name_at(body, 5) == "target"
