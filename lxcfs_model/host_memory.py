"""The host's /proc/meminfo cut once per snapshot into a template the meminfo renderer fills,
and read for the numbers other files need (MemTotal, SwapTotal).

Rules:
1. Parsing happens once per ``HostSnapshot`` (its ``meminfo_layout`` cached property calls
   ``parse_meminfo``); a render is then one ``%``-format of a tuple of numbers, and reads
   the host's MemTotal and SwapTotal from two fields the parse filled, which keeps
   /proc/meminfo cheap on the FUSE hot path.
2. ``COMPUTED_LABELS`` are the lines the container gets its own numbers for; they are matched
   by their exact label (spec 8.10: ``Active`` is not ``Active(anon)``). Every other line is
   kept verbatim, so passthrough lines leave byte for byte as the host printed them.
3. Parsing never raises: a line without a colon is passthrough text.
4. Each parser has a fast path for the text the kernel prints (ASCII, "\n" line ends, the
   last line ended) that gives exactly what its line-by-line loop gives, and falls back to
   that loop for anything else; tests/properties/test_parser_fast_paths.py holds both to the
   loop as it stood before the fast path.
5. ``HostMeminfoNumbers`` (``HostSnapshot.meminfo_kb``) reads a label's number when asked:
   renders ask for one or two labels of ~55, and reading them all cost a fresh snapshot's
   meminfo render more than the render itself. Iterating reads them all, the same way.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final, TypeVar, overload

import attrs

from lxcfs_model.line_breaks import newline_is_the_only_line_break

__all__ = ["COMPUTED_LABELS", "HostMeminfoNumbers", "MeminfoLayout", "parse_meminfo"]

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
_POSITION = {label: position for position, label in enumerate(COMPUTED_LABELS)}


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


# A computed line after its preceding "\n", up to its own "\n" (excluded), cut into its
# label and what follows the colon: labels hold no colon, so the colon matched is the
# line's first, the one str.partition cuts at.
_COMPUTED_LINE = re.compile("\n(" + _prefix_tree_alternation(COMPUTED_LABELS) + "):([^\n]*)")


@attrs.frozen
class MeminfoLayout:
    """The host's meminfo as a ``%`` template: ``fill(numbers)`` gives the file with every
    computed line replaced (``slots`` lists those labels, in the host's order, a repeated
    label once per line). A computed line becomes the kernel's ``show_val_kb`` form,
    ``"<label>:"`` padded to 16 columns, ``%8d``, ``" kB"``; its ``%8d`` is positional, the
    n-th for the n-th slot, and every ``%`` of the host's text is doubled.

    ``host_mem_total_kb`` and ``host_swap_total_kb`` are ``host_number("MemTotal")`` and
    ``host_number("SwapTotal")``, read once when the layout is made: every render needs
    both. Made by ``parse_meminfo`` (``_layout``), which fills the derived fields."""

    template: str
    slots: tuple[str, ...]
    host_mem_total_kb: int | None
    host_swap_total_kb: int | None
    # What followed each slot's colon on the host's line, for ``host_number`` ("%" doubled
    # on the fast path, which changes no number).
    _host_rests: tuple[str, ...] = attrs.field(eq=False, repr=False)
    # What ``fill`` applies to its COMPUTED_LABELS-ordered tuple to get one number per slot:
    # None when the slots are COMPUTED_LABELS themselves (a kernel with zswap), so the tuple
    # is formatted as is. Derived from the slots, so not part of the value.
    _picks: Callable[[tuple[int, ...]], tuple[int, ...]] | None = attrs.field(eq=False, repr=False)

    def fill(self, numbers: tuple[int, ...]) -> str:
        """The file, given one number per ``COMPUTED_LABELS`` entry, in that order. (A tuple
        rather than a mapping: ``%`` looks up a named placeholder at a cost, per line.)"""
        if self._picks is None:
            return self.template % numbers
        return self.template % self._picks(numbers)

    def host_number(self, label: str) -> int | None:
        """The host's own number for ``label`` (one of ``COMPUTED_LABELS``), read as
        ``HostMeminfoNumbers`` reads it: the first of its lines that has one. MemTotal and
        SwapTotal are computed lines, so the renderer needs no second pass for them."""
        return _host_number(self.slots, self._host_rests, label)


def _host_number(slots: tuple[str, ...], rests: tuple[str, ...], label: str) -> int | None:
    after = 0
    while True:
        try:
            at = slots.index(label, after)
        except ValueError:
            return None
        number = _leading_number(rests[at])
        if number is not None:
            return number
        after = at + 1


_MEM_TOTAL_SLOT = COMPUTED_LABELS.index("MemTotal")
_SWAP_TOTAL_SLOT = COMPUTED_LABELS.index("SwapTotal")


def _layout(template: str, slots: tuple[str, ...], rests: tuple[str, ...]) -> MeminfoLayout:
    """The layout of a cut text: ``rests`` are what followed each slot's colon."""
    if slots is COMPUTED_LABELS or slots == COMPUTED_LABELS:
        # Each label once: its one line has its number, or none does.
        return MeminfoLayout(
            template,
            slots,
            _leading_number(rests[_MEM_TOTAL_SLOT]),
            _leading_number(rests[_SWAP_TOTAL_SLOT]),
            rests,
            None,
        )
    positions = tuple(map(_POSITION.__getitem__, slots))
    picks: Callable[[tuple[int, ...]], tuple[int, ...]]
    if len(positions) >= 2:
        picks = operator.itemgetter(*positions)
    else:
        # itemgetter of one index gives the item, not a 1-tuple, and of none is an error.
        picks = lambda numbers: tuple(map(numbers.__getitem__, positions))  # noqa: E731
    return MeminfoLayout(
        template,
        slots,
        _host_number(slots, rests, "MemTotal"),
        _host_number(slots, rests, "SwapTotal"),
        rests,
        picks,
    )


def _computed_line_template(label: str) -> str:
    return f"{label + ':':<16}%8d kB\n"


# Each computed line's template, after the "\n" that ends the line before it.
_AFTER_NEWLINE_TEMPLATES = {
    label: "\n" + _computed_line_template(label)[:-1] for label in COMPUTED_LABELS
}
# The same in COMPUTED_LABELS order: a kernel with zswap prints exactly these lines. (Lists,
# as the split gives and its slice assignment takes.)
_LABELS_IN_ORDER = list(COMPUTED_LABELS)
_TEMPLATES_IN_LABEL_ORDER = list(_AFTER_NEWLINE_TEMPLATES.values())


def parse_meminfo(text: str) -> MeminfoLayout:
    """Cut a host /proc/meminfo text into a ``MeminfoLayout`` (rules 2-4)."""
    if text.endswith("\n") and newline_is_the_only_line_break(text):
        # Every line starts after a "\n" (one is put before the first) and ends with one, so
        # the split cuts out exactly the computed lines, their own "\n" left in the next
        # piece. "%" is doubled first: a computed label holds none, so it matches alike.
        pieces = _COMPUTED_LINE.split("\n" + (text.replace("%", "%%") if "%" in text else text))
        slots = pieces[1::3]
        rests = pieces[2::3]
        del pieces[2::3]
        if slots == _LABELS_IN_ORDER:
            pieces[1::2] = _TEMPLATES_IN_LABEL_ORDER
            return _layout("".join(pieces)[1:], COMPUTED_LABELS, tuple(rests))
        pieces[1::2] = map(_AFTER_NEWLINE_TEMPLATES.__getitem__, slots)
        return _layout("".join(pieces)[1:], tuple(slots), tuple(rests))
    return _parse_meminfo_line_by_line(text)


def _parse_meminfo_line_by_line(text: str) -> MeminfoLayout:
    parts: list[str] = []
    slots: list[str] = []
    rests: list[str] = []
    for line in text.splitlines(keepends=True):
        label, colon, rest = line.partition(":")
        if colon and label in _COMPUTED:
            parts.append(_computed_line_template(label))
            slots.append(label)
            rests.append(rest)  # its line break is whitespace to str.split, like a "\n"
        else:
            parts.append(line.replace("%", "%%"))
    return _layout("".join(parts), tuple(slots), tuple(rests))


def _leading_number(rest: str) -> int | None:
    """The number a meminfo line shows after its colon: the first word, when it is ASCII
    digits (``str.isdigit`` alone accepts "²", which ``int`` refuses)."""
    words = rest.split(None, 1)
    if words and words[0].isascii() and words[0].isdigit():
        return int(words[0])
    return None


_Default = TypeVar("_Default")
# Numbers are ASCII digits, never negative.
_NOT_LOOKED_UP: Final = -1


class HostMeminfoNumbers(Mapping[str, int]):
    """Host /proc/meminfo as label -> number (kB; pages for the HugePages_ counters).

    A line's label is its text before the first colon, its number the first word after
    that colon when the word is ASCII digits (``_leading_number``); lines without a colon
    or a number are skipped, and a label's first line with a number counts. A lookup reads
    only the lines of its label (rule 5) when "\n" is the text's only line break;
    iterating, or any other text, reads every line.
    """

    __slots__ = ("_every", "_lines_after_newlines", "_looked_up", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        # "\n" + text, in which "\n<label>:" starts exactly the lines of <label> (a label
        # holds no colon); None when str.splitlines would cut lines elsewhere too.
        self._lines_after_newlines = "\n" + text if newline_is_the_only_line_break(text) else None
        self._every: dict[str, int] | None = None
        # The labels looked up so far: a snapshot is shared by every render while it is
        # current, and they all ask for the same few.
        self._looked_up: dict[str, int | None] = {}

    def _number(self, label: str) -> int | None:
        searched = self._lines_after_newlines
        if searched is None or type(label) is not str:
            return self._all().get(label)
        number = self._looked_up.get(label, _NOT_LOOKED_UP)
        if number == _NOT_LOOKED_UP:
            number = self._looked_up[label] = self._search(searched, label)
        return number

    @staticmethod
    def _search(searched: str, label: str) -> int | None:
        if ":" in label or "\n" in label:
            return None  # a label ends at its line's first colon, and within its line
        start_of_label = "\n" + label + ":"
        at = searched.find(start_of_label)
        while at >= 0:
            after_colon = at + len(start_of_label)
            line_end = searched.find("\n", after_colon)
            rest = searched[after_colon:] if line_end < 0 else searched[after_colon:line_end]
            number = _leading_number(rest)
            if number is not None:
                return number
            if line_end < 0:
                return None
            at = searched.find(start_of_label, line_end)
        return None

    def _all(self) -> dict[str, int]:
        # Two threads may both read it: the same dict either way, so no lock.
        if self._every is None:
            values: dict[str, int] = {}
            for line in self._text.splitlines():
                label, colon, rest = line.partition(":")
                number = _leading_number(rest) if colon else None
                if number is not None:
                    values.setdefault(label, number)
            self._every = values
        return self._every

    def __getitem__(self, label: str) -> int:
        number = self._number(label)
        if number is None:
            raise KeyError(label)
        return number

    @overload
    def get(self, label: str, /) -> int | None: ...
    @overload
    def get(self, label: str, /, default: int | _Default) -> int | _Default: ...
    def get(self, label: str, /, default: object = None) -> object:
        """The label's number, or ``default`` (without a KeyError raised and caught)."""
        number = self._number(label)
        return default if number is None else number

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"HostMeminfoNumbers({self._all()!r})"
