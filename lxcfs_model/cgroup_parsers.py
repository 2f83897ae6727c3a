"""Pure parsers for the texts of cgroup files and of the /proc/<pid> files the reader uses.

Rules:
1. Text in, value out: no file, clock or process is touched here (``lxcfs_model.io`` reads
   the files and hands the texts over), so every parser can be fuzzed on its own.
2. Strict about syntax: a malformed text raises ``ParseError`` whose message names the file
   and the problem, never a guess and never another exception type. Lenient about white
   space and the trailing newline, like the kernel's own readers.
3. Formats are the kernel's exactly (quoted beside each parser); where v1 and v2 spell the
   same fact differently (``-1`` vs ``max``, 2**63-4096 vs ``max``) the parser maps both to
   None = "no limit", and a limit of 0 stays 0 (spec 8.5).

Theory: the reader calls one parser per file; the blkio/io.stat parsers return per-device
tables that ``io_devices_from_*`` turn into the diskstats-unit records renderers use.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from lxcfs_model.errors import ParseError
from lxcfs_model.values import CpuTime, IoDeviceStats

__all__ = [
    "ProcCgroupLine",
    "io_devices_from_blkio_cfq",
    "io_devices_from_blkio_throttle",
    "io_devices_from_io_stat",
    "parse_blkio_recursive",
    "parse_cfs_quota",
    "parse_cpu_max",
    "parse_cpuacct_usage_all",
    "parse_cpuacct_usage_percpu",
    "parse_flat_keyed",
    "parse_integer",
    "parse_io_stat",
    "parse_pid_namespace_link",
    "parse_proc_cgroup",
    "parse_proc_stat_start_ticks",
    "parse_proc_status",
    "parse_status_nspid",
    "parse_status_ppid",
    "parse_v1_limit",
    "parse_v2_limit",
]

# v1 prints "no limit" as PAGE_COUNTER_MAX * PAGE_SIZE, which depends on the page size
# (9223372036854771712 = 2**63 - 4096 with 4 KiB pages, 2**63 - 65536 with 64 KiB pages).
# No real limit comes near 2**62 bytes, so everything from there up is "unlimited".
V1_UNLIMITED_FROM = 2**62

Device = tuple[int, int]


def _single_token(text: str, name: str) -> str:
    tokens = text.split()
    if len(tokens) != 1:
        raise ParseError(f"{name}: expected one value, got {text.strip()[:60]!r}")
    return tokens[0]


# Kernel counters are at most 64-bit (20 digits); anything longer is garbage, and refusing
# it early keeps int() from its "exceeds the limit for integer string conversion" ValueError.
_MAX_DIGITS = 24


def _to_int(token: str, name: str, *, signed: bool = False) -> int:
    digits = token[1:] if signed and token.startswith("-") else token
    if not digits.isdigit() or not digits.isascii():
        raise ParseError(f"{name}: {token[:40]!r} is not an integer")
    if len(digits) > _MAX_DIGITS:
        raise ParseError(f"{name}: {token[:40]!r}... has more digits than a 64-bit counter")
    return int(token)


def parse_integer(text: str, name: str, *, signed: bool = False) -> int:
    """One integer on one line (``memory.usage_in_bytes``, ``cpuacct.usage``, ...)."""
    return _to_int(_single_token(text, name), name, signed=signed)


def parse_v1_limit(text: str, name: str) -> int | None:
    """A v1 memory limit in bytes; values from 2**62 up mean "unlimited" and become None."""
    value = parse_integer(text, name)
    return None if value >= V1_UNLIMITED_FROM else value


def parse_v2_limit(text: str, name: str) -> int | None:
    """A v2 limit (``memory.max``, ``memory.swap.max``): ``max`` -> None, else bytes."""
    token = _single_token(text, name)
    return None if token == "max" else _to_int(token, name)


def parse_flat_keyed(text: str, name: str) -> dict[str, int]:
    """A flat keyed file (``memory.stat``, ``cpu.stat``): one ``key value`` per line.

    Keys are kept verbatim (``total_rss`` and ``total_rss_huge`` are different keys; no
    prefix matching, spec 8.10). A repeated key is malformed.
    """
    # Fast path (a cache-missing /proc/meminfo read parses memory.stat): the kernel prints
    # exactly "key value\n" per line with an unsigned value, and such a text is recognised
    # by rebuilding it from its own tokens. Equal means every line holds two tokens joined
    # by one space (tokens hold no white space, so no line break either); then the digit
    # check below is _to_int's, and a dict as long as the key list means no key repeated.
    # Anything else (negative values, blank lines, tabs, errors) takes the careful loop,
    # which alone words every ParseError.
    tokens = text.split()
    keys = tokens[0::2]
    numbers = tokens[1::2]
    if len(keys) == len(numbers) and "%s %s\n" * len(keys) % tuple(tokens) == text:
        digits = "".join(numbers)
        all_digits = digits.isdigit() or not digits
        if all_digits and digits.isascii() and max(map(len, numbers), default=0) <= _MAX_DIGITS:
            values = dict(zip(keys, map(int, numbers), strict=True))
            if len(values) == len(keys):
                return values
    return _parse_flat_keyed_line_by_line(text, name)


def _parse_flat_keyed_line_by_line(text: str, name: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ParseError(f"{name}: line {number} is not 'key value': {line[:60]!r}")
        key, value = fields
        if key in values:
            raise ParseError(f"{name}: key {key!r} repeated on line {number}")
        values[key] = _to_int(value, name, signed=True)
    return values


def parse_cfs_quota(text: str, name: str = "cpu.cfs_quota_us") -> int | None:
    """v1 ``cpu.cfs_quota_us``: microseconds per period, ``-1`` (any negative) -> None."""
    value = parse_integer(text, name, signed=True)
    return None if value < 0 else value


def parse_cpu_max(text: str, name: str = "cpu.max") -> tuple[int | None, int]:
    """v2 ``cpu.max``: ``$MAX $PERIOD`` (``max 100000`` -> no quota). The kernel doc allows
    the period to be omitted on write but always prints both."""
    fields = text.split()
    if len(fields) != 2:
        raise ParseError(f"{name}: expected '$MAX $PERIOD', got {text.strip()[:60]!r}")
    quota = None if fields[0] == "max" else _to_int(fields[0], name)
    period = _to_int(fields[1], name)
    if period == 0:
        raise ParseError(f"{name}: period is 0")
    return quota, period


def parse_cpuacct_usage_all(text: str, name: str = "cpuacct.usage_all") -> dict[int, CpuTime]:
    """v1 ``cpuacct.usage_all``: header ``cpu user system``, then ``N user_ns system_ns``."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split() != ["cpu", "user", "system"]:
        raise ParseError(f"{name}: missing the 'cpu user system' header")
    usage: dict[int, CpuTime] = {}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) != 3:
            raise ParseError(f"{name}: line is not 'cpu user system': {line[:60]!r}")
        cpu, user, system = (_to_int(field, name) for field in fields)
        if cpu in usage:
            raise ParseError(f"{name}: cpu {cpu} listed twice")
        usage[cpu] = CpuTime(user_ns=user, system_ns=system)
    return usage


def parse_cpuacct_usage_percpu(text: str, name: str = "cpuacct.usage_percpu") -> dict[int, CpuTime]:
    """v1 ``cpuacct.usage_percpu``: one total (ns) per possible CPU, in CPU order, on one
    line with a trailing space. It does not split user from system, so user = total and
    system = 0 (values.CpuUsage)."""
    return {
        cpu: CpuTime(user_ns=_to_int(field, name), system_ns=0)
        for cpu, field in enumerate(text.split())
    }


# ---------------------------------------------------------------------------------------- io

_BLKIO_OPERATIONS = frozenset({"Read", "Write", "Sync", "Async", "Discard", "Total"})


def _parse_device(token: str, name: str) -> Device:
    major, colon, minor = token.partition(":")
    if not colon:
        raise ParseError(f"{name}: {token[:40]!r} is not a 'major:minor' device")
    return _to_int(major, name), _to_int(minor, name)


def parse_blkio_recursive(text: str, name: str) -> dict[Device, dict[str, int]]:
    """A v1 blkio stat file (``blkio.throttle.io_serviced_recursive``, ``blkio.io_*``).

    Kernel format (blkcg ``__blkg_prfill_rwstat``): per device the lines
    ``8:0 Read 123``, ``Write``, ``Sync``, ``Async``, ``Discard``, ``Total``; the file ends
    with one ``Total N`` summing all devices (ignored here: it is derived). Returns
    ``(major, minor) -> {operation: value}``.
    """
    devices: dict[Device, dict[str, int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) == 2 and fields[0] == "Total":
            _to_int(fields[1], name)
            continue
        if len(fields) != 3 or fields[1] not in _BLKIO_OPERATIONS:
            raise ParseError(f"{name}: line {number} is not 'maj:min Op value': {line[:60]!r}")
        device = _parse_device(fields[0], name)
        devices.setdefault(device, {})[fields[1]] = _to_int(fields[2], name)
    return devices


def parse_io_stat(text: str, name: str = "io.stat") -> dict[Device, dict[str, int]]:
    """v2 ``io.stat``: ``8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0
    dios=0`` per device (kernel doc cgroup-v2.rst); unknown keys are kept."""
    devices: dict[Device, dict[str, int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        device = _parse_device(fields[0], name)
        if device in devices:
            raise ParseError(f"{name}: device {fields[0]} listed twice")
        stats: dict[str, int] = {}
        for field in fields[1:]:
            key, equals, value = field.partition("=")
            if not equals or not key:
                raise ParseError(f"{name}: line {number}: {field[:40]!r} is not 'key=value'")
            stats[key] = _to_int(value, name)
        devices[device] = stats
    return devices


def io_devices_from_blkio_cfq(
    serviced: Mapping[Device, Mapping[str, int]],
    merged: Mapping[Device, Mapping[str, int]],
    service_bytes: Mapping[Device, Mapping[str, int]],
    service_time: Mapping[Device, Mapping[str, int]],
    wait_time: Mapping[Device, Mapping[str, int]],
) -> tuple[IoDeviceStats, ...]:
    """Combine the five CFQ ``blkio.io_*_recursive`` tables (spec 3.9): times are ns, and
    ticks are ``service_time/1e6 + wait_time/1e6`` (each term divided on its own, like
    lxcfs); ``io_ticks`` is the service time Total in ms."""
    devices = sorted(set(serviced) | set(merged) | set(service_bytes) | set(service_time))
    records = []
    for device in devices:

        def get(table: Mapping[Device, Mapping[str, int]], op: str, dev: Device = device) -> int:
            return table.get(dev, {}).get(op, 0)

        def ticks(op: str) -> int:
            return get(service_time, op) // 1_000_000 + get(wait_time, op) // 1_000_000

        records.append(
            IoDeviceStats(
                major=device[0],
                minor=device[1],
                read_ios=get(serviced, "Read"),
                read_merges=get(merged, "Read"),
                read_bytes=get(service_bytes, "Read"),
                read_ticks_ms=ticks("Read"),
                write_ios=get(serviced, "Write"),
                write_merges=get(merged, "Write"),
                write_bytes=get(service_bytes, "Write"),
                write_ticks_ms=ticks("Write"),
                discard_ios=get(serviced, "Discard"),
                discard_merges=get(merged, "Discard"),
                discard_bytes=get(service_bytes, "Discard"),
                discard_ticks_ms=ticks("Discard"),
                io_ticks_ms=get(service_time, "Total") // 1_000_000,
            )
        )
    return tuple(records)


def io_devices_from_blkio_throttle(
    serviced: Mapping[Device, Mapping[str, int]],
    service_bytes: Mapping[Device, Mapping[str, int]],
) -> tuple[IoDeviceStats, ...]:
    """Combine ``blkio.throttle.io_serviced_recursive`` and ``..._bytes_recursive``: the
    throttle layer counts requests and bytes only (no merges, no times)."""
    records = []
    for device in sorted(set(serviced) | set(service_bytes)):
        ios = serviced.get(device, {})
        sizes = service_bytes.get(device, {})
        records.append(
            IoDeviceStats(
                major=device[0],
                minor=device[1],
                read_ios=ios.get("Read", 0),
                read_bytes=sizes.get("Read", 0),
                write_ios=ios.get("Write", 0),
                write_bytes=sizes.get("Write", 0),
                discard_ios=ios.get("Discard", 0),
                discard_bytes=sizes.get("Discard", 0),
            )
        )
    return tuple(records)


def io_devices_from_io_stat(
    table: Mapping[Device, Mapping[str, int]],
) -> tuple[IoDeviceStats, ...]:
    """v2 ``io.stat`` records: bytes and requests per direction (no merges, no times)."""
    return tuple(
        IoDeviceStats(
            major=device[0],
            minor=device[1],
            read_ios=stats.get("rios", 0),
            read_bytes=stats.get("rbytes", 0),
            write_ios=stats.get("wios", 0),
            write_bytes=stats.get("wbytes", 0),
            discard_ios=stats.get("dios", 0),
            discard_bytes=stats.get("dbytes", 0),
        )
        for device, stats in sorted(table.items())
    )


# ------------------------------------------------------------------------------- /proc/<pid>


@attrs.frozen
class ProcCgroupLine:
    """One line of /proc/<pid>/cgroup: ``hierarchy-ID:controller-list:cgroup-path``.

    ``controllers`` is empty for the cgroup2 line (``0::/path``); a named v1 hierarchy keeps
    its ``name=`` prefix (``name=systemd``).
    """

    hierarchy_id: int
    controllers: tuple[str, ...]
    path: str


def parse_proc_cgroup(text: str, name: str = "/proc/<pid>/cgroup") -> tuple[ProcCgroupLine, ...]:
    """Parse /proc/<pid>/cgroup (man 7 cgroups). The path may itself contain ``:``."""
    lines = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split(":", 2)
        if len(fields) != 3 or not fields[2].startswith("/"):
            raise ParseError(f"{name}: {line[:80]!r} is not 'id:controllers:/path'")
        controllers = tuple(c for c in fields[1].split(",") if c)
        lines.append(ProcCgroupLine(_to_int(fields[0], name), controllers, fields[2]))
    return tuple(lines)


def parse_proc_stat_start_ticks(text: str, name: str = "/proc/<pid>/stat") -> int:
    """Field 22 (starttime, clock ticks after boot) of /proc/<pid>/stat.

    ``comm`` (field 2) is in parentheses and may itself contain spaces and parentheses, so
    the fields are counted after the LAST ``)`` (spec 3.7 names the C parser's bug).
    """
    close = text.rfind(")")
    if close < 0:
        raise ParseError(f"{name}: no ')' closing the command name")
    rest = text[close + 1 :].split()
    # rest[0] is field 3 (state), so field 22 is rest[19].
    if len(rest) < 20:
        raise ParseError(f"{name}: only {len(rest) + 2} fields, need 22")
    return _to_int(rest[19], name)


def parse_proc_status(text: str) -> dict[str, str]:
    """/proc/<pid>/status as ``label -> value`` (the text after ``label:``, stripped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        label, colon, value = line.partition(":")
        if colon:
            fields.setdefault(label, value.strip())
    return fields


def parse_status_ppid(status: Mapping[str, str], name: str = "/proc/<pid>/status") -> int:
    """The ``PPid:`` of a parsed status file (0 for the namespace's top)."""
    if "PPid" not in status:
        raise ParseError(f"{name}: no PPid line")
    return parse_integer(status["PPid"], name)


def parse_status_nspid(status: Mapping[str, str], name: str = "/proc/<pid>/status") -> list[int]:
    """The ``NSpid:`` chain (outermost namespace first; the last is the pid in its own
    namespace, 1 for a namespace init). Kernels before 4.1 lack it -> ParseError."""
    if "NSpid" not in status:
        raise ParseError(f"{name}: no NSpid line")
    values = status["NSpid"].split()
    if not values:
        raise ParseError(f"{name}: empty NSpid line")
    return [_to_int(value, name) for value in values]


def parse_pid_namespace_link(target: str, name: str = "/proc/<pid>/ns/pid") -> int:
    """The inode of a namespace link target such as ``pid:[4026531836]``."""
    prefix, bracket, rest = target.partition(":[")
    if prefix != "pid" or not bracket or not rest.endswith("]"):
        raise ParseError(f"{name}: {target[:60]!r} is not 'pid:[inode]'")
    return _to_int(rest[:-1], name)
