"""The pure cgroup/procfs text parsers: exact values on kernel-format input, ParseError on
malformed input (never another exception)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lxcfs_model import cgroup_parsers as parsers
from lxcfs_model.cgroup_parsers import ProcCgroupLine
from lxcfs_model.errors import ParseError
from lxcfs_model.values import CpuTime, IoDeviceStats

# ----------------------------------------------------------------------------- numbers


def test_integer_with_newline() -> None:
    """A one-number file parses with or without its trailing newline."""
    assert parsers.parse_integer("73400320\n", "memory.usage_in_bytes") == 73400320
    assert parsers.parse_integer("0", "x") == 0


@pytest.mark.parametrize("text", ["", "\n", "12 13\n", "abc\n", "-5\n", "1.5\n", "٣\n"])
def test_integer_malformed(text: str) -> None:
    """Empty, several, non-decimal, negative (unsigned files) or non-ASCII digits fail."""
    with pytest.raises(ParseError, match=re.escape("memory.current")):
        parsers.parse_integer(text, "memory.current")


def test_integer_error_names_file() -> None:
    """The error message names the file it came from."""
    with pytest.raises(ParseError) as caught:
        parsers.parse_integer("oops\n", "/sys/fs/cgroup/memory/lxc/memory.usage_in_bytes")
    assert "/sys/fs/cgroup/memory/lxc/memory.usage_in_bytes" in str(caught.value)


def test_integer_too_long_is_parse_error() -> None:
    """A 5000-digit number is a ParseError, not Python's int-conversion ValueError."""
    with pytest.raises(ParseError):
        parsers.parse_integer("9" * 5000, "x")


def test_v1_limit_unlimited_sentinels() -> None:
    """2**63-4096 (4 KiB pages) and 2**63-65536 (64 KiB pages) mean no limit; 2**62 too."""
    assert parsers.parse_v1_limit("9223372036854771712\n", "m") is None
    assert parsers.parse_v1_limit("9223372036854710272\n", "m") is None
    assert parsers.parse_v1_limit(f"{2**62}\n", "m") is None
    assert parsers.parse_v1_limit(f"{2**62 - 1}\n", "m") == 2**62 - 1


def test_v1_limit_zero_is_a_limit() -> None:
    """A limit of 0 is a real limit, never "unlimited" (spec 8.5)."""
    assert parsers.parse_v1_limit("0\n", "m") == 0


def test_v2_limit() -> None:
    """``max`` is no limit, a number is bytes, 0 stays 0."""
    assert parsers.parse_v2_limit("max\n", "memory.max") is None
    assert parsers.parse_v2_limit("536870912\n", "memory.max") == 536870912
    assert parsers.parse_v2_limit("0\n", "memory.swap.max") == 0


@pytest.mark.parametrize("text", ["", "MAX\n", "max max\n", "-1\n"])
def test_v2_limit_malformed(text: str) -> None:
    """Anything but ``max`` or one unsigned number is malformed."""
    with pytest.raises(ParseError):
        parsers.parse_v2_limit(text, "memory.max")


# ---------------------------------------------------------------------------- keyed files


def test_flat_keyed_keeps_prefix_keys_apart() -> None:
    """``total_rss`` and ``total_rss_huge`` (and ``file``/``file_mapped``) stay distinct."""
    text = "file 100\nfile_mapped 7\ntotal_rss 5\ntotal_rss_huge 3\n"
    assert parsers.parse_flat_keyed(text, "memory.stat") == {
        "file": 100,
        "file_mapped": 7,
        "total_rss": 5,
        "total_rss_huge": 3,
    }


@pytest.mark.parametrize(
    "text", ["anon\n", "anon 1 2\n", "anon x\n", "anon 1\nanon 2\n", "anon 1.0\n"]
)
def test_flat_keyed_malformed(text: str) -> None:
    """Missing value, extra field, non-number, repeated key are malformed."""
    with pytest.raises(ParseError, match=re.escape("memory.stat")):
        parsers.parse_flat_keyed(text, "memory.stat")


def test_cfs_quota() -> None:
    """``-1`` means no quota; a positive value is microseconds per period."""
    assert parsers.parse_cfs_quota("-1\n") is None
    assert parsers.parse_cfs_quota("50000\n") == 50000
    with pytest.raises(ParseError):
        parsers.parse_cfs_quota("max\n")


def test_cpu_max() -> None:
    """``cpu.max`` is ``$MAX $PERIOD``; ``max`` is no quota."""
    assert parsers.parse_cpu_max("max 100000\n") == (None, 100000)
    assert parsers.parse_cpu_max("150000 100000\n") == (150000, 100000)


@pytest.mark.parametrize("text", ["max\n", "", "1 2 3\n", "max 0\n", "-1 100000\n"])
def test_cpu_max_malformed(text: str) -> None:
    """One field, three fields, a zero period or a negative quota are malformed."""
    with pytest.raises(ParseError, match=re.escape("cpu.max")):
        parsers.parse_cpu_max(text)


def test_cpuacct_usage_all() -> None:
    """Header, then ``N user_ns system_ns`` per CPU, keyed by CPU number."""
    text = "cpu user system\n0 8848676029 9914942599\n1 36189320168 19328210517\n"
    assert parsers.parse_cpuacct_usage_all(text) == {
        0: CpuTime(user_ns=8848676029, system_ns=9914942599),
        1: CpuTime(user_ns=36189320168, system_ns=19328210517),
    }


@pytest.mark.parametrize(
    "text",
    ["", "0 1 2\n", "cpu user system\n0 1\n", "cpu user system\n0 1 2\n0 3 4\n", "cpu user\n"],
)
def test_cpuacct_usage_all_malformed(text: str) -> None:
    """No header, short lines or a CPU listed twice are malformed."""
    with pytest.raises(ParseError, match=re.escape("cpuacct.usage_all")):
        parsers.parse_cpuacct_usage_all(text)


def test_cpuacct_usage_percpu() -> None:
    """Totals in CPU order (trailing space as the kernel prints); system is 0."""
    assert parsers.parse_cpuacct_usage_percpu("20245978138 57293670171 \n") == {
        0: CpuTime(user_ns=20245978138, system_ns=0),
        1: CpuTime(user_ns=57293670171, system_ns=0),
    }
    with pytest.raises(ParseError):
        parsers.parse_cpuacct_usage_percpu("1 x\n")


# -------------------------------------------------------------------------------------- io

THROTTLE_SERVICED = (
    "254:0 Read 120\n254:0 Write 30\n254:0 Sync 100\n254:0 Async 50\n254:0 Discard 2\n"
    "254:0 Total 152\n8:0 Read 1\n8:0 Write 0\n8:0 Sync 1\n8:0 Async 0\n8:0 Discard 0\n"
    "8:0 Total 1\nTotal 153\n"
)


def test_blkio_recursive() -> None:
    """Per device per operation; the final ``Total N`` line is not a device."""
    table = parsers.parse_blkio_recursive(THROTTLE_SERVICED, "blkio.throttle.io_serviced")
    assert table[(254, 0)] == {
        "Read": 120,
        "Write": 30,
        "Sync": 100,
        "Async": 50,
        "Discard": 2,
        "Total": 152,
    }
    assert table[(8, 0)]["Read"] == 1
    assert set(table) == {(254, 0), (8, 0)}


def test_blkio_only_total() -> None:
    """A cgroup without I/O prints only ``Total 0``: no devices."""
    assert parsers.parse_blkio_recursive("Total 0\n", "b") == {}


@pytest.mark.parametrize(
    "text", ["254:0 Read\n", "254:0 Peek 1\n", "2540 Read 1\n", "254:0 Read x\n", "Total x\n"]
)
def test_blkio_malformed(text: str) -> None:
    """Short lines, unknown operations, bad devices and bad numbers are malformed."""
    with pytest.raises(ParseError, match="blkio"):
        parsers.parse_blkio_recursive(text, "blkio.io_serviced_recursive")


def test_io_stat() -> None:
    """``maj:min key=value...`` per device (cgroup-v2.rst example line)."""
    text = "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n"
    assert parsers.parse_io_stat(text) == {
        (8, 16): {
            "rbytes": 1459200,
            "wbytes": 314773504,
            "rios": 192,
            "wios": 353,
            "dbytes": 0,
            "dios": 0,
        }
    }


@pytest.mark.parametrize("text", ["8:16 rbytes\n", "8:16 rbytes=x\n", "816 rios=1\n", "8:1 =1\n"])
def test_io_stat_malformed(text: str) -> None:
    """A field without ``=``, a bad number or a bad device is malformed."""
    with pytest.raises(ParseError, match=re.escape("io.stat")):
        parsers.parse_io_stat(text)


def test_io_devices_from_throttle() -> None:
    """Throttle counts ios and bytes per direction; merges and times stay 0."""
    serviced = parsers.parse_blkio_recursive(THROTTLE_SERVICED, "s")
    service_bytes = parsers.parse_blkio_recursive("254:0 Read 4096\n254:0 Write 512\n", "b")
    devices = parsers.io_devices_from_blkio_throttle(serviced, service_bytes)
    assert devices == (
        IoDeviceStats(major=8, minor=0, read_ios=1),
        IoDeviceStats(
            major=254,
            minor=0,
            read_ios=120,
            read_bytes=4096,
            write_ios=30,
            write_bytes=512,
            discard_ios=2,
        ),
    )


def test_io_devices_from_cfq_ticks() -> None:
    """CFQ ticks are service + wait time, each ns -> ms on its own (spec 3.9); io_ticks is
    the service-time Total in ms."""
    dev = (8, 0)
    serviced = {dev: {"Read": 3, "Write": 4, "Discard": 1}}
    merged = {dev: {"Read": 1, "Write": 2}}
    service_bytes = {dev: {"Read": 1024, "Write": 2048, "Discard": 512}}
    service_time = {dev: {"Read": 1_999_999, "Write": 5_000_000, "Total": 7_500_000}}
    wait_time = {dev: {"Read": 1_999_999, "Write": 1_000_000}}
    (record,) = parsers.io_devices_from_blkio_cfq(
        serviced, merged, service_bytes, service_time, wait_time
    )
    assert record == IoDeviceStats(
        major=8,
        minor=0,
        read_ios=3,
        read_merges=1,
        read_bytes=1024,
        read_ticks_ms=2,  # 1 + 1, not 3 (3_999_998 ns summed first)
        write_ios=4,
        write_merges=2,
        write_bytes=2048,
        write_ticks_ms=6,
        discard_ios=1,
        discard_bytes=512,
        io_ticks_ms=7,
    )


def test_io_devices_from_io_stat() -> None:
    """io.stat keys map to requests and bytes per direction, devices sorted."""
    table = {(254, 0): {"rbytes": 10, "wbytes": 20, "rios": 1, "wios": 2, "dbytes": 30, "dios": 3}}
    table[(8, 0)] = {"rios": 5}
    assert parsers.io_devices_from_io_stat(table) == (
        IoDeviceStats(major=8, minor=0, read_ios=5),
        IoDeviceStats(
            major=254,
            minor=0,
            read_ios=1,
            read_bytes=10,
            write_ios=2,
            write_bytes=20,
            discard_ios=3,
            discard_bytes=30,
        ),
    )


# ----------------------------------------------------------------------------- /proc/<pid>


def test_proc_cgroup_hybrid() -> None:
    """v1 lines keep their controller lists (and name=), the v2 line has none; a path may
    contain a colon."""
    text = "9:name=systemd:/init.scope\n2:cpu,cpuacct:/lxc/c1\n0::/a:b\n"
    assert parsers.parse_proc_cgroup(text) == (
        ProcCgroupLine(9, ("name=systemd",), "/init.scope"),
        ProcCgroupLine(2, ("cpu", "cpuacct"), "/lxc/c1"),
        ProcCgroupLine(0, (), "/a:b"),
    )


@pytest.mark.parametrize("text", ["4:memory\n", "x:memory:/\n", "4:memory:relative\n"])
def test_proc_cgroup_malformed(text: str) -> None:
    """Two fields, a non-numeric id or a relative path are malformed."""
    with pytest.raises(ParseError):
        parsers.parse_proc_cgroup(text)


STAT_LINE = (
    "4242 (my init) (c1) S 4241 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 250000 "
    "3133440 372 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
)


def test_stat_start_ticks_after_last_paren() -> None:
    """Field 22 is counted after the LAST ')' so a comm with spaces and parens works."""
    assert parsers.parse_proc_stat_start_ticks(STAT_LINE) == 250000


@pytest.mark.parametrize("text", ["", "4242 (init S 1 2 3\n", "4242 (init) S 1 2 3\n"])
def test_stat_start_ticks_malformed(text: str) -> None:
    """No closing paren or too few fields are malformed."""
    with pytest.raises(ParseError):
        parsers.parse_proc_stat_start_ticks(text)


def test_status_fields() -> None:
    """PPid and the NSpid chain come from the status file; the last NSpid is 1 for an init."""
    status = parsers.parse_proc_status("Name:\tinit\nPPid:\t4241\nNSpid:\t4242\t1\n")
    assert parsers.parse_status_ppid(status) == 4241
    assert parsers.parse_status_nspid(status) == [4242, 1]
    with pytest.raises(ParseError):
        parsers.parse_status_nspid(parsers.parse_proc_status("Name:\tx\n"))


def test_pid_namespace_link() -> None:
    """``pid:[4026531836]`` names the inode; other link targets are malformed."""
    assert parsers.parse_pid_namespace_link("pid:[4026531836]") == 4026531836
    for bad in ("net:[4026531836]", "pid:4026531836", "pid:[x]", "pid:[]"):
        with pytest.raises(ParseError):
            parsers.parse_pid_namespace_link(bad)


# ---------------------------------------------------------------------------- properties

TEXT_PARSERS: list[Callable[[str], object]] = [
    lambda t: parsers.parse_integer(t, "f"),
    lambda t: parsers.parse_v1_limit(t, "f"),
    lambda t: parsers.parse_v2_limit(t, "f"),
    lambda t: parsers.parse_flat_keyed(t, "f"),
    parsers.parse_cfs_quota,
    parsers.parse_cpu_max,
    parsers.parse_cpuacct_usage_all,
    parsers.parse_cpuacct_usage_percpu,
    lambda t: parsers.parse_blkio_recursive(t, "f"),
    parsers.parse_io_stat,
    parsers.parse_proc_cgroup,
    parsers.parse_proc_stat_start_ticks,
    parsers.parse_pid_namespace_link,
]


@given(text=st.text(max_size=200), index=st.integers(0, len(TEXT_PARSERS) - 1))
def test_parsers_raise_only_parse_error(text: str, index: int) -> None:
    """On arbitrary text every parser returns a value or raises ParseError, nothing else."""
    with contextlib.suppress(ParseError):
        TEXT_PARSERS[index](text)


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.integers(0, 2**64)))
def test_flat_keyed_round_trip(values: dict[str, int]) -> None:
    """A memory.stat written the kernel's way parses back to the same mapping."""
    text = "".join(f"{key} {value}\n" for key, value in values.items())
    assert parsers.parse_flat_keyed(text, "memory.stat") == values
