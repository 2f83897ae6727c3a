"""The meminfo layout's derived fields (the host totals read once, the slot picks ``fill``
uses) and ``swap_figures`` given the RAM limit meminfo already has: the fast render's
shortcuts give what the long way gives. Expected texts are written out in the kernel's
``show_val_kb`` form (label padded to 16 columns, ``%8lu kB``)."""

from __future__ import annotations

import pytest

from lxcfs_model import host_memory
from lxcfs_model.host_memory import COMPUTED_LABELS
from lxcfs_model.memory import ram_limit, swap_figures, swap_kb
from lxcfs_model.values import LimitLevel, MemoryCgroup, RenderOptions, SwapAccounting

# One distinct number per COMPUTED_LABELS entry: MemTotal 1000, MemFree 1001, ...
_NUMBERS = tuple(range(1000, 1000 + len(COMPUTED_LABELS)))


def test_one_computed_line_fills_its_own_number() -> None:
    """A host text with a single computed line (SwapFree, 15th label) fills that line from
    the 15th number and passes the rest through."""
    layout = host_memory.parse_meminfo("Mlocked: 1 kB\nSwapFree: 7 kB\nPercpu: 2 kB\n")
    assert layout.slots == ("SwapFree",)
    assert layout.fill(_NUMBERS) == "Mlocked: 1 kB\nSwapFree:           1014 kB\nPercpu: 2 kB\n"
    assert (layout.host_mem_total_kb, layout.host_swap_total_kb) == (None, None)


def test_no_computed_line_is_the_host_text() -> None:
    """A host text without computed lines fills to itself, "%" and all."""
    layout = host_memory.parse_meminfo("Mlocked: 1 kB\nOdd: 5% kB\n")
    assert layout.slots == ()
    assert layout.fill(_NUMBERS) == "Mlocked: 1 kB\nOdd: 5% kB\n"


def test_kernel_without_zswap_picks_around_the_missing_lines() -> None:
    """Without Zswap/Zswapped lines, SwapFree takes the 15th number and Dirty the 18th."""
    layout = host_memory.parse_meminfo(
        "MemTotal:        2048000 kB\nSwapTotal:         65536 kB\nSwapFree:          65536 kB\n"
        "Dirty:                12 kB\n"
    )
    assert layout.slots == ("MemTotal", "SwapTotal", "SwapFree", "Dirty")
    assert layout.fill(_NUMBERS) == (
        "MemTotal:           1000 kB\n"
        "SwapTotal:          1013 kB\n"
        "SwapFree:           1014 kB\n"
        "Dirty:              1017 kB\n"
    )
    assert (layout.host_mem_total_kb, layout.host_swap_total_kb) == (2048000, 65536)


@pytest.mark.parametrize(
    ("text", "totals"),
    [
        # The first MemTotal line has no number, the second counts (as meminfo_kb reads).
        ("MemTotal: x kB\nMemTotal: 9 kB\nSwapTotal:\t\t3 kB\n", (9, 3)),
        # Non-kernel line breaks take the line loop; the totals are read the same way.
        ("MemTotal: 8 kB\r\nSwapTotal: 4 kB\r\n", (8, 4)),
        ("MemFree: 1 kB\n", (None, None)),
    ],
)
def test_host_totals_are_host_number(text: str, totals: tuple[int | None, int | None]) -> None:
    """host_mem_total_kb and host_swap_total_kb are host_number of MemTotal and SwapTotal."""
    layout = host_memory.parse_meminfo(text)
    assert (layout.host_mem_total_kb, layout.host_swap_total_kb) == totals
    assert totals == (layout.host_number("MemTotal"), layout.host_number("SwapTotal"))


@pytest.mark.parametrize("swappiness", [0, 60])
@pytest.mark.parametrize(
    "memory_limits",
    [
        (LimitLevel("/c", None), LimitLevel("/", 512 * 1024 * 1024)),
        (LimitLevel("/c", None),),
    ],
)
def test_swap_figures_given_the_ram_limit_are_the_same(
    memory_limits: tuple[LimitLevel, ...], swappiness: int
) -> None:
    """v1 swap_figures with ram=ram_limit(memory) (what meminfo passes) equals the figures
    it works out itself, and swap_kb is its (total_kb, used_kb): memsw 768 MiB over a
    512 MiB limit is 256 MiB of swap."""
    memory = MemoryCgroup(
        version="v1",
        path="/c",
        usage=100 * 1024 * 1024,
        limits=memory_limits,
        swap=SwapAccounting(limits=(LimitLevel("/c", 768 * 1024 * 1024),), usage=110 * 1024 * 1024),
        swappiness=swappiness,
    )
    options = RenderOptions()
    given = swap_figures(memory, options, 1048576, ram=ram_limit(memory))
    assert given == swap_figures(memory, options, 1048576)
    # meminfo's hot path reads only the two numbers, through swap_kb.
    assert swap_kb(memory, options, 1048576, ram=ram_limit(memory)) == (
        given.total_kb,
        given.used_kb,
    )
    if memory_limits[-1].limit is not None and swappiness:
        assert (given.total_kb, given.used_kb) == (262144, 10240)
