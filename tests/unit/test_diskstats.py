"""/proc/diskstats: the host's devices with the container's I/O, in the host's own layout."""

from __future__ import annotations

from lxcfs_model.explain import explain
from lxcfs_model.render import diskstats
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import CgroupView, HostSnapshot, IoCgroup, IoDeviceStats

# Host lines as diskstats_show() prints them (%4d %7d %s), numbers arbitrary host I/O.
HOST_17 = (
    "   7       0 loop0 51 0 1304 12 0 0 0 0 0 28 12 0 0 0 0 0 0\n"
    "   8       0 sda 9104 3377 620558 4218 12203 9671 518224 11023 0 15412 15241 0 0 0 0 "
    "730 0\n"
    "   8       1 sda1 8990 3377 612046 4190 12203 9671 518224 11023 0 15400 15213 0 0 0 0 "
    "0 0\n"
    " 253       0 vda 100 1 200 3 400 5 600 7 0 9 10 11 12 13 14 15 16\n"
)
HOST_15 = (
    "   8       0 sda 9104 3377 620558 4218 12203 9671 518224 11023 0 15412 15241 0 0 0 0\n"
    " 253       0 vda 100 1 200 3 400 5 600 7 0 9 10 11 12 13 14\n"
)
HOST_11 = (
    "   8       0 sda 9104 3377 620558 4218 12203 9671 518224 11023 0 15412 15241\n"
    " 253       0 vda 100 1 200 3 400 5 600 7 0 9 10\n"
)

# v1 throttle: 120 reads of 409600 bytes (800 sectors), 30 writes of 1 MiB (2048 sectors).
SDA_THROTTLE = IoDeviceStats(
    major=8, minor=0, read_ios=120, read_bytes=409_600, write_ios=30, write_bytes=1_048_576
)
# v2 io.stat: rios=2 rbytes=1000 (1 sector), dios=1 dbytes=8192 (16 sectors).
VDA_IO_STAT = IoDeviceStats(
    major=253, minor=0, read_ios=2, read_bytes=1000, discard_ios=1, discard_bytes=8192
)


def _inputs(host_text: str, io: IoCgroup | None) -> RenderInputs:
    host = HostSnapshot(
        meminfo="",
        cpuinfo="",
        stat="",
        uptime="",
        loadavg="",
        diskstats=host_text,
        swaps="",
        online="0\n",
    )
    return RenderInputs(view=CgroupView(io=io), host=host)


def _throttle(*devices: IoDeviceStats) -> IoCgroup:
    return IoCgroup(version="v1", path="/c1", source="blkio.throttle", devices=devices)


def _io_stat(*devices: IoDeviceStats) -> IoCgroup:
    return IoCgroup(version="v2", path="/c1", source="io.stat", devices=devices)


def test_v1_throttle_on_a_17_column_host() -> None:
    """sda gets the container's reads/sectors/writes/sectors, zeros elsewhere, 17 numbers;
    loop0 (all-zero stats) and sda1 (no stats) are omitted."""
    io = _throttle(IoDeviceStats(major=7, minor=0), SDA_THROTTLE)
    rendered = diskstats.render(_inputs(HOST_17, io))
    assert rendered.text == "   8       0 sda 120 0 800 0 30 0 2048 0 0 0 0 0 0 0 0 0 0\n"
    assert rendered.fallback is None


def test_v2_io_stat_on_15_and_17_column_hosts() -> None:
    """vda's discards land in columns 12-14; the line is as long as the host's."""
    assert diskstats.render(_inputs(HOST_15, _io_stat(VDA_IO_STAT))).text == (
        " 253       0 vda 2 0 1 0 0 0 0 0 0 0 0 1 0 16 0\n"
    )
    assert diskstats.render(_inputs(HOST_17, _io_stat(VDA_IO_STAT))).text == (
        " 253       0 vda 2 0 1 0 0 0 0 0 0 0 0 1 0 16 0 0 0\n"
    )


def test_11_column_host_has_no_discard_columns() -> None:
    """A pre-4.18 host line has 11 numbers; the container's line too."""
    io = _io_stat(SDA_THROTTLE, VDA_IO_STAT)
    assert diskstats.render(_inputs(HOST_11, io)).text == (
        "   8       0 sda 120 0 800 0 30 0 2048 0 0 0 0\n 253       0 vda 2 0 1 0 0 0 0 0 0 0 0\n"
    )


def test_discard_only_io_is_invisible_on_an_11_column_host() -> None:
    """A device whose only I/O was discards prints all zeros on 11 columns, so it is omitted."""
    io = _io_stat(IoDeviceStats(major=253, minor=0, discard_ios=4, discard_bytes=4096))
    assert diskstats.render(_inputs(HOST_11, io)).text == ""
    assert diskstats.render(_inputs(HOST_15, io)).text == (
        " 253       0 vda 0 0 0 0 0 0 0 0 0 0 0 4 0 8 0\n"
    )


def test_cfq_fields_fill_merges_and_times() -> None:
    """CFQ-era blkio gives merges and times: ticks land in columns 4, 8, 10 and 15."""
    stats = IoDeviceStats(
        major=8,
        minor=1,
        read_ios=5,
        read_merges=2,
        read_bytes=5120,
        read_ticks_ms=7,
        write_ios=3,
        write_merges=1,
        write_bytes=1536,
        write_ticks_ms=4,
        discard_ios=1,
        discard_merges=6,
        discard_bytes=512,
        discard_ticks_ms=8,
        io_ticks_ms=11,
    )
    io = IoCgroup(version="v1", path="/c1", source="blkio.cfq", devices=(stats,))
    assert diskstats.render(_inputs(HOST_17, io)).text == (
        "   8       1 sda1 5 2 10 7 3 1 3 4 0 11 0 1 6 1 8 0 0\n"
    )


def test_lines_follow_host_order_not_cgroup_order() -> None:
    """Devices come out in the host's order whatever order the cgroup lists them in."""
    io = _throttle(VDA_IO_STAT, SDA_THROTTLE)
    names = [line.split()[2] for line in diskstats.render(_inputs(HOST_17, io)).text.splitlines()]
    assert names == ["sda", "vda"]


def test_bytes_below_a_sector_still_list_the_device() -> None:
    """One 100-byte read is 0 sectors but 1 read: the device has I/O and is listed."""
    io = _throttle(IoDeviceStats(major=8, minor=0, read_ios=1, read_bytes=100))
    assert diskstats.render(_inputs(HOST_11, io)).text == "   8       0 sda 1 0 0 0 0 0 0 0 0 0 0\n"


def test_device_unknown_to_the_host_is_skipped() -> None:
    """A major:minor the host does not list has no name and is left out."""
    io = _throttle(IoDeviceStats(major=9, minor=9, read_ios=4), SDA_THROTTLE)
    assert diskstats.render(_inputs(HOST_11, io)).text == (
        "   8       0 sda 120 0 800 0 30 0 2048 0 0 0 0\n"
    )


def test_no_io_cgroup_serves_the_host_file() -> None:
    """Without the container's io cgroup the host file passes through verbatim."""
    rendered = diskstats.render(_inputs(HOST_17, None))
    assert rendered.text == HOST_17
    assert rendered.fallback is not None


def test_negative_counters_and_garbage_host_lines_are_harmless() -> None:
    """Negative source counters print as 0; blank, short and non-numeric host lines are
    skipped; extra columns of a future kernel are 0."""
    host = "\n garbage line here\n   8 x sdz 1 2\n   8       0 sda\n 253 0 vda " + "1 " * 19 + "\n"
    stats = IoDeviceStats(major=253, minor=0, read_ios=3, read_bytes=-512, write_ios=-1)
    io = _throttle(stats, IoDeviceStats(major=8, minor=0, read_ios=1))
    assert diskstats.render(_inputs(host, io)).text == (
        " 253       0 vda 3 " + " ".join(["0"] * 18) + "\n"
    )


def test_repeated_device_record_counts_once() -> None:
    """Should the cgroup list a device twice, the first record is used, not a sum."""
    io = _throttle(SDA_THROTTLE, IoDeviceStats(major=8, minor=0, read_ios=999))
    assert diskstats.render(_inputs(HOST_11, io)).text.split()[3] == "120"


def test_root_cgroup_serves_the_host_file() -> None:
    """The root cgroup's I/O is the host's (its own counters stay empty): the host file."""
    io = IoCgroup(version="v1", path="/", source="blkio.throttle", devices=(SDA_THROTTLE,))
    rendered = diskstats.render(_inputs(HOST_17, io))
    assert rendered.text == HOST_17
    assert rendered.fallback is not None


def test_explain_fills_the_line_rule() -> None:
    """--explain covers every device line, naming the source, cgroup, devices and columns."""
    rendered = diskstats.render(_inputs(HOST_15, _io_stat(VDA_IO_STAT, SDA_THROTTLE)))
    lines = explain(diskstats.PROVENANCE, rendered).lines
    assert [line.label for line in lines] == ["8", "253"]
    for line in lines:
        assert line.rule is not None
        assert "(sda, vda)" in line.explanation
        assert "15 numbers" in line.explanation
        assert "io.stat of cgroup /c1" in line.explanation


def test_field_rules_follow_the_kernel_numbering() -> None:
    """The table documents the 17 kernel fields in iostats.rst order."""
    fields = [rule.label for rule in diskstats.PROVENANCE.rules if rule.label.startswith("field")]
    assert len(fields) == 17
    assert fields[0] == "field 1: reads completed"
    assert fields[9] == "field 10: time doing I/O (ms)"
    assert fields[16] == "field 17: time flushing (ms)"
