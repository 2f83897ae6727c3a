"""Parsed views of the host's CPU texts: /proc/cpuinfo blocks and /proc/stat cpu lines.

Rules:
1. Parsing happens once per ``HostSnapshot`` (its ``cpuinfo_layout`` and ``stat_layout``
   cached properties call these functions); a render then only looks up the visible CPUs,
   so its work is proportional to what it shows, not to the host's size.
2. Whatever is not a CPU's own data is kept as verbatim text, so passthrough lines leave
   byte for byte as the host printed them.
3. Parsing never raises: an unrecognised line is passthrough text, a malformed ``cpuN``
   counter line is left out (that CPU then has no host line, which the renderer handles).
4. Each parser has a fast path for the text the kernel prints that gives exactly what its
   line-by-line loop gives, and falls back to that loop for anything else;
   tests/properties/test_parser_fast_paths.py holds both to the loop as it stood before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from lxcfs_model.line_breaks import newline_is_the_only_line_break

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


# _PROCESSOR_LINE with the rest of its line and the "\n": within one line, its \s* can only
# match blanks other than "\n" before the digits. Not anchored to a line start, which would
# cost the engine's quick scan for "processor" (ten times slower): the caller checks that.
_PROCESSOR_LINE_IN_TEXT = re.compile(r"processor[^\S\n]*:[^\S\n]*([0-9]+)[^\n]*\n")


def parse_cpuinfo(text: str) -> CpuinfoLayout:
    """Cut a host /proc/cpuinfo into per-CPU blocks (or s390x segments)."""
    layout = _parse_cpuinfo_kernel_form(text)
    return layout if layout is not None else _parse_cpuinfo_line_by_line(text)


def _parse_cpuinfo_kernel_form(text: str) -> CpuinfoLayout | None:
    """A non-s390x cpuinfo whose lines all end with "\n" (the only line break), without
    ``# processors`` lines and without a repeated CPU, cut with one regex split; None for
    any other text.

    Why it equals the loop: the split finds every line _PROCESSOR_LINE matches, and only
    those once each piece before a match is checked to end a line (or to be empty: the text
    starts there, or the match before ended a line). What lies between two matches is then
    the block of the first, already line-ended; what precedes the first belongs to no CPU.
    """
    if (
        not text.endswith("\n")
        or "IBM/S390" in text
        or "# processors" in text
        or not newline_is_the_only_line_break(text)
    ):
        return None
    pieces = _PROCESSOR_LINE_IN_TEXT.split(text)
    if not all(not piece or piece[-1] == "\n" for piece in pieces[0:-1:2]):
        return None
    try:
        cpus = list(map(int, pieces[1::2]))
    except ValueError:  # over 4300 digits: the loop raises it as it did
        return None
    blocks = dict(zip(cpus, pieces[2::2], strict=True))
    if len(blocks) != len(cpus):
        return None
    return CpuinfoLayout(blocks=blocks)


def _parse_cpuinfo_line_by_line(text: str) -> CpuinfoLayout:
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


# show_stat()'s per-CPU line, "cpu%d" then ten " %llu"; _is_number's 24 digits end below.
_KERNEL_CPU_LINE = "cpu%d" + " %d" * len(STAT_FIELDS) + "\n"
_CPU_LINE_FIELDS = 1 + len(STAT_FIELDS)
_NUMBER_END = 10**24


def parse_stat(text: str) -> StatLayout:
    """Cut a host /proc/stat into per-CPU counters and passthrough lines."""
    layout = _parse_stat_kernel_form(text)
    return layout if layout is not None else _parse_stat_line_by_line(text)


def _parse_stat_kernel_form(text: str) -> StatLayout | None:
    """The kernel's /proc/stat (the aggregate ``cpu `` line, then the ``cpuN`` lines of ten
    counters, then lines none of which holds ``cpu``) parsed in a few C-level passes; None
    for any other text.

    Why it equals the loop: the ``cpuN`` block is accepted only if printing the numbers read
    from it with the kernel's own format gives it back, character for character. Each of its
    lines is then ``cpu`` + a number + ten numbers, all plain ASCII digits without sign or
    leading zero and under 24 digits, which the loop takes as that CPU's counters; a repeated
    CPU makes the dict shorter than the block and goes to the loop. "\n" being the only line
    break, the first line is the aggregate (label ``cpu``, skipped) and the rest holds no line
    whose first field starts with ``cpu``, so it is passthrough, verbatim.
    """
    if not text.startswith("cpu ") or not newline_is_the_only_line_break(text):
        return None
    block_start = text.find("\n") + 1
    if block_start == 0:
        return None
    # The last line that starts with "cpu"; the aggregate's "\n" precedes the first cpuN.
    last_cpu_line = text.rfind("\ncpu")
    block_end = block_start if last_cpu_line < 0 else text.find("\n", last_cpu_line + 1) + 1
    rest = text[block_end:]
    if block_end == 0 or "cpu" in rest:
        return None
    block = text[block_start:block_end]
    try:
        # int() also takes "+1", "1_0" and " 1"; printing back below refuses those.
        numbers = list(map(int, block.replace("cpu", " ").split()))
    except ValueError:
        return None
    lines, partial = divmod(len(numbers), _CPU_LINE_FIELDS)
    # Printed back, a negative number would show its "-": none there means none read.
    if partial or "-" in block or (numbers and max(numbers) >= _NUMBER_END):
        return None
    if _KERNEL_CPU_LINE * lines % tuple(numbers) != block:
        return None
    rows = zip(*(numbers[k::_CPU_LINE_FIELDS] for k in range(1, _CPU_LINE_FIELDS)), strict=True)
    counters = dict(zip(numbers[0::_CPU_LINE_FIELDS], rows, strict=True))
    if len(counters) != lines:
        return None
    return StatLayout(cpu_counters=counters, passthrough=rest)


def _parse_stat_line_by_line(text: str) -> StatLayout:
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
