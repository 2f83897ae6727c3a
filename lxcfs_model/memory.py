"""The one memory accounting policy: the container's RAM limit, its swap, and which memory.stat
key means what. /proc/meminfo and /proc/swaps both read their numbers from here, so they agree.

Rules:
1. Limits are the minimum over the cgroup and its ancestors (``values.effective_limit``);
   a limit of 0 is a real limit, None is "no limit". A limit from 2**62 bytes up (v1's
   2**63 - PAGE_SIZE "unlimited", should a caller pass it raw) also counts as none.
2. memory.stat keys are matched exactly, never by prefix (spec 8.10): v1 uses the
   hierarchical ``total_*`` keys so the container's child cgroups count (spec 8.26), v2 the
   plain keys. A key the kernel does not print in that version reads as 0.
3. Swap is the cgroup's own allowance, capped by the host's SwapTotal:
   v2 ``memory.swap.max`` (swap alone); v1 ``memory.memsw.limit_in_bytes`` minus
   ``memory.limit_in_bytes`` (memsw counts memory + swap). Both minimum over the ancestors.
   Used swap is ``memory.swap.current`` (v2) or memsw usage minus memory usage (v1).
   Deviation from upstream: 7.0 adds the RAM limit to v1's SwapTotal (so SwapTotal shows
   memory + swap while SwapFree subtracts swap alone); we show swap alone in meminfo and
   /proc/swaps alike, as the project's issue asks.
4. Nothing here can go negative or past its total: differences clamp at 0 where upstream's
   unsigned arithmetic would wrap, and used swap never exceeds the swap shown.
"""

from __future__ import annotations

import enum
from typing import Literal

import attrs

from lxcfs_model.cgroup_parsers import V1_UNLIMITED_FROM
from lxcfs_model.values import LimitLevel, MemoryCgroup, RenderOptions, effective_limit

__all__ = [
    "STAT_FIELDS",
    "SWAP_SOURCES",
    "UNLIMITED_FROM",
    "V1_STAT_KEYS",
    "V2_STAT_KEYS",
    "StatKeys",
    "SwapFigures",
    "ram_limit",
    "swap_figures",
    "swap_kb",
]

# The v1 limit parser's threshold: no real limit comes near 2**62 bytes, and v1 prints
# "none" as 2**63 - PAGE_SIZE.
UNLIMITED_FROM = V1_UNLIMITED_FROM


@attrs.frozen
class StatKeys:
    """Which memory.stat key holds each quantity in one cgroup version (None: not printed)."""

    cache: str
    shmem: str
    mapped: str
    dirty: str
    writeback: str
    anon_huge: str
    shmem_huge: str | None
    active_anon: str
    inactive_anon: str
    active_file: str
    inactive_file: str
    unevictable: str
    slab: str | None
    slab_reclaimable: str | None
    slab_unreclaimable: str | None
    zswap: str | None
    zswapped: str | None


# v1 (mm/memcontrol-v1.c memcg1_stat_format): hierarchical totals; no slab or zswap keys.
V1_STAT_KEYS = StatKeys(
    cache="total_cache",
    shmem="total_shmem",
    mapped="total_mapped_file",
    dirty="total_dirty",
    writeback="total_writeback",
    anon_huge="total_rss_huge",
    shmem_huge=None,
    active_anon="total_active_anon",
    inactive_anon="total_inactive_anon",
    active_file="total_active_file",
    inactive_file="total_inactive_file",
    unevictable="total_unevictable",
    slab=None,
    slab_reclaimable=None,
    slab_unreclaimable=None,
    zswap=None,
    zswapped=None,
)

# v2 (Documentation/admin-guide/cgroup-v2.rst, memory.stat): already hierarchical.
# Upstream 7.0 shows 0 for Dirty, Writeback and AnonHugePages on v2 and, through its prefix
# matching, 0 for Mapped; the exact keys below are the kernel's counters for those lines.
V2_STAT_KEYS = StatKeys(
    cache="file",
    shmem="shmem",
    mapped="file_mapped",
    dirty="file_dirty",
    writeback="file_writeback",
    anon_huge="anon_thp",
    shmem_huge="shmem_thp",
    active_anon="active_anon",
    inactive_anon="inactive_anon",
    active_file="active_file",
    inactive_file="inactive_file",
    unevictable="unevictable",
    slab="slab",
    slab_reclaimable="slab_reclaimable",
    slab_unreclaimable="slab_unreclaimable",
    zswap="zswap",
    zswapped="zswapped",
)


# The quantity names, in StatKeys' order.
STAT_FIELDS: tuple[str, ...] = tuple(field.name for field in attrs.fields(StatKeys))


def _finite(level: LimitLevel | None) -> LimitLevel | None:
    if level is None or level.limit is None or level.limit >= UNLIMITED_FROM:
        return None
    return level


def ram_limit(memory: MemoryCgroup) -> LimitLevel | None:
    """The level whose memory limit binds the container (smallest over it and its
    ancestors), or None when no level sets one."""
    return _finite(effective_limit(memory.limits))


@attrs.frozen
class SwapFigures:
    """The swap a container is shown, in kB, and where it came from.

    ``total_kb``: SwapTotal and /proc/swaps' Size. ``used_kb``: SwapTotal - SwapFree and
    /proc/swaps' Used (never above ``total_kb``). ``allowance_kb``: the cgroup's own swap
    allowance before the host cap (None: unlimited). ``limit``: the level whose
    memory.swap.max / memsw limit binds. ``usage_bytes``: swap in use, before clamping.
    ``reason``: one line saying which rule applied.
    """

    total_kb: int
    used_kb: int
    allowance_kb: int | None
    limit: LimitLevel | None
    usage_bytes: int
    host_total_kb: int
    reason: str

    def allowance_text(self) -> str:
        """The allowance in words: ``unlimited``, ``262144 kB set on /a``, ``0 kB``."""
        if self.allowance_kb is None:
            return "unlimited"
        if self.limit is not None:
            return f"{self.allowance_kb} kB set on {self.limit.path}"
        return f"{self.allowance_kb} kB"

    def quantities(self) -> dict[str, object]:
        """The swap quantities the meminfo and swaps provenance tables refer to."""
        return {
            "swap_reason": self.reason,
            "swap_allowance": self.allowance_text(),
            "swap_allowance_kb": "unlimited" if self.allowance_kb is None else self.allowance_kb,
            "swap_limit_path": self.limit.path if self.limit is not None else "none",
            "swap_usage_bytes": self.usage_bytes,
            "host_swap_total_kb": self.host_total_kb,
            "swap_total_kb": self.total_kb,
            "swap_used_kb": self.used_kb,
            "swap_free_kb": self.total_kb - self.used_kb,
        }


# The files the swap figures come from, for the provenance tables of meminfo and swaps.
SWAP_SOURCES = (
    "<memory cgroup and ancestors>/memory.swap.max (v2) or memory.memsw.limit_in_bytes "
    "and memory.limit_in_bytes (v1)",
    "<memory cgroup>/memory.swap.current (v2) or memory.memsw.usage_in_bytes and "
    "memory.usage_in_bytes (v1)",
    "<memory cgroup>/memory.swappiness (v1)",
    "host /proc/meminfo SwapTotal",
)


class _Unset(enum.Enum):
    UNSET = enum.auto()


def swap_figures(
    memory: MemoryCgroup,
    options: RenderOptions,
    host_swap_total_kb: int,
    *,
    ram: LimitLevel | Literal[_Unset.UNSET] | None = _Unset.UNSET,
) -> SwapFigures:
    """The container's swap (rule 3), capped by the host's SwapTotal. ``ram`` is
    ``ram_limit(memory)`` when the caller has it already (meminfo does)."""
    return SwapFigures(*_swap_fields(memory, options, host_swap_total_kb, ram))


def swap_kb(
    memory: MemoryCgroup,
    options: RenderOptions,
    host_swap_total_kb: int,
    *,
    ram: LimitLevel | Literal[_Unset.UNSET] | None = _Unset.UNSET,
) -> tuple[int, int]:
    """``swap_figures``' ``(total_kb, used_kb)`` alone: what meminfo's lines need on every
    render, without the ``SwapFigures`` only its --explain words read."""
    fields = _swap_fields(memory, options, host_swap_total_kb, ram)
    return fields[0], fields[1]


# SwapFigures' fields, in its order.
_SwapFields = tuple[int, int, int | None, LimitLevel | None, int, int, str]


def _swap_fields(
    memory: MemoryCgroup,
    options: RenderOptions,
    host_swap_total_kb: int,
    ram: LimitLevel | Literal[_Unset.UNSET] | None,
) -> _SwapFields:
    host_kb = max(0, host_swap_total_kb)
    if options.disable_swap:
        return 0, 0, 0, None, 0, host_kb, "swap hidden by --disable-swap"
    accounting = memory.swap
    if accounting is None:
        return 0, 0, 0, None, 0, host_kb, "the kernel does no swap accounting here"
    level = _finite(effective_limit(accounting.limits))
    if memory.version == "v2":
        allowance = None if level is None else level.limit
        usage = max(0, accounting.usage)
        rule = "memory.swap.max"
    else:
        if ram is _Unset.UNSET:
            ram = ram_limit(memory)
        if level is None:
            allowance = None
        else:
            # memsw finite but no memory limit cannot happen in a real v1 tree (the kernel
            # keeps memsw >= memory at every level); memsw - unlimited is no swap.
            ram_bytes = ram.limit if ram is not None and ram.limit is not None else None
            allowance = 0 if ram_bytes is None else max(0, (level.limit or 0) - ram_bytes)
        usage = max(0, accounting.usage - memory.usage)
        rule = "memory.memsw.limit_in_bytes - memory.limit_in_bytes"
    allowance_kb = None if allowance is None else allowance // 1024
    total_kb = host_kb if allowance_kb is None else min(allowance_kb, host_kb)
    used_kb = usage // 1024
    if memory.swappiness == 0:
        # Upstream: "swappiness 0 => pretend we cannot swap": show only what is swapped now.
        total_kb = min(total_kb, used_kb)
        rule += "; memory.swappiness 0 shows only the swap in use"
    return total_kb, min(used_kb, total_kb), allowance_kb, level, usage, host_kb, rule
