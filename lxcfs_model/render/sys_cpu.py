"""/sys/devices/system/cpu for one container: the CPU list files and the directory policy.

Rules:
1. The CPUs come from ``lxcfs_model.visible`` (the one policy) and are numbered 0..k-1, as
   in /proc/cpuinfo and /proc/stat. ``online``, ``possible`` and ``present`` all print
   ``0-<k-1>`` (``0`` for one CPU) and a newline; ``offline`` prints the kernel's empty
   line, as no shown CPU is offline. Upstream 5.0.3 prints the host's cpuset numbers in
   ``online`` without --enable-cfs and leaves ``possible``/``present`` to the host; we do
   not, so glibc's ``_SC_NPROCESSORS_ONLN`` and ``_SC_NPROCESSORS_CONF`` both equal k.
2. The directory seen by the container (``cpu_directory_map``, ``directory_entries``):
   exactly one ``cpuK`` directory per shown CPU, ``cpuK`` being the host's directory of
   the host CPU shown as K (its contents pass through unchanged); the host's other
   ``cpuN`` directories are hidden. glibc counts ``cpuN`` directories for
   ``_SC_NPROCESSORS_CONF``: upstream shows every host ``cpuN`` next to ``online = 0``
   (upstream issue #731), we keep the two coherent.
3. Every other entry of the host directory passes through unchanged
   (``PASSTHROUGH_ENTRIES`` lists the known ones and why); the four list files above are
   rendered. Writes are for the FUSE adapter to refuse (upstream ce8e6e9).
4. Never raises: the visible set is never empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from lxcfs_model.cpuset import format_cpuset
from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs
from lxcfs_model.visible import visible_cpus, visible_quantities

__all__ = [
    "PASSTHROUGH_ENTRIES",
    "PROVENANCE_OFFLINE",
    "PROVENANCE_ONLINE",
    "PROVENANCE_POSSIBLE",
    "PROVENANCE_PRESENT",
    "RENDERED_ENTRIES",
    "cpu_directory_map",
    "directory_entries",
    "is_cpu_directory",
    "render_offline",
    "render_online",
    "render_possible",
    "render_present",
]

_BASE = "sys/devices/system/cpu/"
_SOURCES = (
    "cpuset.cpus / cpuset.effective_cpus",
    "cpu.cfs_quota_us + cpu.cfs_period_us (v1) / cpu.max (v2), with --enable-cfs",
    "host /sys/devices/system/cpu/online",
)

# The files of /sys/devices/system/cpu this module renders; the adapter serves them from
# lxcfs_model.files, never from the host.
RENDERED_ENTRIES: tuple[str, ...] = ("online", "offline", "possible", "present")

# Other entries of the host directory, shown unchanged. The list documents the ones a
# 6.x kernel has; an entry not listed here (a newer kernel's) passes through as well.
PASSTHROUGH_ENTRIES: Mapping[str, str] = {
    "kernel_max": "NR_CPUS - 1 of the kernel: a build constant, not a CPU count",
    "modalias": "the cpu bus's module alias (CPU feature flags for udev)",
    "uevent": "udev event file; the LXC hook bind-mounts the whole directory when it exists",
    "vulnerabilities": "host CPU bug mitigations: the container runs on the same silicon",
    "cpufreq": "frequency policies (policyN is the host's numbering; informational)",
    "cpuidle": "idle driver and governor of the host",
    "hotplug": "hotplug state machine of the host (read-only for the container)",
    "power": "runtime power management of the cpu subsystem device",
    "smt": "SMT control and activity of the host",
    "isolated": "isolcpus= CPUs, host numbering (informational)",
    "nohz_full": "nohz_full= CPUs, host numbering (informational)",
    "enabled": "the host's enabled-CPU list file of newer kernels (informational)",
    "crash_hotplug": "kexec crash-kernel hotplug support flag",
    "intel_pstate": "P-state driver of the host",
    "amd_pstate": "P-state driver of the host",
    "microcode": "microcode reload interface (writes refused like every write)",
    "umwait_control": "UMWAIT limits of the host",
    "aux": "auxiliary CPU devices",
}

_CPU_DIRECTORY = re.compile(r"cpu([0-9]+)")


def is_cpu_directory(name: str) -> bool:
    """Whether ``name`` is a per-CPU directory (``cpu0``, ``cpu17``; not ``cpufreq``)."""
    return _CPU_DIRECTORY.fullmatch(name) is not None


def cpu_directory_map(inputs: RenderInputs) -> Mapping[str, str]:
    """The container's ``cpuK`` directories -> the host ``cpuH`` directory each one shows,
    for exactly the visible CPUs, in container order."""
    return {f"cpu{index}": f"cpu{cpu}" for index, cpu in enumerate(visible_cpus(inputs).host_cpus)}


def directory_entries(host_entries: Iterable[str], inputs: RenderInputs) -> tuple[str, ...]:
    """The listing of /sys/devices/system/cpu a container sees, given the host's listing:
    the host's non-``cpuN`` entries (the rendered list files included, each once), then the
    container's ``cpuK`` directories."""
    seen: set[str] = set()
    entries: list[str] = []
    for name in host_entries:
        if name in (".", "..") or is_cpu_directory(name) or name in seen:
            continue
        seen.add(name)
        entries.append(name)
    for name in RENDERED_ENTRIES:
        if name not in seen:
            entries.append(name)
    entries.extend(cpu_directory_map(inputs))
    return tuple(entries)


def _rule(name: str, formula: str) -> FileProvenance:
    return FileProvenance(
        path=_BASE + name,
        summary=f"{name}: the container's CPUs, numbered 0..k-1 as in /proc/cpuinfo and /proc/stat",
        rules=(LineRule(label=name, sources=_SOURCES, formula=formula),),
    )


_LIST_FORMULA = (
    "0..{last_index}: the {visible_count} visible CPUs (host CPUs {visible_cpus}: cpuset "
    "{cpuset} ∩ online {online}, quota cap {quota_cap}), renumbered"
)
PROVENANCE_ONLINE = _rule("online", _LIST_FORMULA)
PROVENANCE_POSSIBLE = _rule("possible", _LIST_FORMULA)
PROVENANCE_PRESENT = _rule("present", _LIST_FORMULA)
PROVENANCE_OFFLINE = _rule(
    "offline", "empty: none of the {visible_count} CPUs the container sees is offline"
)


def _render_list(inputs: RenderInputs) -> Rendered:
    visible = visible_cpus(inputs)
    quantities = visible_quantities(visible, inputs.host.online_cpus)
    quantities["last_index"] = visible.count - 1
    # The kernel's cpulist format ("%*pbl\n"): "0" for one CPU, "0-3" for four.
    text = format_cpuset(range(visible.count)) + "\n"
    return Rendered(text=text, history=inputs.history, quantities=quantities)


def render_online(inputs: RenderInputs) -> Rendered:
    """``online``: ``0-<k-1>`` for the k visible CPUs."""
    return _render_list(inputs)


def render_possible(inputs: RenderInputs) -> Rendered:
    """``possible``: the same list as ``online`` (a container cannot hotplug CPUs)."""
    return _render_list(inputs)


def render_present(inputs: RenderInputs) -> Rendered:
    """``present``: the same list as ``online``."""
    return _render_list(inputs)


def render_offline(inputs: RenderInputs) -> Rendered:
    """``offline``: the kernel's empty line; no CPU the container sees is offline."""
    return Rendered(
        text="\n", history=inputs.history, quantities={"visible_count": visible_cpus(inputs).count}
    )
