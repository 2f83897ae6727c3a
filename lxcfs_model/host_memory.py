"""The host's /proc/meminfo cut once per snapshot into a template the meminfo renderer fills.

Rules:
1. Parsing happens once per ``HostSnapshot`` (its ``meminfo_layout`` cached property calls
   ``parse_meminfo``); a render is then one ``%``-format of a tuple of numbers, which keeps
   /proc/meminfo cheap on the FUSE hot path.
2. ``COMPUTED_LABELS`` are the lines the container gets its own numbers for; they are matched
   by their exact label (spec 8.10: ``Active`` is not ``Active(anon)``). Every other line is
   kept verbatim, so passthrough lines leave byte for byte as the host printed them.
3. Parsing never raises: a line without a colon is passthrough text.
4. Each parser has a fast path for the text the kernel prints (ASCII, "\n" line ends, the
   last line ended) that gives exactly what its line-by-line loop gives, and falls back to
   that loop for anything else; tests/properties/test_parser_fast_paths.py holds both to the
   loop as it stood before the fast path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from lxcfs_model.line_breaks import newline_is_the_only_line_break

__all__ = ["COMPUTED_LABELS", "MeminfoLayout", "parse_meminfo"]

# The lines of /proc/meminfo computed per container (lxcfs_model.render.meminfo), in the
# kernel's order.
COMPUTED_LABELS = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active",
    "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)",
    "Unevictable", "SwapTotal", "SwapFree", "Zswap", "Zswapped", "Dirty", "Writeback",
    "AnonPages", "Mapped", "Shmem", "Slab", "SReclaimable", "SUnreclaim", "AnonHugePages",
    "ShmemHugePages", "ShmemPmdMapped",
)  # fmt: skip
_COMPUTED = frozenset(COMPUTED_LABELS)


def _prefix_tree_alternation(words: Iterable[str]) -> str:
    """A regex matching exactly one of ``words``, factored by common prefixes
    (``Active(?:\\((?:anon\\)|file\\)))?``): the engine then tests a line's first letters
    once instead of once per word."""
    branches: dict[str, list[str]] = {}
    for word in words:
        branches.setdefault(word[:1], []).append(word[1:])
    ends_here = "" in branches
    alternatives = [
        re.escape(first) + _prefix_tree_alternation(rests)
        for first, rests in sorted(branches.items())
        if first
    ]
    if not alternatives:
        return ""
    if len(alternatives) == 1 and not ends_here:
        return alternatives[0]
    return "(?:" + "|".join(alternatives) + ")" + ("?" if ends_here else "")


# A computed line after its preceding "\n", up to its own "\n" (excluded): labels hold no
# colon, so the colon matched is the line's first, the one str.partition cuts at.
_COMPUTED_LINE = re.compile("\n(" + _prefix_tree_alternation(COMPUTED_LABELS) + "):[^\n]*")


@attrs.frozen
class MeminfoLayout:
    """The host's meminfo as a ``%`` template: ``template % {label: kB}`` gives the file with
    every computed line replaced (``slots`` lists those labels, in the host's order). A
    computed line becomes the kernel's ``show_val_kb`` form, ``"<label>:"`` padded to 16
    columns, ``%8d``, ``" kB"``; its placeholder is ``%(<label>)8d`` (``%`` mapping keys may
    hold balanced parentheses, so ``%(Active(anon))8d`` works)."""

    template: str
    slots: tuple[str, ...]


def _computed_line_template(label: str) -> str:
    return f"{label + ':':<16}%({label})8d kB\n"


# Each computed line's template, after the "\n" that ends the line before it.
_AFTER_NEWLINE_TEMPLATES = {
    label: "\n" + _computed_line_template(label)[:-1] for label in COMPUTED_LABELS
}


def parse_meminfo(text: str) -> MeminfoLayout:
    """Cut a host /proc/meminfo text into a ``MeminfoLayout`` (rules 2-4)."""
    if text.endswith("\n") and newline_is_the_only_line_break(text):
        # Every line starts after a "\n" (one is put before the first) and ends with one, so
        # the split cuts out exactly the computed lines, their own "\n" left in the next
        # piece. "%" is doubled first: a computed label holds none, so it matches alike.
        pieces = _COMPUTED_LINE.split("\n" + text.replace("%", "%%"))
        slots = pieces[1::2]
        pieces[1::2] = map(_AFTER_NEWLINE_TEMPLATES.__getitem__, slots)
        return MeminfoLayout(template="".join(pieces)[1:], slots=tuple(slots))
    return _parse_meminfo_line_by_line(text)


def _parse_meminfo_line_by_line(text: str) -> MeminfoLayout:
    parts: list[str] = []
    slots: list[str] = []
    for line in text.splitlines(keepends=True):
        label, colon, _rest = line.partition(":")
        if colon and label in _COMPUTED:
            parts.append(_computed_line_template(label))
            slots.append(label)
        else:
            parts.append(line.replace("%", "%%"))
    return MeminfoLayout(template="".join(parts), slots=tuple(slots))
