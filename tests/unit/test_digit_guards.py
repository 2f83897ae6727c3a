"""Numbers in untrusted text are ASCII digits of sane length, so garbage is a ParseError (or a
fallback), never the ValueError int() raises for "²" or for 5,000 digits."""

from __future__ import annotations

import json

import pytest

from lxcfs_model import files
from lxcfs_model.cpuset import parse_cpuset
from lxcfs_model.errors import ParseError
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.snapshot import Snapshot, SnapshotError, snapshot_from_json, snapshot_to_json
from lxcfs_model.values import (
    CgroupView,
    Clock,
    CpuTime,
    CpuUsage,
    HostSnapshot,
    IoCgroup,
    IoDeviceStats,
)


@pytest.mark.parametrize(
    "text",
    ["²", "0-²", "1" * 5000, "0-" + "9" * 5000],
    ids=["unicode", "unicode-range-end", "endless", "endless-range-end"],
)
def test_cpu_list_with_non_ascii_or_endless_digits_is_a_parse_error(text: str) -> None:
    """A cpu list whose numbers int() would refuse is malformed, reported as ParseError."""
    with pytest.raises(ParseError, match="malformed cpu list item"):
        parse_cpuset(text)


def test_host_online_file_of_unicode_digits_still_shows_a_cpu() -> None:
    """An online file of "²" counts as unparsable: renders fall back to CPU 0, no exception."""
    host = HostSnapshot(
        meminfo="", cpuinfo="", stat="", uptime="", loadavg="", diskstats="", swaps="", online="²"
    )
    assert host.online_cpus == frozenset()
    rendered = files.render("online", RenderInputs(view=CgroupView(), host=host))
    assert rendered.text == "0\n"


@pytest.mark.parametrize("key", ["²", "1" * 5000], ids=["unicode", "endless"])
def test_snapshot_integer_key_of_unicode_or_endless_digits_is_a_snapshot_error(key: str) -> None:
    """A per-CPU key int() would refuse makes the snapshot malformed, naming the key."""
    usage = CpuUsage(
        version="v1", path="/c", total=CpuTime(1, 0), per_cpu={0: CpuTime(user_ns=1, system_ns=0)}
    )
    host = HostSnapshot(
        meminfo="", cpuinfo="", stat="", uptime="", loadavg="", diskstats="", swaps="", online="0"
    )
    snapshot = Snapshot(view=CgroupView(cpu_usage=usage), host=host, clock=Clock(boottime=1.0))
    data = json.loads(snapshot_to_json(snapshot))
    data["view"]["cpu_usage"]["per_cpu"] = {key: data["view"]["cpu_usage"]["per_cpu"]["0"]}
    with pytest.raises(SnapshotError, match="is not an integer"):
        snapshot_from_json(json.dumps(data))


def _host(**texts: str) -> HostSnapshot:
    fields = dict.fromkeys(
        ("meminfo", "cpuinfo", "stat", "uptime", "loadavg", "diskstats", "swaps"), ""
    )
    return HostSnapshot(**{**fields, "online": "0", **texts})


def test_host_stat_cpu_line_with_endless_digits_is_left_out_not_an_internal_error() -> None:
    """A cpuN line with a 5,000-digit counter is malformed (host_cpu rule 3): cpu0 then has
    no host line and reads zeros, rather than the whole file falling back."""
    host = _host(stat="cpu0 " + "1" * 5000 + " 0 0 0\nctxt 5\n")
    rendered = files.render("stat", RenderInputs(view=CgroupView(), host=host))
    assert rendered.fallback is None
    assert rendered.text == "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\nctxt 5\n"


def test_host_diskstats_line_with_endless_digits_is_skipped_not_raised() -> None:
    """A diskstats line whose major number int() would refuse is no device: skipped."""
    host = _host(diskstats="1" * 5000 + " 0 sda " + " ".join(["1"] * 11) + "\n")
    io = IoCgroup(
        version="v2", path="/a", source="io.stat", devices=(IoDeviceStats(8, 0, read_ios=1),)
    )
    rendered = files.render("diskstats", RenderInputs(view=CgroupView(io=io), host=host))
    assert (rendered.text, rendered.fallback) == ("", None)
