"""The one cpuset list parser and formatter (``0-3,8,10-11``), as the kernel prints them.

Rules:
1. Parsing is strict about syntax (a malformed list is a ``ParseError``, never a guess) and
   lenient about white space and trailing newlines, like the kernel's own ``cpulist_parse``.
2. An empty string is the empty set (spec 3.1: "empty string contains nothing").
3. Formatting yields the kernel's canonical form: ascending, ranges for runs of two or more.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxcfs_model.errors import ParseError

__all__ = ["format_cpuset", "parse_cpuset"]

# A cpu list on a 512-CPU host never names CPUs beyond the kernel's NR_CPUS (8192 max on
# x86); refusing absurd ranges keeps a garbage file from allocating gigabytes.
_MAX_CPU = 1 << 16
# Longer than any 64-bit number: garbage, refused before int() has to convert it.
_MAX_DIGITS = 24


def _is_cpu_number(text: str) -> bool:
    # isascii: str.isdigit alone accepts "²", which int() refuses.
    return text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS


def parse_cpuset(text: str) -> frozenset[int]:
    """Parse a kernel cpu list such as ``"0-2,5\\n"`` into a set of CPU numbers."""
    body = text.strip()
    if not body:
        return frozenset()
    cpus: set[int] = set()
    for item in body.split(","):
        item = item.strip()
        first, dash, last = item.partition("-")
        if not _is_cpu_number(first) or (dash and not _is_cpu_number(last)):
            raise ParseError(f"malformed cpu list item {item!r} in {text!r}")
        low = int(first)
        high = int(last) if dash else low
        if high < low or high > _MAX_CPU:
            raise ParseError(f"bad cpu range {item!r} in {text!r}")
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def format_cpuset(cpus: Iterable[int]) -> str:
    """Format CPU numbers the way the kernel prints a cpu list, without a newline."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    index = 0
    while index < len(ordered):
        start = ordered[index]
        while index + 1 < len(ordered) and ordered[index + 1] == ordered[index] + 1:
            index += 1
        end = ordered[index]
        parts.append(str(start) if start == end else f"{start}-{end}")
        index += 1
    return ",".join(parts)
