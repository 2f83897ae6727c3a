"""/proc/cpuinfo for one container: the host's blocks of the CPUs it sees, renumbered.

Rules:
1. The CPUs come from ``lxcfs_model.visible`` (the one policy): the block of the host CPU
   shown as CPU ``k`` is printed k-th, its first line rewritten ``processor\\t: k``, every
   other line of the block verbatim. This is the numbering /proc/stat (``cpuk``) and
   /sys/devices/system/cpu (``online`` = ``0-<k-1>``, directory ``cpuk``) use too.
2. Lines before the first ``processor`` line are dropped, as upstream does; a block runs up
   to the next ``processor`` line, so its blank separator line (and any trailing machine
   lines after the last CPU) go with it.
3. s390x (first line names ``IBM/S390``): the output starts with ``vendor_id       :
   IBM/S390`` and ``# processors    : <k>``, every other line is kept, and the
   ``processor N: ...`` lines of the shown CPUs are kept and renumbered (upstream 3.4).
   Beyond upstream, the per-CPU ``cpu number      : N`` blocks of newer kernels are
   filtered and renumbered the same way, so every per-CPU record agrees with /proc/stat.
4. A shown CPU without a host block (a snapshot taken across a CPU hotplug) still gets its
   ``processor`` line and a blank line, so the processor count always equals the number of
   visible CPUs. A host file with no processor line at all (an unknown format) is served
   as it is, with the reason in ``Rendered.fallback``.
5. Never raises; per-render work is proportional to the shown CPUs (the host file is cut
   into blocks once per snapshot, ``HostSnapshot.cpuinfo_layout``).
"""

from __future__ import annotations

from lxcfs_model.cpuset import format_cpuset
from lxcfs_model.host_cpu import CpuinfoLayout
from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, WordedOnFirstRead, host_fallback
from lxcfs_model.visible import VisibleCpus, visible_cpus, visible_quantities

__all__ = ["PROVENANCE", "render"]

_SOURCES = (
    "cpuset.cpus / cpuset.effective_cpus",
    "cpu.cfs_quota_us + cpu.cfs_period_us (v1) / cpu.max (v2), with --enable-cfs",
    "host /sys/devices/system/cpu/online",
    "host /proc/cpuinfo",
)

PROVENANCE = FileProvenance(
    path="proc/cpuinfo",
    summary=(
        "the host's cpuinfo blocks of the CPUs the container sees, renumbered 0..k-1 as in "
        "/proc/stat and /sys/devices/system/cpu"
    ),
    rules=(
        LineRule(
            label="processor",
            sources=_SOURCES,
            formula=(
                "{visible_count} CPUs: host CPUs {visible_cpus} (cpuset {cpuset} ∩ online "
                "{online}, quota cap {quota_cap}) shown as processor 0..{last_processor}; "
                "the rest of each block is the host CPU's, verbatim"
            ),
        ),
        LineRule(
            label="#",
            sources=_SOURCES,
            formula="s390x: # processors = {visible_count}, the number of CPUs shown",
        ),
    ),
    passthrough="the host CPU's own cpuinfo line, verbatim (same block as the processor line)",
    fallback="the host file, when it has no processor line the renderer recognises",
)


def render(inputs: RenderInputs) -> Rendered:
    """The container's /proc/cpuinfo (see the module rules)."""
    try:
        return _render(inputs)
    except Exception as error:  # the last line of defence: rule 2 of rendering.py
        return host_fallback(inputs.host.cpuinfo, inputs, f"internal error: {error!r}")


def _render(inputs: RenderInputs) -> Rendered:
    layout = inputs.host.cpuinfo_layout
    visible = visible_cpus(inputs)
    online = inputs.host.online_cpus
    if layout.s390x:
        text = _render_s390x(layout, visible)
    elif layout.blocks:
        text = "".join(
            f"processor\t: {index}\n" + layout.blocks.get(cpu, "\n")
            for index, cpu in enumerate(visible.host_cpus)
        )
    else:
        return host_fallback(
            inputs.host.cpuinfo, inputs, "the host cpuinfo has no 'processor : N' line"
        )

    def words() -> dict[str, object]:
        quantities = visible_quantities(visible, online)
        quantities["last_processor"] = visible.count - 1
        if not layout.s390x:
            missing = [cpu for cpu in visible.host_cpus if cpu not in layout.blocks]
            quantities["missing_host_blocks"] = format_cpuset(missing) or "none"
        return quantities

    # Worded only when read (--explain), as meminfo's: the daemon never reads them.
    return Rendered(text, inputs.history, WordedOnFirstRead(words))


def _render_s390x(layout: CpuinfoLayout, visible: VisibleCpus) -> str:
    shown = {cpu: index for index, cpu in enumerate(visible.host_cpus)}
    parts = ["vendor_id       : IBM/S390\n", f"# processors    : {visible.count}\n"]
    for segment in layout.segments:
        if segment.kind == "text":
            parts.append(segment.text)
        elif segment.cpu in shown:
            number = shown[segment.cpu]
            if segment.kind == "processor":
                parts.append(f"processor {number}:{segment.text}")
            else:
                parts.append(f"{segment.prefix}{number}{segment.text}")
    return "".join(parts)
