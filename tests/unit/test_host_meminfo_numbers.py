"""``HostSnapshot.meminfo_kb`` (``host_memory.HostMeminfoNumbers``) on small texts with the
answers written out by hand; tests/properties/test_parser_fast_paths.py holds it to the
dict it replaced on any text."""

from __future__ import annotations

import pytest

from lxcfs_model import host_memory
from lxcfs_model.host_memory import HostMeminfoNumbers
from lxcfs_model.values import HostSnapshot

KERNEL_TEXT = (
    "MemTotal:       16320316 kB\n"
    "MemFree:         1234567 kB\n"
    "SwapTotal:       2097148 kB\n"
    "HugePages_Total:       0\n"
    "Hugepagesize:       2048 kB\n"
)


def _refuse_reading_everything(self: HostMeminfoNumbers) -> dict[str, int]:
    raise AssertionError("read every line to look up one label")


def test_a_lookup_reads_only_its_label(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a kernel text, get and [] answer from the label's own line, without the whole
    dict (what makes a fresh snapshot's meminfo and swaps renders cheap)."""
    monkeypatch.setattr(HostMeminfoNumbers, "_all", _refuse_reading_everything)
    numbers = HostMeminfoNumbers(KERNEL_TEXT)
    assert numbers["MemTotal"] == 16320316
    assert numbers.get("SwapTotal", 0) == 2097148
    assert numbers.get("HugePages_Total") == 0
    assert numbers.get("Mlocked") is None
    assert numbers.get("Mlocked", 5) == 5
    assert "MemFree" in numbers
    with pytest.raises(KeyError):
        numbers["Hugepagesize:"]


def test_the_whole_mapping_is_every_numbered_line_in_order() -> None:
    """Iterating gives each label with a number once, in file order, like a dict."""
    numbers = HostMeminfoNumbers(KERNEL_TEXT)
    assert list(numbers.items()) == [
        ("MemTotal", 16320316),
        ("MemFree", 1234567),
        ("SwapTotal", 2097148),
        ("HugePages_Total", 0),
        ("Hugepagesize", 2048),
    ]
    assert numbers == dict(numbers)
    assert len(numbers) == 5


def test_the_first_line_with_a_number_counts() -> None:
    """A repeated label reads its first line that has a number; lines without a colon, a
    word after it, or ASCII digits count for nothing."""
    text = (
        "MemTotal: x kB\n"
        "MemTotal 7 kB\n"
        "MemTotal: \u00b2 kB\n"
        "MemTotal:\n"
        "MemTotal: 0012 kB\n"
        "MemTotal: 5 kB\n"
    )
    numbers = HostMeminfoNumbers(text)
    assert numbers.get("MemTotal") == 12
    assert dict(numbers) == {"MemTotal": 12}
    assert "MemTotal 7 kB" not in numbers


def test_labels_end_at_the_first_colon_and_within_their_line() -> None:
    """The line "a:b: 5" has label "a" and no number ("b:" is not one), and no label spans
    two lines."""
    numbers = HostMeminfoNumbers("a:b: 5\nMemTotal\nMemFree: 2 kB\n")
    assert numbers.get("a") is None
    assert numbers.get("a:b") is None
    assert numbers.get("MemTotal\nMemFree") is None
    assert numbers.get("MemFree") == 2


def test_other_line_breaks_cut_lines_as_splitlines_does() -> None:
    """A text with "\\r" or "\\x85" line ends (no kernel prints one) is cut by
    str.splitlines, as before: "x\\x1cMemTotal: 5" holds a MemTotal line."""
    numbers = HostMeminfoNumbers("x\x1cMemTotal: 5 kB\r\nSwapTotal: 6\x85Active: 7\n")
    assert (numbers["MemTotal"], numbers["SwapTotal"], numbers["Active"]) == (5, 6, 7)


def test_layout_reads_memtotal_and_swaptotal_like_the_mapping() -> None:
    """The layout's host_number gives what meminfo_kb gives for computed labels, including
    a repeated label whose first line has no number."""
    text = "MemTotal: x kB\nMemTotal: 9 kB\nSwapTotal:\t\t3 kB\nMlocked: 1 kB\n"
    layout = host_memory.parse_meminfo(text)
    assert layout.host_number("MemTotal") == 9
    assert layout.host_number("SwapTotal") == 3
    assert layout.host_number("MemFree") is None


def test_snapshot_meminfo_kb_is_the_lazy_mapping() -> None:
    """HostSnapshot.meminfo_kb is one HostMeminfoNumbers per snapshot, over its meminfo."""
    fields = ("cpuinfo", "stat", "uptime", "loadavg", "diskstats", "swaps", "online")
    host = HostSnapshot(meminfo=KERNEL_TEXT, **dict.fromkeys(fields, ""))
    assert isinstance(host.meminfo_kb, HostMeminfoNumbers)
    assert host.meminfo_kb is host.meminfo_kb
    assert host.meminfo_kb.get("MemTotal") == 16320316
