"""/proc/uptime for a container: how long its init has run, and how idle its CPUs were.

Rules:
1. Never reads host state; the clock (``inputs.clock.boottime``), the init's start time and its
   cgroup's CPU time arrive as values. A container whose init is unknown sees the host file.
2. Arithmetic is in integer centiseconds, truncated like the kernel's own /proc/uptime, so the
   printed idle never exceeds the printed uptime x visible CPUs by a rounding step.
3. Format ``%.2f %.2f\\n`` (two decimals, one blank), as the kernel and upstream print it.
4. The text depends on the clock only through ``text_clock(clock)`` (its whole centiseconds):
   the daemon keeps a text for the rest of its centisecond (``lxcfs_fuse.content``), so
   whatever else of the clock a change reads must go into ``text_clock`` too.

Theory: uptime is the age of the container's init (``boottime - starttime / CLK_TCK``, clamped
at 0). Idle keeps the kernel's meaning, idle time *summed over CPUs*: the container's visible
CPUs (``lxcfs_model.visible``, the same ``k`` cpuinfo and stat show) could have run for
``age x k`` seconds, and the cgroup's CPU time is what they did not idle, so
``idle = clamp(age x k - busy, 0, age x k)``. Unknown CPU time counts as none used.

Deliberate differences from upstream (spec 3.7):
- upstream prints ``idle = age - busy`` (or ``age`` when busy exceeds it): it compares time
  summed over all CPUs with wall time, so a busy multi-CPU container shows idle stuck at its
  uptime, and a quiet one shows idle < uptime x CPUs as the kernel never would;
- upstream prints age 0 when the init's start time is 0 and whole-second precision for
  CLOCK_BOOTTIME; we compute the real age from the full clock;
- upstream prints an undefined (huge negative) number when the init lookup fails; we serve the
  host file.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

from lxcfs_model.provenance import FileProvenance, LineRule
from lxcfs_model.rendering import Rendered, RenderInputs, WordedOnFirstRead, host_fallback
from lxcfs_model.values import Clock
from lxcfs_model.visible import visible_cpus

__all__ = ["PROVENANCE", "render", "text_clock"]

_CENTISECONDS_PER_SECOND = 100
_NS_PER_CENTISECOND = 10_000_000

PROVENANCE = FileProvenance(
    path="proc/uptime",
    summary="Age of the container's init and the idle time of its visible CPUs.",
    rules=(
        LineRule(
            label="N",
            sources=(
                "CLOCK_BOOTTIME",
                "/proc/<init>/stat field 22 (starttime)",
                "cpuacct.usage (v1) or cpu.stat usage_usec (v2) of the init's cgroup",
                "cpuset.cpus.effective, /sys/devices/system/cpu/online (visible CPUs)",
            ),
            formula=(
                "uptime {uptime_seconds} s = boottime {boottime_seconds} s - init "
                "{init_pid}'s start {init_start_ticks} ticks / CLK_TCK {clk_tck}, at least 0; "
                "idle {idle_seconds} s = uptime x {visible_cpu_count} visible CPUs - busy "
                "{busy_seconds} s, clamped to [0, uptime x CPUs]"
            ),
        ),
    ),
    fallback="the host file when the container's init is unknown or the clock is unusable",
)


def render(inputs: RenderInputs) -> Rendered:
    """Render /proc/uptime from the init's start time, the clock and the cgroup's CPU time."""
    init = inputs.view.init
    if init is None:
        return host_fallback(inputs.host.uptime, inputs, "the container's init is unknown")
    clk_tck = inputs.host.clk_tck
    boottime = inputs.clock.boottime
    now_scaled = _scaled(boottime)
    if clk_tck <= 0 or init.start_ticks < 0 or not math.isfinite(now_scaled):
        return host_fallback(
            inputs.host.uptime,
            inputs,
            f"unusable clock values (CLK_TCK {clk_tck}, start {init.start_ticks}, "
            f"boottime {boottime})",
        )

    # The clock is truncated to whole centiseconds as the kernel truncates its own uptime;
    # the start is rounded *up*, so truncation never makes the init look older than it is.
    now_cs = math.floor(now_scaled)
    start_cs = -(-init.start_ticks * _CENTISECONDS_PER_SECOND // clk_tck)
    age_cs = max(0, now_cs - start_cs)

    cpu_count = visible_cpus(inputs).count
    busy_ns = max(0, init.cpu_busy_ns or 0)
    capacity_cs = age_cs * cpu_count
    idle_cs = min(capacity_cs, max(0, capacity_cs - busy_ns // _NS_PER_CENTISECOND))

    uptime, idle = _seconds(age_cs), _seconds(idle_cs)

    def words() -> dict[str, object]:
        return {
            "uptime_seconds": uptime,
            "idle_seconds": idle,
            "boottime_seconds": f"{boottime:.2f}",
            "init_pid": init.pid,
            "init_start_ticks": init.start_ticks,
            "clk_tck": clk_tck,
            "visible_cpu_count": cpu_count,
            "busy_seconds": (
                f"{init.cpu_busy_ns / 1e9:.2f}" if init.cpu_busy_ns is not None else "unknown (0)"
            ),
        }

    # Worded only when read (--explain): the daemon renders uptime at nearly every read,
    # its text being new every centisecond.
    return Rendered(f"{uptime} {idle}\n", inputs.history, WordedOnFirstRead(words))


def text_clock(clock: Clock) -> Hashable:
    """What of ``clock`` the text depends on (rule 4): boottime in whole centiseconds, None
    when that is no finite number (the text is then the host's, whatever the clock)."""
    scaled = _scaled(clock.boottime)
    try:
        return math.floor(scaled) if math.isfinite(scaled) else None
    except OverflowError:  # an int beyond any float: render raises unless it falls back
        return ("beyond a float", clock.boottime)


def _scaled(boottime: float) -> float:
    return boottime * _CENTISECONDS_PER_SECOND


def _seconds(centiseconds: int) -> str:
    """``%.2f`` of an exact number of centiseconds, without a float round trip."""
    whole, hundredths = divmod(centiseconds, _CENTISECONDS_PER_SECOND)
    return f"{whole}.{hundredths:02d}"
