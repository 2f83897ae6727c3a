"""The one-pass parse of plain meminfo texts equals the line-by-line definition.

``HostSnapshot.meminfo_kb`` and ``host_memory.parse_meminfo`` take a regular-expression path
for plain text (tab, newline, printable ASCII: every kernel's /proc/meminfo). These
properties hold it to the plain loops that define them, over texts built from the pieces
that matter (labels, colons, blanks, digits, %, parentheses, line ends).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lxcfs_model import host_memory
from lxcfs_model.values import HostSnapshot

PIECES = st.sampled_from(
    [":", " ", "\t", "\n", "0", "1", "42", "a", "%", "kB", "(", ")", "MemTotal", "MemFree",
     "Active", "Active(anon)", "Cached", "SwapTotal", "HugePages_Total"]
)  # fmt: skip
PLAIN_TEXTS = st.lists(PIECES, max_size=40).map("".join)


def _kb_by_lines(text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in text.splitlines():
        label, colon, rest = line.partition(":")
        fields = rest.split()
        if colon and fields and fields[0].isdigit():
            values.setdefault(label, int(fields[0]))
    return values


def _layout_by_lines(text: str) -> tuple[str, tuple[str, ...]]:
    parts: list[str] = []
    slots: list[str] = []
    for line in text.splitlines(keepends=True):
        label, colon, _ = line.partition(":")
        if colon and label in host_memory.COMPUTED_LABELS:
            parts.append(f"{label + ':':<16}%({label})8d kB\n")
            slots.append(label)
        else:
            parts.append(line.replace("%", "%%"))
    return "".join(parts), tuple(slots)


@given(text=PLAIN_TEXTS)
def test_fast_parse_equals_the_line_loops(text: str) -> None:
    """For plain text, meminfo_kb and the meminfo template are exactly what the line loops
    give (first numeric field, first occurrence wins; computed lines become placeholders,
    every other line kept with % doubled)."""
    snapshot = HostSnapshot(
        meminfo=text, cpuinfo="", stat="", uptime="", loadavg="", diskstats="", swaps="", online=""
    )
    assert dict(snapshot.meminfo_kb) == _kb_by_lines(text)
    layout = host_memory.parse_meminfo(text)
    assert (layout.template, layout.slots) == _layout_by_lines(text)
