"""/proc/swaps for one container: upstream's header and at most one virtual device.

Rules:
1. Never reads host state. The swap figures are ``lxcfs_model.memory.swap_figures``, the
   same ones /proc/meminfo's SwapTotal/SwapFree show, so Size == SwapTotal and
   Used == SwapTotal - SwapFree always.
2. Format (upstream, byte for byte): the header
   ``Filename\\t\\t\\t\\tType\\t\\tSize\\tUsed\\tPriority\\n`` (single tabs after Size and
   Used, unlike the 6.x kernel's own header), then, only when the container has swap,
   ``none`` + 36 spaces + ``virtual\\t\\t<size kB>\\t<used kB>\\t0\\n``. The host's devices
   are never listed.
3. Fallback: no memory cgroup -> the host's /proc/swaps unchanged (spec 3.12).
   Deviation from upstream, which serves an *empty* file when the limit, usage or host
   meminfo cannot be read: values that cannot be read never reach us (the reader then gives
   no memory cgroup, hence the host file), and a host meminfo without SwapTotal counts as
   "the host has no swap": header only. The file is never empty.
"""

from __future__ import annotations

from lxcfs_model.memory import SWAP_SOURCES, swap_figures
from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback

__all__ = ["HEADER", "PROVENANCE", "render"]

HEADER = "Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n"

PROVENANCE = FileProvenance(
    path="proc/swaps",
    summary=(
        "Upstream's header and, when the container may swap, one virtual device 'none' "
        "whose size and use are the container's swap (the SwapTotal/SwapFree of "
        "/proc/meminfo)."
    ),
    rules=(
        LineRule("Filename", (), "the fixed header line"),
        LineRule(
            "none",
            SWAP_SOURCES,
            "Size = {swap_reason}; the allowance over {cgroup_path} and its ancestors: "
            "{swap_allowance}; capped by host SwapTotal {host_swap_total_kb} kB = "
            "{swap_total_kb} kB; Used = swap in use {swap_usage_bytes} bytes / 1024, at most "
            "Size = {swap_used_kb} kB; Priority 0; "
            "the line is left out when Size is 0",
        ),
    ),
    fallback="No memory cgroup for the container: the host's /proc/swaps unchanged.",
)

_DEVICE = "none" + " " * 36 + "virtual\t\t"


def render(inputs: RenderInputs) -> Rendered:
    """The container's /proc/swaps (module rules 1-3)."""
    memory = inputs.view.memory
    if memory is None:
        return host_fallback(inputs.host.swaps, inputs, "no memory cgroup for this container")
    swap = swap_figures(memory, inputs.options, inputs.host.meminfo_kb.get("SwapTotal", 0))
    text = HEADER
    if swap.total_kb > 0:
        text += f"{_DEVICE}{swap.total_kb}\t{swap.used_kb}\t0\n"
    quantities: dict[str, object] = {
        "cgroup_path": memory.path,
        "cgroup_version": memory.version,
        **swap.quantities(),
    }
    return Rendered(text=text, history=inputs.history, quantities=quantities)
