"""/proc/diskstats for a container: the host's disks, counting only the container's I/O.

Rules:
1. Never reads host state; the container's per-device I/O arrives as ``IoCgroup`` (the I/O
   layer fills it from v1 ``blkio.io_*_recursive`` (CFQ), v1 ``blkio.throttle.*_recursive``
   or v2 ``io.stat``), device names come from the host's diskstats text.
2. Each line keeps the kernel's format, ``%4d %7d %s`` then the numbers, and exactly as many
   numbers as the host's line for that device: 11 (before 4.18), 15 (discards, 4.18) or 17
   (flushes, 5.5). Fields are in the kernel's order (Documentation/admin-guide/iostats.rst);
   any column beyond the 17 known ones is 0.
3. A field the cgroup cannot know is 0: I/Os in flight, weighted time in queue, flushes, and
   whatever the source lacks (throttle files and io.stat have no merges or times).
4. The root cgroup sees the host file: its I/O is the host's, which the kernel does not
   count in the root's cgroup files.
5. Only devices with some I/O (a nonzero printed number) are listed, in host order
   (spec 8.25); a device the host does not list is skipped, since it has no name. A container
   that did no I/O therefore reads an empty file, which is what upstream serves too: the
   host's lines would claim the host's I/O as the container's.

Deliberate differences from upstream (spec 3.9): upstream serves the host file on cgroup v2
and on v1 without the CFQ files (every kernel since 5.0); we virtualize from the throttle
files and from io.stat. Upstream prints ``%u       %u`` and always 15 numbers; we follow the
kernel's alignment and the host's column count (spec 8.16).
"""

from __future__ import annotations

from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback
from lxcfs_model.values import IoDeviceStats

__all__ = ["PROVENANCE", "device_fields", "render"]

SECTOR_BYTES = 512

_COUNTS = ("blkio.io_serviced_recursive", "blkio.throttle.io_serviced_recursive", "io.stat")
_MERGES = ("blkio.io_merged_recursive",)
_BYTES = (
    "blkio.io_service_bytes_recursive",
    "blkio.throttle.io_service_bytes_recursive",
    "io.stat",
)
_TIMES = ("blkio.io_service_time_recursive", "blkio.io_wait_time_recursive")
_ALL_SOURCES = tuple(dict.fromkeys(_COUNTS + _MERGES + _BYTES + _TIMES))


def _rule(label: str, sources: tuple[str, ...], formula: str) -> LineRule:
    return LineRule(label=label, sources=sources, formula=formula)


PROVENANCE = FileProvenance(
    path="proc/diskstats",
    summary="The host's block devices with the container's own I/O on each.",
    rules=(
        _rule(
            "N",
            ("/proc/diskstats", *_ALL_SOURCES),
            "one line per device the container did I/O on ({listed_devices}), named from the "
            "host line with the same major:minor, {columns} numbers like the host's line; "
            "values from {source} of cgroup {cgroup}",
        ),
        _rule("field 1: reads completed", _COUNTS, "Read row of io_serviced, or rios"),
        _rule("field 2: reads merged", _MERGES, "Read row (0 from throttle files and io.stat)"),
        _rule("field 3: sectors read", _BYTES, "Read row of io_service_bytes, or rbytes, // 512"),
        _rule(
            "field 4: time reading (ms)",
            _TIMES,
            "Read rows of service_time + wait_time, ns / 1e6 (0 from throttle and io.stat)",
        ),
        _rule("field 5: writes completed", _COUNTS, "Write row of io_serviced, or wios"),
        _rule("field 6: writes merged", _MERGES, "Write row (0 from throttle files and io.stat)"),
        _rule(
            "field 7: sectors written", _BYTES, "Write row of io_service_bytes, or wbytes, // 512"
        ),
        _rule(
            "field 8: time writing (ms)",
            _TIMES,
            "Write rows of service_time + wait_time, ns / 1e6 (0 from throttle and io.stat)",
        ),
        _rule("field 9: I/Os in progress", (), "0: a cgroup has no in-flight count"),
        _rule(
            "field 10: time doing I/O (ms)",
            ("blkio.io_service_time_recursive",),
            "Total row, ns / 1e6 (0 from throttle files and io.stat)",
        ),
        _rule(
            "field 11: weighted time doing I/O (ms)", (), "0: a cgroup has no queue-time integral"
        ),
        _rule("field 12: discards completed", _COUNTS, "Discard row of io_serviced, or dios"),
        _rule(
            "field 13: discards merged", _MERGES, "Discard row (0 from throttle files and io.stat)"
        ),
        _rule(
            "field 14: sectors discarded",
            _BYTES,
            "Discard row of io_service_bytes, or dbytes, // 512",
        ),
        _rule(
            "field 15: time discarding (ms)",
            _TIMES,
            "Discard rows of service_time + wait_time, ns / 1e6 (0 from throttle and io.stat)",
        ),
        _rule("field 16: flush requests completed", (), "0: cgroups do not count flushes"),
        _rule("field 17: time flushing (ms)", (), "0: cgroups do not count flushes"),
    ),
    fallback="the host file when the container's blkio/io cgroup is unknown or is the root",
)


def device_fields(stats: IoDeviceStats) -> tuple[int, ...]:
    """The 17 numbers of a kernel diskstats line (5.5+ layout) for the container's I/O on
    one device; shorter host layouts are prefixes of it."""
    fields = (
        stats.read_ios,
        stats.read_merges,
        stats.read_bytes // SECTOR_BYTES,
        stats.read_ticks_ms,
        stats.write_ios,
        stats.write_merges,
        stats.write_bytes // SECTOR_BYTES,
        stats.write_ticks_ms,
        0,  # I/Os currently in progress
        stats.io_ticks_ms,
        0,  # weighted time in queue
        stats.discard_ios,
        stats.discard_merges,
        stats.discard_bytes // SECTOR_BYTES,
        stats.discard_ticks_ms,
        0,  # flush requests completed
        0,  # time spent flushing
    )
    # A counter that went negative in the source (a reset cgroup, a bad parse) shows as 0.
    return tuple(max(0, value) for value in fields)


def render(inputs: RenderInputs) -> Rendered:
    """Render /proc/diskstats from the container's per-device I/O and the host's device list."""
    io = inputs.view.io
    if io is None:
        return host_fallback(inputs.host.diskstats, inputs, "the container's io cgroup is unknown")
    if io.path == "/":
        # The root cgroup's I/O is the host's, and the kernel keeps no counters for it (v2
        # has no root io.stat, v1's root throttle files read "Total 0"): the host file is
        # the exact answer.
        return host_fallback(inputs.host.diskstats, inputs, "the root cgroup's I/O is the host's")

    by_device: dict[tuple[int, int], IoDeviceStats] = {}
    for device in io.devices:
        # The I/O layer gives one record per device; should one repeat, the first counts.
        by_device.setdefault((device.major, device.minor), device)

    lines: list[str] = []
    listed: dict[str, tuple[int, ...]] = {}
    columns: set[int] = set()
    for host_line in inputs.host.diskstats.splitlines():
        parts = host_line.split()
        # Every kernel line has at least 11 numbers (rule 2); a shorter one is a cut-off
        # read, not a device the container could be shown on.
        if len(parts) < 3 + 11 or not _is_int(parts[0]) or not _is_int(parts[1]):
            continue
        major, minor, name = int(parts[0]), int(parts[1]), parts[2]
        stats = by_device.get((major, minor))
        if stats is None:
            continue
        width = len(parts) - 3
        numbers = (device_fields(stats) + (0,) * width)[:width]
        if not any(numbers):
            continue
        lines.append(f"{major:4d} {minor:7d} {name} {' '.join(map(str, numbers))}\n")
        listed[name] = numbers
        columns.add(width)

    quantities: dict[str, object] = {
        "source": io.source,
        "cgroup": io.path,
        "listed_devices": ", ".join(listed) or "none",
        "columns": "/".join(str(width) for width in sorted(columns)) or "-",
        "device_numbers": listed,
    }
    return Rendered(text="".join(lines), history=inputs.history, quantities=quantities)


def _is_int(text: str) -> bool:
    # str.isdigit alone accepts "²", which int() refuses; device numbers are at most 20
    # digits, and longer garbage would meet int()'s digit-count limit.
    return text.isascii() and text.isdigit() and len(text) <= 24
