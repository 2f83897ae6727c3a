"""Launcher settings: a container's CPU and memory limits as environment variables runtimes read.

Rules:
1. Pure, like every renderer: a ``CgroupView``, a ``HostSnapshot`` and ``RenderOptions`` in,
   values out. No file, clock or process is touched; the CLI's ``env`` command does the I/O.
2. The numbers come from the same policies the files use, so a launcher and /proc agree:
   the CPU count is ``visible_cpus(...).count`` (what /proc/cpuinfo lists and
   /sys/devices/system/cpu/online shows, under the same ``--enable-cfs`` choice), and the
   memory limit is /proc/meminfo's MemTotal rule (``memory.ram_limit``, the smallest limit on
   the path, in whole kB, capped by the host's MemTotal; a limit under 1 kB shows the host,
   as upstream's meminfo does).
3. An unlimited container (no memory limit below the host's RAM) gets no memory settings:
   runtimes already size themselves from the host, and a setting would only pin a guess.

Why this exists: LXCFS only changes what a program *reads from files*. Runtimes that ask the
kernel (``sysinfo(2)``, ``sched_getaffinity(2)``) or cgroupfs directly never see the mount;
these variables tell them the same numbers through the channel they do honour.
"""

from __future__ import annotations

import attrs

from lxcfs_model.cpuset import format_cpuset
from lxcfs_model.memory import ram_limit
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import CgroupView, HostSnapshot, RenderOptions
from lxcfs_model.visible import visible_cpus

__all__ = [
    "DEFAULT_GO_MEMORY_SHARE",
    "EnvSetting",
    "LauncherLimits",
    "container_limits",
    "launcher_environment",
]

# GOMEMLIMIT is a *soft* target for the Go heap; at 100% of the cgroup limit the kernel's OOM
# killer wins the race against the collector. 90% is the headroom the common automemlimit
# library defaults to.
DEFAULT_GO_MEMORY_SHARE = 0.9


@attrs.frozen
class LauncherLimits:
    """A container's limits as /proc shows them, and where each one came from.

    ``memory_bytes`` None: no limit below the host's memory (nothing to tell runtimes).
    """

    cpu_count: int
    cpu_reason: str
    memory_bytes: int | None
    memory_reason: str


@attrs.frozen
class EnvSetting:
    """One environment variable, the runtime that reads it, and why it has this value."""

    name: str
    value: str
    reads_it: str


def _cpu_reason(inputs: RenderInputs) -> tuple[int, str]:
    visible = visible_cpus(inputs)
    shown = format_cpuset(frozenset(visible.host_cpus))
    if visible.quota_cap is not None and visible.quota is not None:
        reason = (
            f"host CPUs {shown} (cpuset capped by the CFS quota "
            f"{visible.quota.quota_us}/{visible.quota.period_us} of {visible.quota.path})"
        )
    elif inputs.view.cpuset is not None:
        reason = f"host CPUs {shown} (effective cpuset of {inputs.view.cpuset.path})"
    else:
        reason = f"host CPUs {shown} (no cpuset: every online CPU)"
    return visible.count, reason


def _memory_reason(view: CgroupView, host: HostSnapshot) -> tuple[int | None, str]:
    host_total_kb = host.meminfo_kb.get("MemTotal")
    if view.memory is None:
        return None, "no memory cgroup: the host's memory"
    level = ram_limit(view.memory)
    if level is None or level.limit is None:
        return None, f"no memory limit on {view.memory.path} or its ancestors"
    limit_kb = level.limit // 1024
    if limit_kb == 0:
        # /proc/meminfo shows the host's MemTotal for a limit below 1 kB (spec 3.2); agree.
        return None, f"limit {level.limit} bytes of {level.path} is under 1 kB: host memory"
    if host_total_kb is not None and limit_kb >= host_total_kb:
        return None, f"limit of {level.path} is not below the host's MemTotal"
    return limit_kb * 1024, f"memory limit of {level.path} (MemTotal {limit_kb} kB)"


def container_limits(
    view: CgroupView, host: HostSnapshot, options: RenderOptions | None = None
) -> LauncherLimits:
    """The CPU count and memory limit /proc shows this container, with their sources."""
    inputs = RenderInputs(view=view, host=host, options=options or RenderOptions())
    cpu_count, cpu_reason = _cpu_reason(inputs)
    memory_bytes, memory_reason = _memory_reason(view, host)
    return LauncherLimits(
        cpu_count=cpu_count,
        cpu_reason=cpu_reason,
        memory_bytes=memory_bytes,
        memory_reason=memory_reason,
    )


def launcher_environment(
    limits: LauncherLimits, go_memory_share: float = DEFAULT_GO_MEMORY_SHARE
) -> tuple[EnvSetting, ...]:
    """The environment settings that hand ``limits`` to common runtimes, in a stable order."""
    cpus = str(limits.cpu_count)
    settings = [
        EnvSetting(
            "PYTHON_CPU_COUNT", cpus, "Python >= 3.13: os.cpu_count(), os.process_cpu_count()"
        ),
        EnvSetting("GOMAXPROCS", cpus, "Go runtime: threads running Go code at once"),
        EnvSetting("OMP_NUM_THREADS", cpus, "OpenMP runtimes, and coreutils nproc"),
        EnvSetting("OPENBLAS_NUM_THREADS", cpus, "OpenBLAS thread pool"),
        EnvSetting("MKL_NUM_THREADS", cpus, "Intel MKL thread pool"),
        EnvSetting("RAYON_NUM_THREADS", cpus, "Rust rayon global pool"),
        EnvSetting("TOKIO_WORKER_THREADS", cpus, "Rust tokio multi-thread runtime"),
        EnvSetting("DOTNET_PROCESSOR_COUNT", cpus, ".NET >= 6: Environment.ProcessorCount"),
    ]
    java = [f"-XX:ActiveProcessorCount={cpus}"]
    if limits.memory_bytes is not None:
        go_limit = int(limits.memory_bytes * go_memory_share)
        settings.append(
            EnvSetting("GOMEMLIMIT", str(go_limit), "Go runtime: soft memory limit, in bytes")
        )
        # MaxRAM stands in for physical memory: the JVM then sizes its default heap from it
        # (MaxRAMPercentage, 25% by default) exactly as it would on a machine this large.
        java.append(f"-XX:MaxRAM={limits.memory_bytes}")
    settings.append(
        EnvSetting("JAVA_TOOL_OPTIONS", " ".join(java), "every JVM: processor count, heap sizing")
    )
    return tuple(settings)
