"""/proc/slabinfo for one container: its v1 ``memory.kmem.slabinfo``, else the host's file.

Rules:
1. Never reads host state; the cgroup's text is ``MemoryCgroup.kmem_slabinfo``, which the
   reader fills only where the kernel has per-cgroup slabinfo (v1 with kmem accounting: the
   hierarchy root has ``memory.kmem.slabinfo``, spec 3.10). cgroup v2 has none.
2. The cgroup's text is served verbatim (same 2.1 format as the host's); no memory.stat
   slab keys are used here.
3. Fallback: no memory cgroup, or no per-cgroup slabinfo -> the host's /proc/slabinfo
   unchanged (empty if the host's is unreadable, as for any host file the host lacks).
   An *empty* memory.kmem.slabinfo counts as none: kernels since 5.9 keep the file in v1
   cgroups but print nothing for a new cgroup, and 5.0.3 then serves the host's file too.
"""

from __future__ import annotations

from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, host_fallback

__all__ = ["PROVENANCE", "render"]

PROVENANCE = FileProvenance(
    path="proc/slabinfo",
    summary=(
        "The container's memory.kmem.slabinfo (cgroup v1 with kmem accounting) verbatim, "
        "else the host's /proc/slabinfo."
    ),
    rules=(
        LineRule(
            "slabinfo",
            ("<memory cgroup>/memory.kmem.slabinfo (v1)",),
            "every line verbatim from {source}",
        ),
    ),
    passthrough="With per-cgroup slabinfo every line is the cgroup file's, unchanged.",
    fallback=(
        "No memory cgroup, or no or an empty per-cgroup slabinfo (cgroup v2, v1 without kmem "
        "accounting, or a kernel that prints nothing there): the host's /proc/slabinfo "
        "unchanged."
    ),
)


def render(inputs: RenderInputs) -> Rendered:
    """The container's /proc/slabinfo (module rules 1-3)."""
    memory = inputs.view.memory
    if memory is None:
        return host_fallback(inputs.host.slabinfo, inputs, "no memory cgroup for this container")
    if not memory.kmem_slabinfo or not memory.kmem_slabinfo.strip():
        return host_fallback(
            inputs.host.slabinfo, inputs, f"no or empty memory.kmem.slabinfo for {memory.path}"
        )
    source = f"{memory.path}/memory.kmem.slabinfo"
    return Rendered(
        text=memory.kmem_slabinfo, history=inputs.history, quantities={"source": source}
    )
