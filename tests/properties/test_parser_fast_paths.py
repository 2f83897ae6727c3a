"""The text parsers with fast paths against their implementations from before (issue 5):
same result, in the same order, or the same exception with the same message, for kernel
texts and for any mangling of them.

``parse_flat_keyed``, ``parse_meminfo``, ``parse_stat`` and ``parse_cpuinfo`` gained a fast
path for the text the kernel prints, falling back to the careful line-by-line loop for
anything else. A cache-missing read runs them, and a wrong number or a changed error
message would reach every container, so each is held to its previous implementation, copied
below verbatim from commit ace625b (only renamed ``_reference_*``): the oracle, not code to
edit. ``_s390_segments`` is imported, not copied: the fast path never runs on s390x texts.

``HostSnapshot.meminfo_kb`` became ``host_memory.HostMeminfoNumbers``, which reads only the
lines of the label asked for, and the meminfo template became positional (``%8d`` filled
from a tuple, with ``MeminfoLayout.host_number`` reading MemTotal and SwapTotal from the
cut lines): both are held to the code of commit aef31f7, copied below as
``_reference_meminfo_kb`` (the template by what it renders, ``_rendered_layout``).

The mangled texts carry what the fast paths must refuse: other line breaks (``\\r``, ``\\v``,
``\\x1c``, ``\\x85``, ``\\u2028``), tabs, blank lines, repeated keys and CPUs, signs, unicode
and superscript digits, ``_`` inside numbers, 30 and 5,000 digit numbers, a missing last
newline, a third field, stray ``cpu`` and ``processor`` lines, ``%`` signs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lxcfs_model import cgroup_parsers, host_cpu, host_memory
from lxcfs_model.errors import ParseError
from lxcfs_model.host_cpu import STAT_FIELDS, CpuinfoLayout, StatLayout, _s390_segments
from lxcfs_model.host_memory import HostMeminfoNumbers
from lxcfs_model.line_breaks import newline_is_the_only_line_break
from tests.strategies import host_meminfo_text, host_meminfo_values, host_snapshots, memory_cgroups

# ----------------------------------------------------------------- references (verbatim)

_MAX_DIGITS = 24


def _to_int(token: str, name: str, *, signed: bool = False) -> int:
    digits = token[1:] if signed and token.startswith("-") else token
    if not digits.isdigit() or not digits.isascii():
        raise ParseError(f"{name}: {token[:40]!r} is not an integer")
    if len(digits) > _MAX_DIGITS:
        raise ParseError(f"{name}: {token[:40]!r}... has more digits than a 64-bit counter")
    return int(token)


def _reference_parse_flat_keyed(text: str, name: str) -> dict[str, int]:
    """A flat keyed file (``memory.stat``, ``cpu.stat``): one ``key value`` per line.

    Keys are kept verbatim (``total_rss`` and ``total_rss_huge`` are different keys; no
    prefix matching, spec 8.10). A repeated key is malformed.
    """
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


COMPUTED_LABELS = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active",
    "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)",
    "Unevictable", "SwapTotal", "SwapFree", "Zswap", "Zswapped", "Dirty", "Writeback",
    "AnonPages", "Mapped", "Shmem", "Slab", "SReclaimable", "SUnreclaim", "AnonHugePages",
    "ShmemHugePages", "ShmemPmdMapped",
)  # fmt: skip
_COMPUTED = frozenset(COMPUTED_LABELS)


@attrs.frozen
class _ReferenceMeminfoLayout:
    """What ``MeminfoLayout`` was at commit ace625b, a template and its slots, which the
    reference below returns (MeminfoLayout has since gained fields only parsing fills)."""

    template: str
    slots: tuple[str, ...]


def _reference_parse_meminfo(text: str) -> _ReferenceMeminfoLayout:
    """Cut a host /proc/meminfo text into a ``MeminfoLayout`` (rules 2-3)."""
    parts: list[str] = []
    slots: list[str] = []
    for line in text.splitlines(keepends=True):
        label, colon, _rest = line.partition(":")
        if colon and label in _COMPUTED:
            parts.append(f"{label + ':':<16}%({label})8d kB\n")
            slots.append(label)
        else:
            parts.append(line.replace("%", "%%"))
    return _ReferenceMeminfoLayout(template="".join(parts), slots=tuple(slots))


def _reference_meminfo_kb(meminfo: str) -> Mapping[str, int]:
    """Host /proc/meminfo as label -> kB (or pages, for the HugePages_ counters)."""
    values: dict[str, int] = {}
    for line in meminfo.splitlines():
        label, colon, rest = line.partition(":")
        fields = rest.split()
        # isascii: str.isdigit alone accepts "²", which int() refuses.
        if colon and fields and fields[0].isascii() and fields[0].isdigit():
            values.setdefault(label, int(fields[0]))
    return values


_PROCESSOR_LINE = re.compile(r"processor\s*:\s*([0-9]+)")


def _reference_parse_cpuinfo(text: str) -> CpuinfoLayout:
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


def _is_number(text: str) -> bool:
    # str.isdigit alone accepts "²", which int() refuses; a counter is at most 20 digits, and
    # longer garbage would meet int()'s digit-count limit.
    return text.isascii() and text.isdigit() and len(text) <= 24


def _reference_parse_stat(text: str) -> StatLayout:
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


# ------------------------------------------------------------------------------ comparing


def _outcome(parse: Callable[[str], object], text: str) -> tuple[str, object]:
    """What a caller sees: the result, with every mapping's order, or the exception's type
    and message."""
    try:
        result = parse(text)
    except (ParseError, ValueError) as error:
        return ("raised", (type(error), str(error)))
    if attrs.has(type(result)):
        fields = attrs.asdict(result, recurse=False)  # type: ignore[arg-type]
        return (type(result).__name__, [(key, _ordered(value)) for key, value in fields.items()])
    return ("value", _ordered(result))


def _ordered(value: object) -> object:
    if isinstance(value, Mapping):
        return [(key, _ordered(item)) for key, item in value.items()]
    return value


def _assert_same(
    new: Callable[[str], object], reference: Callable[[str], object], text: str
) -> None:
    assert _outcome(new, text) == _outcome(reference, text)


# ------------------------------------------------------------------------------ texts


def _seed_texts(*names: str) -> list[str]:
    """The test fixtures' files of these names, and this machine's own where readable."""
    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    found = [path for name in names for path in sorted(fixtures.rglob(name))]
    for name in names:
        live = {
            "meminfo": "/proc/meminfo",
            "stat": "/proc/stat",
            "cpuinfo": "/proc/cpuinfo",
            "memory.stat": "/sys/fs/cgroup/memory/memory.stat",
        }.get(name)
        if live is not None:
            found.append(Path(live))
    texts = []
    for path in found:
        try:
            texts.append(path.read_text())
        except OSError:
            continue
    return texts


_FLAT_KEYED_SEEDS = _seed_texts("memory.stat", "cpu.stat")
_MEMINFO_SEEDS = _seed_texts("meminfo")
_STAT_SEEDS = [text for text in _seed_texts("stat") if text.startswith("cpu")]
_CPUINFO_SEEDS = _seed_texts("cpuinfo")


def _flat_keyed_text(values: Mapping[str, int]) -> str:
    return "".join(f"{key} {value}\n" for key, value in values.items())


_CPU_STAT_VALUES = st.dictionaries(
    st.sampled_from(("usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled")),
    st.integers(0, 2**64 - 1),
)
FLAT_KEYED_TEXTS = st.one_of(
    memory_cgroups().map(lambda memory: _flat_keyed_text(memory.stat)),
    _CPU_STAT_VALUES.map(_flat_keyed_text),
    st.sampled_from(_FLAT_KEYED_SEEDS) if _FLAT_KEYED_SEEDS else st.nothing(),
)
MEMINFO_TEXTS = st.one_of(
    host_meminfo_values(swap=st.booleans(), huge=st.booleans()).map(host_meminfo_text),
    st.sampled_from(_MEMINFO_SEEDS) if _MEMINFO_SEEDS else st.nothing(),
)
_SMALL_HOSTS = host_snapshots(cpus=st.integers(1, 12), psi=st.just(False), slabinfo=st.just(False))
STAT_TEXTS = st.one_of(
    _SMALL_HOSTS.map(lambda host: host.stat),
    st.sampled_from(_STAT_SEEDS) if _STAT_SEEDS else st.nothing(),
)
CPUINFO_TEXTS = st.one_of(
    _SMALL_HOSTS.map(lambda host: host.cpuinfo),
    st.sampled_from(_CPUINFO_SEEDS) if _CPUINFO_SEEDS else st.nothing(),
)

# What a mangling puts in: each is something one fast path or another must not swallow.
_INSERTS = (
    " ", "  ", "\t", "\n", "\n\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1f", "\x85", "\u2028",
    "\xa0", "-", "--", "+", "_", "0", "007", "\u0661", "\u00b2", "%", "%%", ":", "::", "x",
    " kB", "9" * 30, "9" * 5000, "-1", " extra", "cpu", "cpu ", "cpu0 1 2 3\n", "\ncpu7 ",
    " cpu3 1\n", "cpu1 1 2 3 4 5 6 7 8 9 10 11\n", "processor : 3\n", "processor\t: 0\n",
    "\nprocessor:", "coprocessor : 1\n", "processor : " + "9" * 5000 + "\n",
    "# processors: 2\n", "IBM/S390", "MemTotal:", "\nActive(anon):  5 kB\n",
    "Active", "(anon)", "SwapTotal: 1 kB\n", "MemTotal: x\n",
)  # fmt: skip


# What a number may be turned into: what int() takes but the parsers refuse, and neighbours.
_NUMBERS = (
    "0", "1", "7", "-1", "-0", "+1", "1_0", "007", "\u0661", "1\u06612", "\u00b2", "\uff11",
    "9" * 24, "9" * 25, "-" + "9" * 24, "9" * 5000, "", "x", "1 2", "1\t2",
)  # fmt: skip
# Whole lines put in between two lines.
_LINES = (
    "\n", " \n", "a 1\n", "a\t1\n", "cpu0 1 2 3 4 5 6 7 8 9 10\n", " cpu3 1 2 3 4 5 6 7 8 9 10\n",
    "cpu  1 2\n", "cpu5\n", "cpux 1\n", "processor : 0\n", "processor\t: 9\n", "processor:1\n",
    "# processors: 1\n", "MemTotal: 5 kB\n", "Active(anon): 1 kB\n", "Hugepagesize: 2 kB\n",
    "x\x1cMemFree: 1\n", "y\x85cpu2 1\n", "z\rprocessor : 4\n", "total_rss 1\n",
)  # fmt: skip
_EDITS = ("insert", "insert", "char", "number", "number", "line", "line", "cut", "repeat", "drop")
_DIGIT_RUNS = re.compile("[0-9]+")


@st.composite
def mangled(draw: st.DrawFn, texts: st.SearchStrategy[str]) -> str:
    """A realistic text bent by one to three edits: an insert from ``_INSERTS`` or a random
    character, a number turned into one from ``_NUMBERS``, a line from ``_LINES`` put in, a
    cut, a repeated line, a line dropped, or the end cut off."""
    text = draw(texts)
    for _ in range(draw(st.sampled_from((1, 1, 1, 2, 3)))):
        edit = draw(st.sampled_from((*_EDITS, "end")))
        at = draw(st.integers(0, len(text)))
        runs = [match.span() for match in _DIGIT_RUNS.finditer(text)]
        if edit == "number" and runs:
            start, end = draw(st.sampled_from(runs))
            text = text[:start] + draw(st.sampled_from(_NUMBERS)) + text[end:]
        elif edit == "line":
            starts = [0, *(match.end() for match in re.finditer("\n", text))]
            at = draw(st.sampled_from(starts))
            text = text[:at] + draw(st.sampled_from(_LINES)) + text[at:]
        elif edit == "insert":
            text = text[:at] + draw(st.sampled_from(_INSERTS)) + text[at:]
        elif edit == "char":
            text = text[:at] + draw(st.characters()) + text[at:]
        elif edit == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif edit in ("repeat", "drop"):
            lines = text.splitlines(keepends=True)
            if lines:
                index = draw(st.integers(0, len(lines) - 1))
                lines[index : index + 1] = [lines[index]] * (2 if edit == "repeat" else 0)
                text = "".join(lines)
        else:
            text = text[: draw(st.integers(0, len(text)))]
    return text


def _flat_keyed(text: str) -> dict[str, int]:
    return cgroup_parsers.parse_flat_keyed(text, "memory.stat")


def _reference_flat_keyed(text: str) -> dict[str, int]:
    return _reference_parse_flat_keyed(text, "memory.stat")


# ------------------------------------------------------------------------------ properties


@given(FLAT_KEYED_TEXTS)
def test_flat_keyed_matches_the_reference_on_kernel_texts(text: str) -> None:
    """memory.stat and cpu.stat as the kernel prints them parse to the same dict, in order."""
    _assert_same(_flat_keyed, _reference_flat_keyed, text)


@given(mangled(FLAT_KEYED_TEXTS))
@example("a 1\nb 2")  # no last newline
@example("a 1\na 2\n")  # repeated key: the same message, naming line 2
@example("a -1\nb 2\n")  # signed values are allowed
@example("a \u0661\n")  # an Arabic-Indic one: isdigit, but not ASCII
@example("a " + "9" * 25 + "\n")  # one digit too many
@example("a 1 2\nb\n")  # two fields on the whole, but not per line
@example("a\n1 b\n2\n")
@example("a 1\n\nb 2\n")
@example("a 1\r\nb 2\r\n")
@example("")
def test_flat_keyed_matches_the_reference_on_mangled_texts(text: str) -> None:
    """Any mangled flat keyed text gives the same dict, or the same ParseError message."""
    _assert_same(_flat_keyed, _reference_flat_keyed, text)


# One distinct number per computed label, 8 digits like most of the kernel's, and one
# wider (the kernel widens such a line): a template that swapped, dropped or mis-padded a
# slot renders differently.
_FILL_NUMBERS = (*range(10_000_001, 10_000_001 + len(COMPUTED_LABELS) - 1), 10**12)


def _rendered_layout(text: str) -> tuple[tuple[str, ...], str]:
    """The new layout's slots, and its template filled from a tuple."""
    layout = host_memory.parse_meminfo(text)
    return layout.slots, layout.fill(_FILL_NUMBERS)


def _rendered_reference_layout(text: str) -> tuple[tuple[str, ...], str]:
    """The old layout's slots, and its template filled by label."""
    layout = _reference_parse_meminfo(text)
    return layout.slots, layout.template % dict(zip(COMPUTED_LABELS, _FILL_NUMBERS, strict=True))


@given(MEMINFO_TEXTS)
def test_meminfo_layout_matches_the_reference_on_kernel_texts(text: str) -> None:
    """A kernel /proc/meminfo gives the same slots, and the same file once filled."""
    _assert_same(_rendered_layout, _rendered_reference_layout, text)


def _computed_lines(*labels: str) -> str:
    return "".join(f"{label}: {number} kB\n" for number, label in enumerate(labels))


@given(mangled(MEMINFO_TEXTS))
# All 28 computed lines, but not in the kernel's order; and one twice, another missing.
@example(_computed_lines(COMPUTED_LABELS[1], COMPUTED_LABELS[0], *COMPUTED_LABELS[2:]))
@example(_computed_lines(COMPUTED_LABELS[0], *COMPUTED_LABELS[:-1]))
@example("Active(anon): 1 kB\nActive: 2 kB\nActive(foo): 3 kB\n")
@example("MemTotal: 1 kB")  # no last newline: the computed line still gains one
@example("MemTotal:1%\n5% used\n")
@example("MemTotal: 1 kB\rMemFree: 2 kB\n")
@example("MemTotal\u2028MemFree: 2 kB\n")
@example(" MemTotal: 1 kB\nMemTotal : 1 kB\nMemTotal: 1 kB\nMemTotal: 2 kB\n")
@example("")
def test_meminfo_layout_matches_the_reference_on_mangled_texts(text: str) -> None:
    """Any mangled /proc/meminfo gives the same slots, and the same file once filled."""
    _assert_same(_rendered_layout, _rendered_reference_layout, text)


# Pieces of odd meminfo lines: labels the kernel prints and near misses, separators, first
# words (non-ASCII digits, signs, "%", 30 and 5,000 digits), tails and every line end.
_ODD_LABELS = (
    *COMPUTED_LABELS[:3], "SwapTotal", "Active", "Active(anon)", "HugePages_Total", "",
    " MemTotal", "MemTotal ", "Mem%Total", "%", "Mem Total", "a\x1fb", "\u00b2", "M\xe9m",
)  # fmt: skip
_ODD_WORDS = (
    "0", "7", "0012", "123456789", "", "\u00b2", "\u0661", "\uff11", "12a", "-1", "+1", "1_0",
    "%", "%8d", "%(MemTotal)8d", "9" * 30, "9" * 5000, "kB",
)  # fmt: skip
_ODD_ENDS = ("\n", "\n", "\n", "\r\n", "\r", "\v", "\x1c", "\x85", "\u2028", "")
ODD_MEMINFO_LINES = st.builds(
    "{}{}{}{}{}{}".format,
    st.sampled_from(_ODD_LABELS) | st.text(max_size=4),
    st.sampled_from((":", ":", ":", "", "::", " :")),
    st.sampled_from(("", " ", "   ", "\t", " \x1f", "\xa0")),
    st.sampled_from(_ODD_WORDS),
    st.sampled_from(("", " kB", " kB %", "\t1", " 2 kB", "%")),
    st.sampled_from(_ODD_ENDS),
)
ODD_MEMINFO_TEXTS = st.lists(ODD_MEMINFO_LINES, max_size=12).map("".join)
ANY_MEMINFO_TEXTS = st.one_of(MEMINFO_TEXTS, mangled(MEMINFO_TEXTS), ODD_MEMINFO_TEXTS)


def _labels_to_ask(text: str, reference: Mapping[str, int]) -> list[str]:
    """Every label the text has (a line's text before its first colon, whatever cut its
    lines), the computed ones, and labels no line can have."""
    lines = text.split("\n")
    labels = {line.partition(":")[0] for line in text.splitlines()}
    labels |= {line.partition(":")[0] for line in lines}
    labels |= set(reference) | set(COMPUTED_LABELS)
    # Near misses a search for "\n<label>:" would find: up to a line's last colon, and
    # across a line end.
    labels |= {line.rpartition(":")[0] for line in lines}
    labels |= {f"{one}\n{two.partition(':')[0]}" for one, two in itertools.pairwise(lines)}
    labels |= {"", "MemTotal:", "a:b", "MemTotal\nMemFree", "MemFree\r", "Nope"}
    return sorted(labels)


_MEMINFO_NUMBERS_EXAMPLES = (
    "MemTotal: 5 kB\nMemTotal: 6 kB\n",  # the first line counts
    "MemTotal: x kB\nMemTotal: 6 kB\n",  # ... the first one with a number
    "MemTotal: \u00b2 kB\nSwapTotal: \u0661 kB\n",  # isdigit, but not ASCII: no number
    "MemTotal 5 kB\nMemTotal:\n:7\n",  # no colon; no word after it; an empty label
    "MemTotal: 5%\nMem%Total: 9 kB\nMemTotal: 6 kB\n",  # "%" is just a character here
    "MemTotal:       16320316 kB",  # no last newline
    "MemTotal: 5 kB\r\nSwapTotal:\t7\rMemFree: 8 kB\x85Active: 9\n",  # other line breaks
    "a\x1cMemTotal: 5 kB\n",  # a line break str.split("\n") does not see
    "MemTotal:\x1f5\x1fkB\n",  # \x1f: whitespace to str.split, but no line break
    "MemTotal: 0012 kB\nHugePages_Total:       0\n",
    "Foo: " + "9" * 5000 + "\nMemTotal: 5 kB\n",  # int() refuses 5,000 digits
    "MemTotal: " + "9" * 5000 + "\n",
    "a:b: 5 kB\nMemTotal: 1:2 kB\n",  # a label ends at the first colon
    "MemTotal\nMemFree: 2 kB\n",  # and within its line
    "",
)


@given(ANY_MEMINFO_TEXTS)
@example(_MEMINFO_NUMBERS_EXAMPLES[0])
@example(_MEMINFO_NUMBERS_EXAMPLES[1])
@example(_MEMINFO_NUMBERS_EXAMPLES[2])
@example(_MEMINFO_NUMBERS_EXAMPLES[3])
@example(_MEMINFO_NUMBERS_EXAMPLES[4])
@example(_MEMINFO_NUMBERS_EXAMPLES[5])
@example(_MEMINFO_NUMBERS_EXAMPLES[6])
@example(_MEMINFO_NUMBERS_EXAMPLES[7])
@example(_MEMINFO_NUMBERS_EXAMPLES[8])
@example(_MEMINFO_NUMBERS_EXAMPLES[9])
@example(_MEMINFO_NUMBERS_EXAMPLES[10])
@example(_MEMINFO_NUMBERS_EXAMPLES[11])
@example(_MEMINFO_NUMBERS_EXAMPLES[12])
@example(_MEMINFO_NUMBERS_EXAMPLES[13])
@example(_MEMINFO_NUMBERS_EXAMPLES[14])
def test_meminfo_numbers_match_the_reference(text: str) -> None:
    """Looked up one label at a time, as a whole, or from the layout's computed lines, the
    host's meminfo numbers are the old dict's: same labels, order and numbers, KeyError and
    default alike; where the old dict raised (a number int() refuses), reading it all
    raises the same."""
    try:
        reference = _reference_meminfo_kb(text)
    except ValueError as error:
        with pytest.raises(ValueError, match=re.escape(str(error))):
            dict(HostMeminfoNumbers(text))
        return
    for label in _labels_to_ask(text, reference):
        # A fresh mapping per label: each lookup is then the first, as in a render.
        assert HostMeminfoNumbers(text).get(label) == reference.get(label), label
        assert HostMeminfoNumbers(text).get(label, -7) == reference.get(label, -7), label
        assert (label in HostMeminfoNumbers(text)) == (label in reference), label
        if label not in reference:
            with pytest.raises(KeyError):
                HostMeminfoNumbers(text)[label]
    numbers = HostMeminfoNumbers(text)
    first = [numbers.get(label) for label in _labels_to_ask(text, reference)]
    assert list(numbers.items()) == list(reference.items())
    assert len(numbers) == len(reference)
    assert numbers == reference
    # Asked again, after the whole was read: the same answers.
    assert [numbers.get(label) for label in _labels_to_ask(text, reference)] == first
    layout = host_memory.parse_meminfo(text)
    for label in COMPUTED_LABELS:
        assert layout.host_number(label) == reference.get(label), label
    # The two every render reads, read once when the layout is made.
    assert layout.host_mem_total_kb == reference.get("MemTotal")
    assert layout.host_swap_total_kb == reference.get("SwapTotal")


@given(STAT_TEXTS)
def test_stat_layout_matches_the_reference_on_kernel_texts(text: str) -> None:
    """A kernel /proc/stat gives the same counters, in order, and the same passthrough."""
    _assert_same(host_cpu.parse_stat, _reference_parse_stat, text)


@given(mangled(STAT_TEXTS))
@example("cpu  1\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu0 2 2 3 4 5 6 7 8 9 10\nintr 1\n")
@example("cpu  1\ncpu0 1 2 3 4 5 6 7 8 9 10 11\nintr 1\n")
@example("cpu  1\ncpu0 1 2 3 4 5 6 7 8 9\nintr 1\n")
@example("cpu  1\ncpu00 1 2 3 4 5 6 7 8 9 10\nintr 1\n")
@example("cpu  1\ncpu0 1 2 3 4 5 6 7 8 9 " + "9" * 25 + "\n")
@example("cpu  1\ncpu0 1 2 3 4 5 6 7 8 9 " + "9" * 24 + "\n")
@example("cpu  1\ncpu0 1 2 3 4 5 6 7 8 9 -1\nintr 1\n")
@example("cpu  1\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1\n cpu1 1 2 3 4 5 6 7 8 9 10\n")
@example("cpu  1\ncpu0 1 2 3 4 5 6 7 8 9 10")  # no last newline
@example("cpu  1\ncpu0 1 2 3 4 5 6 7 8 9 1_0\n")
@example("cpu  1\rcpu0 1 2 3 4 5 6 7 8 9 10\n")
@example("cpu  1\n")
@example("cpu ")
def test_stat_layout_matches_the_reference_on_mangled_texts(text: str) -> None:
    """Any mangled /proc/stat gives the same counters, in order, and the same passthrough."""
    _assert_same(host_cpu.parse_stat, _reference_parse_stat, text)


@given(CPUINFO_TEXTS)
def test_cpuinfo_layout_matches_the_reference_on_kernel_texts(text: str) -> None:
    """A kernel /proc/cpuinfo gives the same blocks, in order."""
    _assert_same(host_cpu.parse_cpuinfo, _reference_parse_cpuinfo, text)


@given(mangled(CPUINFO_TEXTS))
@example("processor : 0\nprocessor : 1\na\n")  # an empty block
@example("processor : 0\na\nprocessor : 0\nb\n")  # a repeated CPU keeps its first block
@example("x coprocessor : 1\na\n")
@example("intro\nprocessor:7 tail\na\n\n")
@example("processor : 0\na\nprocessor : 1")  # no last newline
@example("processor : 0\na\n# processors: 1\n")
@example("processor : 0\n\x85processor : 1\n")
@example("vendor_id : IBM/S390\nprocessor 0: x\n")
def test_cpuinfo_layout_matches_the_reference_on_mangled_texts(text: str) -> None:
    """Any mangled /proc/cpuinfo gives the same blocks, in order (or the same error)."""
    _assert_same(host_cpu.parse_cpuinfo, _reference_parse_cpuinfo, text)


# --------------------------------------------------------------- the fast paths are taken


def _refuse(text: str, *args: object) -> object:
    raise AssertionError(f"the careful loop ran on a kernel text: {text[:60]!r}")


@pytest.mark.parametrize(
    ("module", "loop", "parse", "texts"),
    [
        (cgroup_parsers, "_parse_flat_keyed_line_by_line", _flat_keyed, FLAT_KEYED_TEXTS),
        (host_memory, "_parse_meminfo_line_by_line", host_memory.parse_meminfo, MEMINFO_TEXTS),
        (host_cpu, "_parse_stat_line_by_line", host_cpu.parse_stat, STAT_TEXTS),
        (host_cpu, "_parse_cpuinfo_line_by_line", host_cpu.parse_cpuinfo, CPUINFO_TEXTS),
    ],
    ids=["flat_keyed", "meminfo", "stat", "cpuinfo"],
)
def test_kernel_texts_never_reach_the_careful_loop(
    module: object,
    loop: str,
    parse: Callable[[str], object],
    texts: st.SearchStrategy[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the kernel prints (and the fixtures and this machine hold) takes the fast path:
    the speed-up is real, not a fallback that happens to be right."""
    monkeypatch.setattr(module, loop, _refuse)

    @given(texts)
    def parses_fast(text: str) -> None:
        parse(text)

    parses_fast()


@pytest.mark.parametrize(
    "text",
    ["a\rb", "a\vb", "a\fb", "a\x1cb", "a\x1db", "a\x1eb", "a\x85b", "a\u2028b", "a\u2029b"],
)
def test_any_line_break_but_newline_is_seen(text: str) -> None:
    """Every str.splitlines boundary other than "\\n" makes the check false."""
    assert len(text.splitlines()) == 2
    assert not newline_is_the_only_line_break(text)


@given(st.text())
def test_newline_only_check_agrees_with_splitlines(text: str) -> None:
    """When the check passes, str.splitlines cuts exactly after each "\\n"."""
    if newline_is_the_only_line_break(text):
        assert text.splitlines(keepends=True) == [line + "\n" for line in text.split("\n")[:-1]] + (
            [text.rsplit("\n", 1)[-1]] if not text.endswith("\n") and text else []
        )
