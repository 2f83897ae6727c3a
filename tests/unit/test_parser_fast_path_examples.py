"""The parsers' fast paths (issue 5) on small kernel texts, with results written out by hand
from the kernel's formats, and with the careful loop disabled so only the fast path can
answer. tests/properties/test_parser_fast_paths.py compares them with the old loops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lxcfs_model import cgroup_parsers, host_cpu, host_memory
from lxcfs_model.errors import ParseError


def _refuse(*args: object) -> object:
    raise AssertionError("the careful loop ran on a kernel text")


@pytest.fixture
def fast_paths_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The line-by-line loops raise, so a result can only come from a fast path."""
    monkeypatch.setattr(cgroup_parsers, "_parse_flat_keyed_line_by_line", _refuse)
    monkeypatch.setattr(host_memory, "_parse_meminfo_line_by_line", _refuse)
    monkeypatch.setattr(host_cpu, "_parse_stat_line_by_line", _refuse)
    monkeypatch.setattr(host_cpu, "_parse_cpuinfo_line_by_line", _refuse)
    yield


def test_memory_stat_reads_every_key_in_order(fast_paths_only: None) -> None:
    """A v1 memory.stat gives each key its value, in file order, 20-digit values intact."""
    text = "cache 4096\nrss 0\nhierarchical_memory_limit 9223372036854771712\ntotal_rss 8192\n"
    values = cgroup_parsers.parse_flat_keyed(text, "memory.stat")
    assert list(values.items()) == [
        ("cache", 4096),
        ("rss", 0),
        ("hierarchical_memory_limit", 9223372036854771712),
        ("total_rss", 8192),
    ]


def test_empty_flat_keyed_file_is_empty(fast_paths_only: None) -> None:
    """An empty cpu.stat (nothing accounted yet) is an empty dict."""
    assert cgroup_parsers.parse_flat_keyed("", "cpu.stat") == {}


def test_repeated_key_still_names_its_line() -> None:
    """A repeated key leaves the fast path and is the loop's ParseError naming line 3."""
    with pytest.raises(ParseError, match=r"^memory.stat: key 'rss' repeated on line 3$"):
        cgroup_parsers.parse_flat_keyed("rss 1\ncache 2\nrss 3\n", "memory.stat")


def test_meminfo_template_replaces_only_computed_lines(fast_paths_only: None) -> None:
    """Computed lines become show_val_kb placeholders (16-column label, %8d, " kB"); others
    stay verbatim with "%" doubled; Active(anon) is its own label, not Active's."""
    text = (
        "MemTotal:       16320316 kB\n"
        "Percpu:             1%00 kB\n"
        "Active(anon):     123456 kB\n"
        "Active:          1000000 kB\n"
        "HugePages_Total:       0\n"
    )
    layout = host_memory.parse_meminfo(text)
    assert layout.slots == ("MemTotal", "Active(anon)", "Active")
    assert layout.template == (
        "MemTotal:       %8d kB\n"
        "Percpu:             1%%00 kB\n"
        "Active(anon):   %8d kB\n"
        "Active:         %8d kB\n"
        "HugePages_Total:       0\n"
    )
    # fill takes one number per COMPUTED_LABELS entry, in that order, and picks the slots'.
    numbers = tuple(range(100, 100 + len(host_memory.COMPUTED_LABELS)))
    assert host_memory.COMPUTED_LABELS[0] == "MemTotal"  # 100
    assert host_memory.COMPUTED_LABELS[6] == "Active"  # 106
    assert host_memory.COMPUTED_LABELS[8] == "Active(anon)"  # 108
    assert layout.fill(numbers) == (
        "MemTotal:            100 kB\n"
        "Percpu:             1%00 kB\n"
        "Active(anon):        108 kB\n"
        "Active:              106 kB\n"
        "HugePages_Total:       0\n"
    )
    assert (layout.host_number("MemTotal"), layout.host_number("Active")) == (16320316, 1000000)
    assert layout.host_number("SwapTotal") is None


def test_kernel_order_meminfo_fills_its_numbers_as_given(fast_paths_only: None) -> None:
    """A host printing every computed line in the kernel's order (the common case, which
    fill formats without picking) shows each number on its own line."""
    text = "".join(f"{label}: 1 kB\n" for label in host_memory.COMPUTED_LABELS) + "Mlocked: 5 kB\n"
    numbers = tuple(range(1, 1 + len(host_memory.COMPUTED_LABELS)))
    layout = host_memory.parse_meminfo(text)
    assert layout.slots == host_memory.COMPUTED_LABELS
    assert (
        layout.fill(numbers)
        == "".join(
            f"{label + ':':<16}{number:8d} kB\n"
            for label, number in zip(host_memory.COMPUTED_LABELS, numbers, strict=True)
        )
        + "Mlocked: 5 kB\n"
    )


def test_stat_cpu_lines_become_counters_and_the_rest_passes_through(fast_paths_only: None) -> None:
    """show_stat()'s cpuN lines give ten counters each; the aggregate is dropped; intr and
    the others pass through verbatim."""
    text = (
        "cpu  11 0 22 33 0 0 0 0 0 0\n"
        "cpu0 10 0 20 30 1 2 3 4 5 6\n"
        "cpu2 1 0 2 3 0 0 0 0 0 99999999999999999999\n"
        "intr 5 1 4\n"
        "ctxt 7\n"
    )
    layout = host_cpu.parse_stat(text)
    assert list(layout.cpu_counters.items()) == [
        (0, (10, 0, 20, 30, 1, 2, 3, 4, 5, 6)),
        (2, (1, 0, 2, 3, 0, 0, 0, 0, 0, 99999999999999999999)),
    ]
    assert layout.passthrough == "intr 5 1 4\nctxt 7\n"


def test_cpuinfo_blocks_follow_their_processor_lines(fast_paths_only: None) -> None:
    """Each CPU's block is the lines after its processor line up to the next one, with the
    blank separator; an empty block stays empty."""
    text = (
        "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme\n\n"
        "processor\t: 3\n"
        "processor\t: 1\nvendor_id\t: GenuineIntel\n\n"
    )
    layout = host_cpu.parse_cpuinfo(text)
    assert list(layout.blocks.items()) == [
        (0, "vendor_id\t: GenuineIntel\nflags\t\t: fpu vme\n\n"),
        (3, ""),
        (1, "vendor_id\t: GenuineIntel\n\n"),
    ]
    assert not layout.s390x
