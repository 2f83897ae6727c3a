"""/proc/meminfo for one container: the host's file with the memory cgroup's lines swapped in.

Rules:
1. Never reads host state: the host's text comes in the ``HostSnapshot``, the cgroup's
   numbers in ``CgroupView.memory``. Limits, swap and memory.stat keys follow the one policy
   in ``lxcfs_model.memory``.
2. The output has exactly the host's lines, in the host's order: lines this module computes
   (``host_memory.COMPUTED_LABELS``, one ``PROVENANCE`` rule each, matched by their exact
   label, so ``Active`` never catches ``Active(anon)`` and ``Writeback`` never
   ``WritebackTmp``, spec 8.10) are replaced, every other line passes through byte for byte.
   A computed line the host lacks (no ``Zswap`` without CONFIG_ZSWAP) is not added.
3. Replaced lines use the kernel's ``show_val_kb`` format: ``"<label>:"`` padded to 16
   columns, the value ``%8lu``, ``" kB"``. (Upstream 7.0 pads ``Zswap:`` to 15 columns; the
   kernel and 5.0.3, which passes the host line through, use 16, and so do we.)
4. Never garbage, whatever the inputs: no negative numbers; where upstream's unsigned
   arithmetic wraps (usage above the limit) we clamp at 0. Always
   0 <= MemFree <= MemAvailable <= MemTotal, MemTotal > 0, and 0 <= SwapFree <= SwapTotal.
5. Fallbacks (spec 3.12): no memory cgroup (``view.memory`` None, which the reader also
   reports for unreadable or malformed memory files) or a host file without MemTotal ->
   the host's file unchanged, with the reason in ``Rendered.fallback``.

Values (kB; v1 keys are the hierarchical ``total_*`` ones, v2 the plain ones):
MemTotal = min(limit over the cgroup and its ancestors, host MemTotal); no limit, or a limit
under 1 kB (0), shows the host's MemTotal as upstream does. MemFree = MemTotal - usage.
MemAvailable = MemFree + active_file + inactive_file + slab_reclaimable (upstream 7.0), at
most MemTotal. The rest are memory.stat amounts, see ``PROVENANCE``.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

from lxcfs_model.memory import (
    STAT_FIELDS,
    SWAP_SOURCES,
    V1_STAT_KEYS,
    V2_STAT_KEYS,
    StatKeys,
    ram_limit,
    swap_figures,
    swap_kb,
)
from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, WordedOnFirstRead, host_fallback
from lxcfs_model.values import LimitLevel, MemoryCgroup, RenderOptions

__all__ = ["PROVENANCE", "render"]

_STAT = "<memory cgroup>/memory.stat"
_HOST = "host /proc/meminfo"
_LIMIT_SOURCES = (
    "<memory cgroup and ancestors>/memory.limit_in_bytes (v1) or memory.max (v2)",
    _HOST + " MemTotal",
)


def _stat_rule(label: str, name: str) -> LineRule:
    return LineRule(label, (_STAT,), f"memory.stat {{{name}_key}} = {{{name}_bytes}} bytes / 1024")


def _zero_rule(label: str, why: str) -> LineRule:
    return LineRule(label, (), f"0: {why}")


PROVENANCE = FileProvenance(
    path="proc/meminfo",
    summary=(
        "The host's /proc/meminfo with the memory, LRU, slab and swap lines computed from "
        "the container's memory cgroup; every other line is the host's."
    ),
    rules=(
        LineRule(
            "MemTotal",
            _LIMIT_SOURCES,
            "{limit_file} minimum over {cgroup_path} and its ancestors: {limit}; capped by "
            "host MemTotal {host_mem_total_kb} kB (no limit, or one under 1 kB, shows the "
            "host's) = {mem_total_kb} kB",
        ),
        LineRule(
            "MemFree",
            ("<memory cgroup>/memory.usage_in_bytes (v1) or memory.current (v2)",),
            "MemTotal {mem_total_kb} kB - usage {usage_kb} kB ({usage_file} = {usage_bytes} "
            "bytes), 0 when usage exceeds MemTotal = {mem_free_kb} kB",
        ),
        LineRule(
            "MemAvailable",
            (_STAT,),
            "MemFree {mem_free_kb} kB + ({active_file_key} {active_file_bytes} + "
            "{inactive_file_key} {inactive_file_bytes} + {slab_reclaimable_key} "
            "{slab_reclaimable_bytes} bytes) / 1024, at most MemTotal = {mem_available_kb} kB",
        ),
        _zero_rule("Buffers", "memory cgroups do not account buffers apart from the cache"),
        _stat_rule("Cached", "cache"),
        _zero_rule("SwapCached", "not shown per container (as upstream)"),
        LineRule(
            "Active",
            (_STAT,),
            "({active_anon_key} {active_anon_bytes} + {active_file_key} {active_file_bytes} "
            "bytes) / 1024",
        ),
        LineRule(
            "Inactive",
            (_STAT,),
            "({inactive_anon_key} {inactive_anon_bytes} + {inactive_file_key} "
            "{inactive_file_bytes} bytes) / 1024",
        ),
        _stat_rule("Active(anon)", "active_anon"),
        _stat_rule("Inactive(anon)", "inactive_anon"),
        _stat_rule("Active(file)", "active_file"),
        _stat_rule("Inactive(file)", "inactive_file"),
        _stat_rule("Unevictable", "unevictable"),
        LineRule(
            "SwapTotal",
            SWAP_SOURCES,
            "{swap_reason}; the allowance over {cgroup_path} and its ancestors: "
            "{swap_allowance}; capped by host SwapTotal {host_swap_total_kb} kB "
            "= {swap_total_kb} kB",
        ),
        LineRule(
            "SwapFree",
            SWAP_SOURCES,
            "SwapTotal {swap_total_kb} kB - swap in use {swap_used_kb} kB (memory.swap.current "
            "on v2, memsw usage - memory usage on v1 = {swap_usage_bytes} bytes, at most "
            "SwapTotal) = {swap_free_kb} kB",
        ),
        LineRule(
            "Zswap",
            (_STAT,),
            "memory.stat {zswap_key} = {zswap_bytes} bytes / 1024 when the kernel accounts "
            "zswap for the cgroup (v2) and --disable-zswap is off ({zswap_shown}), else 0",
        ),
        LineRule(
            "Zswapped",
            (_STAT,),
            "memory.stat {zswapped_key} = {zswapped_bytes} bytes / 1024 when zswap is shown "
            "({zswap_shown}), else 0",
        ),
        _stat_rule("Dirty", "dirty"),
        _stat_rule("Writeback", "writeback"),
        LineRule(
            "AnonPages",
            (_STAT,),
            "({active_anon_key} {active_anon_bytes} + {inactive_anon_key} "
            "{inactive_anon_bytes} - {shmem_key} {shmem_bytes} bytes) / 1024, at least 0",
        ),
        _stat_rule("Mapped", "mapped"),
        _stat_rule("Shmem", "shmem"),
        _stat_rule("Slab", "slab"),
        _stat_rule("SReclaimable", "slab_reclaimable"),
        _stat_rule("SUnreclaim", "slab_unreclaimable"),
        _stat_rule("AnonHugePages", "anon_huge"),
        _stat_rule("ShmemHugePages", "shmem_huge"),
        _zero_rule("ShmemPmdMapped", "no per-cgroup counter"),
    ),
    passthrough=(
        "Every other line (Mlocked, KReclaimable, KernelStack, PageTables, CommitLimit, "
        "Committed_AS, Vmalloc*, Percpu, HugePages_*, Hugepagesize, Hugetlb, DirectMap*, ...) "
        "is the host's line unchanged, in the host's order."
    ),
    fallback=(
        "No memory cgroup for the container (missing, unreadable or malformed memory files), "
        "or a host file without MemTotal: the host's /proc/meminfo unchanged."
    ),
)

# The table has one rule per label in host_memory.COMPUTED_LABELS, in that order (the layout
# fills exactly those lines); tests/unit/test_meminfo.py holds the two together.

# Per version, resolved once: the memory.stat keys that version prints (in STAT_FIELDS
# order), and how to spread what they read over all of STAT_FIELDS, 0 for the quantities
# that version has no key for. A render then reads its amounts in two C-level calls.
_STAT_KEYS = {
    version: tuple(getattr(keys, name) for name in STAT_FIELDS if getattr(keys, name))
    for version, keys in (("v1", V1_STAT_KEYS), ("v2", V2_STAT_KEYS))
}
_NO_AMOUNTS = (0,) * len(STAT_FIELDS)


def _spread(keys: StatKeys) -> Callable[[tuple[int, ...]], tuple[int, ...]]:
    """From the amounts of the keys ``keys`` prints, then a 0, all of STAT_FIELDS' amounts."""
    printed = [name for name in STAT_FIELDS if getattr(keys, name)]
    the_zero = len(printed)
    return operator.itemgetter(
        *(printed.index(name) if name in printed else the_zero for name in STAT_FIELDS)
    )


_SPREAD = {"v1": _spread(V1_STAT_KEYS), "v2": _spread(V2_STAT_KEYS)}
# The amounts' quantity names ("cache_bytes", ...), in STAT_FIELDS order.
_AMOUNT_NAMES = tuple(f"{name}_bytes" for name in STAT_FIELDS)
_KEY_QUANTITIES = {
    version: {
        f"{name}_key": getattr(keys, name) or f"(none in {version} memory.stat)"
        for name in STAT_FIELDS
    }
    for version, keys in (("v1", V1_STAT_KEYS), ("v2", V2_STAT_KEYS))
}


def render(inputs: RenderInputs) -> Rendered:
    """The container's /proc/meminfo (module rules 1-5)."""
    memory = inputs.view.memory
    host = inputs.host
    if memory is None:
        return host_fallback(host.meminfo, inputs, "no memory cgroup for this container")
    layout = host.meminfo_layout
    host_total_kb = layout.host_mem_total_kb or 0
    if host_total_kb <= 0:
        return host_fallback(host.meminfo, inputs, "host /proc/meminfo has no MemTotal")

    limit = ram_limit(memory)
    limit_kb = None if limit is None or limit.limit is None else limit.limit // 1024
    # Upstream 7.0: a limit that rounds to 0 kB shows the host (it cannot be shown as 0).
    mem_total_kb = min(limit_kb, host_total_kb) if limit_kb else host_total_kb
    usage_bytes = max(0, memory.usage)
    mem_free_kb = max(0, mem_total_kb - usage_bytes // 1024)

    # memory.stat amounts in bytes, in STAT_FIELDS order. Absent keys (that version does
    # not print them) and nonsense negatives read as 0.
    version = memory.version
    amounts: tuple[int, ...] = _SPREAD[version](
        (*map(memory.stat.get, _STAT_KEYS[version], _NO_AMOUNTS), 0)
    )
    if min(amounts) < 0:
        amounts = tuple(map(max, amounts, _NO_AMOUNTS))
    (
        cache,
        shmem,
        mapped,
        dirty,
        writeback,
        anon_huge,
        shmem_huge,
        active_anon,
        inactive_anon,
        active_file,
        inactive_file,
        unevictable,
        slab,
        slab_reclaimable,
        slab_unreclaimable,
        zswap,
        zswapped,
    ) = amounts  # STAT_FIELDS order: test_meminfo.py exact contents fail on any swap
    reclaimable = active_file + inactive_file + slab_reclaimable
    mem_available_kb = min(mem_total_kb, mem_free_kb + reclaimable // 1024)

    options = inputs.options
    host_swap_kb = layout.host_swap_total_kb or 0
    swap_total_kb, swap_used_kb = swap_kb(memory, options, host_swap_kb, ram=limit)
    zswap_shown = memory.zswap_accounting and not options.disable_zswap

    # One number per host_memory.COMPUTED_LABELS entry, in that order (what fill takes).
    text = layout.fill(
        (
            mem_total_kb,  # MemTotal
            mem_free_kb,  # MemFree
            mem_available_kb,  # MemAvailable
            0,  # Buffers
            cache // 1024,  # Cached
            0,  # SwapCached
            (active_anon + active_file) // 1024,  # Active
            (inactive_anon + inactive_file) // 1024,  # Inactive
            active_anon // 1024,  # Active(anon)
            inactive_anon // 1024,  # Inactive(anon)
            active_file // 1024,  # Active(file)
            inactive_file // 1024,  # Inactive(file)
            unevictable // 1024,  # Unevictable
            swap_total_kb,  # SwapTotal
            swap_total_kb - swap_used_kb,  # SwapFree
            zswap // 1024 if zswap_shown else 0,  # Zswap
            zswapped // 1024 if zswap_shown else 0,  # Zswapped
            dirty // 1024,  # Dirty
            writeback // 1024,  # Writeback
            max(0, active_anon + inactive_anon - shmem) // 1024,  # AnonPages
            mapped // 1024,  # Mapped
            shmem // 1024,  # Shmem
            slab // 1024,  # Slab
            slab_reclaimable // 1024,  # SReclaimable
            slab_unreclaimable // 1024,  # SUnreclaim
            anon_huge // 1024,  # AnonHugePages
            shmem_huge // 1024,  # ShmemHugePages
            0,  # ShmemPmdMapped
        )
    )
    # The words only --explain and the docs read, made then (a partial, not a closure: a
    # closure's cells cost every render).
    words = functools.partial(
        _word_quantities,
        memory,
        options,
        limit,
        host_total_kb,
        host_swap_kb,
        mem_total_kb,
        mem_free_kb,
        mem_available_kb,
        zswap_shown,
        amounts,
    )
    # Rendered(text, history, quantities), positional: keywords cost ~0.3 us a render.
    return Rendered(text, inputs.history, WordedOnFirstRead(words))


def _word_quantities(
    memory: MemoryCgroup,
    options: RenderOptions,
    limit: LimitLevel | None,
    host_total_kb: int,
    host_swap_kb: int,
    mem_total_kb: int,
    mem_free_kb: int,
    mem_available_kb: int,
    zswap_shown: bool,
    amounts: tuple[int, ...],
) -> dict[str, object]:
    """The quantities ``PROVENANCE`` refers to, from what ``render`` computed."""
    v1 = memory.version == "v1"
    limit_kb = None if limit is None or limit.limit is None else limit.limit // 1024
    usage_bytes = max(0, memory.usage)
    swap = swap_figures(memory, options, host_swap_kb, ram=limit)
    return {
        "cgroup_path": memory.path,
        "cgroup_version": memory.version,
        "limit_file": "memory.limit_in_bytes" if v1 else "memory.max",
        "limit": (
            f"{limit.limit} bytes set on {limit.path} = {limit_kb} kB"
            if limit is not None
            else "no limit set"
        ),
        "limit_path": limit.path if limit is not None else "none",
        "limit_bytes": limit.limit if limit is not None else "none",
        "limit_kb": limit_kb if limit_kb is not None else "none",
        "host_mem_total_kb": host_total_kb,
        "mem_total_kb": mem_total_kb,
        "usage_file": "memory.usage_in_bytes" if v1 else "memory.current",
        "usage_bytes": usage_bytes,
        "usage_kb": usage_bytes // 1024,
        "mem_free_kb": mem_free_kb,
        "mem_available_kb": mem_available_kb,
        "zswap_shown": zswap_shown,
        **swap.quantities(),
        **_KEY_QUANTITIES[memory.version],
        **dict(zip(_AMOUNT_NAMES, amounts, strict=True)),
    }
