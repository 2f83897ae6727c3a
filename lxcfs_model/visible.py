"""The one visible-CPU policy: which host CPUs a container sees, and under which numbers.

Rules:
1. One value per request. cpuinfo, stat, uptime's idle and the sys cpu view all call
   ``visible_cpus`` with the same inputs, so they always agree.
2. The set is the container's effective cpuset intersected with the host's online CPUs. An
   unknown cpuset (no cpuset controller), or one that shares no CPU with the online set,
   shows every online CPU: a container never sees zero CPUs.
3. With ``--enable-cfs`` the set is further capped to ceil(smallest quota/period over the
   cpu cgroup and its ancestors) CPUs, keeping the lowest-numbered ones (upstream's cpu view
   keeps the first online CPUs of the cpuset too).
4. Numbering: the container sees its CPUs as 0..k-1, in host order, in *every* file.
   Upstream 5.0.3 renumbers in cpuinfo but prints host numbers in stat and online without
   --enable-cfs; we are consistent instead (documented in docs/).
"""

from __future__ import annotations

import math

import attrs

from lxcfs_model.cpuset import format_cpuset
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import QuotaLevel

__all__ = ["VisibleCpus", "smallest_quota", "visible_cpus", "visible_quantities"]


@attrs.frozen
class VisibleCpus:
    """The CPUs a container sees. ``host_cpus[k]`` is the host CPU shown as CPU ``k``."""

    host_cpus: tuple[int, ...]
    cpuset: frozenset[int] | None
    quota: QuotaLevel | None
    quota_cap: int | None

    @property
    def count(self) -> int:
        return len(self.host_cpus)


def smallest_quota(levels: tuple[QuotaLevel, ...]) -> QuotaLevel | None:
    """The level with the smallest quota ratio (innermost wins ties), or None if none is set."""
    best: QuotaLevel | None = None
    best_ratio = math.inf
    for level in levels:
        ratio = level.ratio
        if ratio is not None and ratio < best_ratio:
            best, best_ratio = level, ratio
    return best


def visible_cpus(inputs: RenderInputs) -> VisibleCpus:
    """Apply the policy above to one request's inputs."""
    online = inputs.host.online_cpus
    cpuset = inputs.view.cpuset.cpus if inputs.view.cpuset is not None else None
    chosen = sorted(online & cpuset) if cpuset is not None else sorted(online)
    if not chosen:
        # A cpuset entirely offline (or an unreadable online file): show what the host shows
        # rather than nothing; zero CPUs breaks every runtime that divides by the count.
        chosen = sorted(online) or sorted(cpuset or ()) or [0]
    quota = None
    cap = None
    if inputs.options.enable_cfs and inputs.view.cpu is not None:
        quota = smallest_quota(inputs.view.cpu.quotas)
        if quota is not None and quota.quota_us is not None:
            # Integer ceiling: a float ratio could turn 300000/100000 into 3.0000000000000004.
            cap = max(1, -(-quota.quota_us // quota.period_us))
            chosen = chosen[:cap]
    return VisibleCpus(host_cpus=tuple(chosen), cpuset=cpuset, quota=quota, quota_cap=cap)


def visible_quantities(visible: VisibleCpus, online: frozenset[int]) -> dict[str, object]:
    """The quantities the provenance tables of every CPU-counting file name, worded once:
    the host CPUs shown, how many, the cpuset and online set they came from, the quota cap."""
    return {
        "visible_cpus": format_cpuset(visible.host_cpus),
        "visible_count": visible.count,
        "cpuset": "none (no cpuset controller)"
        if visible.cpuset is None
        else format_cpuset(visible.cpuset) or "empty",
        "online": format_cpuset(online) or "unreadable",
        "quota_cap": visible.quota_cap if visible.quota_cap is not None else "none",
    }
