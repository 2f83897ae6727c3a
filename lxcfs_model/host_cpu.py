"""Parsed views of the host's CPU texts: /proc/cpuinfo blocks and /proc/stat cpu lines.

Rules:
1. Parsing happens once per ``HostSnapshot`` (its ``cpuinfo_layout`` and ``stat_layout``
   cached properties call these functions); a render then only looks up the visible CPUs,
   so its work is proportional to what it shows, not to the host's size.
2. Whatever is not a CPU's own data is kept as verbatim text, so passthrough lines leave
   byte for byte as the host printed them.
3. Parsing never raises: an unrecognised line is passthrough text, a malformed ``cpuN``
   counter line is left out (that CPU then has no host line, which the renderer handles).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

__all__ = [
    "STAT_FIELDS",
    "CpuinfoLayout",
    "S390Segment",
    "StatLayout",
    "parse_cpuinfo",
    "parse_stat",
]

# Upstream's is_processor_line(): sscanf(line, "processor       : %d"); a blank in a scanf
# format matches any run of white space, including none.
_PROCESSOR_LINE = re.compile(r"processor\s*:\s*([0-9]+)")
# s390x lists CPUs as "processor 0: version = FF,  identification = ...".
_S390_PROCESSOR_LINE = re.compile(r"processor\s+([0-9]+):(.*)", re.DOTALL)
# s390x (kernel >= 4.x) also prints one "cpu number      : N" block per CPU.
_S390_CPU_NUMBER_LINE = re.compile(r"(cpu number\s*:\s*)([0-9]+)(.*)", re.DOTALL)

# The ten counters of a /proc/stat cpu line (fs/proc/stat.c, kernel >= 2.6.33).
STAT_FIELDS = (
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
)


@attrs.frozen
class S390Segment:
    """A piece of an s390x cpuinfo: verbatim ``text`` (``cpu`` None), a ``processor N:``
    line (``kind`` "processor", ``text`` is what follows the colon) or a ``cpu number``
    block (``kind`` "cpu_number", ``text`` the block with its number cut out between
    ``prefix`` and the rest)."""

    kind: str
    text: str
    cpu: int | None = None
    prefix: str = ""


@attrs.frozen
class CpuinfoLayout:
    """The host cpuinfo, cut into what the renderer needs.

    ``blocks``: host CPU -> the lines of its block after the ``processor`` line, verbatim,
    up to the next ``processor`` line (the blank separator line, and on some architectures
    trailing machine lines, belong to the block before them, as upstream copies them).
    ``s390x``: the first line names ``IBM/S390``; then ``segments`` holds the file after its
    first line in order, ``# processors`` lines removed.
    """

    blocks: Mapping[int, str] = attrs.field(factory=dict, hash=False)
    s390x: bool = False
    segments: tuple[S390Segment, ...] = ()


@attrs.frozen
class StatLayout:
    """The host /proc/stat, cut into cpu counters and passthrough text.

    ``cpu_counters``: host CPU -> its ten counters (lines with fewer fields, from kernels
    before 2.6.33, are padded with zeros; extra fields are ignored). ``passthrough``: every
    line that is neither the aggregate ``cpu`` line nor a ``cpuN`` line (intr, ctxt, btime,
    processes, procs_running, procs_blocked, softirq, ...), verbatim and in host order.
    """

    cpu_counters: Mapping[int, tuple[int, ...]] = attrs.field(factory=dict, hash=False)
    passthrough: str = ""


def parse_cpuinfo(text: str) -> CpuinfoLayout:
    """Cut a host /proc/cpuinfo into per-CPU blocks (or s390x segments)."""
    lines = text.splitlines(keepends=True)
    if lines and "IBM/S390" in lines[0]:
        return CpuinfoLayout(s390x=True, segments=_s390_segments(lines[1:]))
    blocks: dict[int, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if line.startswith("# processors"):
            continue  # upstream drops these on every architecture
        match = _PROCESSOR_LINE.match(line)
        if match:
            cpu = int(match.group(1))
            # A repeated CPU number keeps its first block (the kernel never repeats one).
            current = blocks.setdefault(cpu, []) if cpu not in blocks else None
        elif current is not None:
            current.append(line)
    # A file cut off mid-line (a truncated read) still ends each block with a newline, so
    # the next "processor" line the renderer writes starts a line of its own.
    return CpuinfoLayout(blocks={cpu: _line_ended("".join(body)) for cpu, body in blocks.items()})


def _line_ended(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _s390_segments(lines: list[str]) -> tuple[S390Segment, ...]:
    segments: list[S390Segment] = []
    verbatim: list[str] = []
    block: list[str] | None = None
    block_head: re.Match[str] | None = None

    def flush_verbatim() -> None:
        if verbatim:
            segments.append(S390Segment(kind="text", text="".join(verbatim)))
            verbatim.clear()

    def flush_block() -> None:
        if block is not None and block_head is not None:
            rest = block_head.group(3) + "".join(block)
            segments.append(
                S390Segment(
                    kind="cpu_number",
                    text=rest,
                    cpu=int(block_head.group(2)),
                    prefix=block_head.group(1),
                )
            )

    for line in lines:
        # Upstream: strncmp(line, "# processors:", 12), i.e. the first 12 characters.
        if line.startswith("# processors"):
            continue
        processor = _S390_PROCESSOR_LINE.match(line)
        number = _S390_CPU_NUMBER_LINE.match(line)
        if processor:
            flush_verbatim()
            flush_block()
            block, block_head = None, None
            segments.append(
                S390Segment(kind="processor", text=processor.group(2), cpu=int(processor.group(1)))
            )
        elif number:
            flush_verbatim()
            flush_block()
            block, block_head = [], number
        elif block is not None:
            block.append(line)
        else:
            verbatim.append(line)
    flush_verbatim()
    flush_block()
    return tuple(segments)


def _is_number(text: str) -> bool:
    # str.isdigit alone accepts "²", which int() refuses; a counter is at most 20 digits, and
    # longer garbage would meet int()'s digit-count limit.
    return text.isascii() and text.isdigit() and len(text) <= 24


def parse_stat(text: str) -> StatLayout:
    """Cut a host /proc/stat into per-CPU counters and passthrough lines."""
    counters: dict[int, tuple[int, ...]] = {}
    passthrough: list[str] = []
    for line in text.splitlines(keepends=True):
        fields = line.split()
        label = fields[0] if fields else ""
        if label == "cpu":
            continue  # the aggregate is always recomputed from the rendered lines
        number = label[3:]
        if label.startswith("cpu") and _is_number(number):
            values = fields[1:]
            if all(_is_number(value) for value in values):
                numbers = [int(value) for value in values[: len(STAT_FIELDS)]]
                numbers += [0] * (len(STAT_FIELDS) - len(numbers))
                counters.setdefault(int(number), tuple(numbers))
            continue
        passthrough.append(line)
    return StatLayout(cpu_counters=counters, passthrough="".join(passthrough))
