"""What a caller reads: the model's rendering for the caller's container.

Rules:
1. All content comes from ``lxcfs_model``: this module resolves the caller (``callers``),
   reads its view and the host through the I/O layer, hands the model its history, renders,
   and keeps the history the model hands back. It formats nothing itself.
2. A caller that cannot be resolved (it exited mid-request, its cgroups vanished) is served
   an empty view: the renderers then fall back to the host's file (spec 3.12), as upstream
   does when /proc/<pid>/cgroup cannot be read.
3. /proc/stat history is keyed by the container's cpuset, cpu and cpuacct cgroup paths and
   updated under that key's lock (``state.KeyedStore``); load averages belong to the
   sampler, keyed by the cpu cgroup path.
4. Virtualization can be switched off and on (SIGUSR2, like lxcfs): while off every caller
   is served the empty view, i.e. the host's files. ``reload`` (SIGUSR1) re-discovers the
   cgroup layout, forgets the caller cache and switches virtualization back on; histories
   and load averages survive it (upstream loses them).
5. The sys cpu directory map (container ``cpuK`` -> host ``cpuH``) is what every lookup
   below /sys/devices/system/cpu needs; it is remembered per container for
   ``CPU_MAP_SECONDS``, the kernel's own entry/attr timeout, so nothing is staler than the
   kernel's dentry cache already makes it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping

import attrs

from lxcfs_fuse.callers import RECENT_SECONDS, CallerResolver
from lxcfs_fuse.loadavg import LoadavgSampler
from lxcfs_fuse.state import KeyedStore
from lxcfs_model import files
from lxcfs_model.errors import LxcfsModelError, NoSuchCgroup, NoSuchProcess
from lxcfs_model.history import ContainerHistory, LoadavgState, StatHistory
from lxcfs_model.io import Container, SystemReader
from lxcfs_model.render import sys_cpu
from lxcfs_model.rendering import Rendered, RenderInputs
from lxcfs_model.values import CgroupView, RenderOptions

__all__ = ["ContainerContent", "StatKey"]

log = logging.getLogger("lxcfs_fuse")

CPU_MAP_SECONDS = 0.5

#: Files whose renderer advances ``ContainerHistory.stat`` (rule 3).
_STAT_FILES = frozenset({"proc/stat"})

StatKey = tuple[str | None, str | None, str | None]


def _stat_key(view: CgroupView) -> StatKey:
    return (
        view.cpuset.path if view.cpuset is not None else None,
        view.cpu.path if view.cpu is not None else None,
        view.cpu_usage.path if view.cpu_usage is not None else None,
    )


class ContainerContent:
    """Renders files for callers (rules 1-4) and maps their sys cpu directories (rule 5)."""

    def __init__(
        self,
        reader: SystemReader,
        options: RenderOptions,
        *,
        sampler: LoadavgSampler | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.options = options
        self.virtualize = True
        self.callers = CallerResolver(reader, recent_seconds=RECENT_SECONDS)
        self.sampler = sampler
        self.stat_histories: KeyedStore[StatKey, StatHistory] = KeyedStore()
        self._monotonic = monotonic
        self._cpu_maps: dict[Hashable, tuple[float, Mapping[str, str]]] = {}
        self._cpu_maps_lock = threading.Lock()

    # ------------------------------------------------------------------------ callers

    def container(self, pid: int) -> Container | None:
        """The caller's container, or None when it cannot be resolved (rule 2)."""
        if pid <= 0 or not self.virtualize:
            return None  # a request the kernel makes on its own behalf, or rule 4
        try:
            return self.callers.resolve(pid)
        except LxcfsModelError as error:
            log.debug("caller %d not resolved (%s): host view", pid, error)
            return None

    def view(self, container: Container | None) -> CgroupView:
        """The container's cgroup values; an empty view (host files) if it vanished."""
        if container is None:
            return CgroupView()
        try:
            return self.reader.view_for_container(container)
        except (NoSuchCgroup, NoSuchProcess) as error:
            log.debug("container of %d vanished (%s): host view", container.caller_pid, error)
            return CgroupView()

    # ------------------------------------------------------------------------- render

    def render(self, path: str, pid: int) -> str:
        """The text of the registry file ``path`` (``proc/meminfo``) as ``pid`` reads it."""
        view = self.view(self.container(pid))
        inputs = RenderInputs(
            view=view,
            host=self.reader.host_snapshot(),
            options=self.options,
            clock=self.reader.clock(),
            history=ContainerHistory(loadavg=self._loadavg_state(view)),
        )
        if path in _STAT_FILES:
            return self.stat_histories.update(
                _stat_key(view), lambda previous: self._render_stat(path, inputs, previous)
            )
        rendered = files.render(path, inputs)
        self._keep_loadavg(view, rendered)
        return rendered.text

    def _render_stat(
        self, path: str, inputs: RenderInputs, previous: StatHistory | None
    ) -> tuple[str, StatHistory | None]:
        rendered = files.render(path, attrs.evolve(inputs, history=ContainerHistory(stat=previous)))
        return rendered.text, rendered.history.stat

    def _loadavg_state(self, view: CgroupView) -> LoadavgState | None:
        if self.sampler is None or view.cpu is None:
            return None
        return self.sampler.state(view.cpu.path)

    def _keep_loadavg(self, view: CgroupView, rendered: Rendered) -> None:
        state = rendered.history.loadavg
        if self.sampler is not None and view.cpu is not None and state is not None:
            self.sampler.register(view.cpu.path, state)

    # ----------------------------------------------------------------------- sys cpu

    def cpu_directory(self, pid: int) -> Mapping[str, str]:
        """Container ``cpuK`` -> host ``cpuH`` for the CPUs ``pid`` sees (rule 5)."""
        container = self.container(pid)
        key: Hashable = (
            None
            if container is None
            else (
                container.pid_namespace,
                container.target_pid,
                tuple(sorted(container.cgroup_paths.items())),
            )
        )
        now = self._monotonic()
        with self._cpu_maps_lock:
            cached = self._cpu_maps.get(key)
            if cached is not None and now - cached[0] < CPU_MAP_SECONDS:
                return cached[1]
        inputs = RenderInputs(
            view=self.view(container),
            host=self.reader.host_snapshot(),
            options=self.options,
            clock=self.reader.clock(),
        )
        mapping = dict(sys_cpu.cpu_directory_map(inputs))
        with self._cpu_maps_lock:
            expired = [
                k for k, (made, _) in self._cpu_maps.items() if now - made >= CPU_MAP_SECONDS
            ]
            for stale in expired:
                del self._cpu_maps[stale]
            self._cpu_maps[key] = (now, mapping)
        return mapping

    # -------------------------------------------------------------------- housekeeping

    def toggle_virtualization(self) -> bool:
        """Switch virtualization off or on (rule 4); returns the new state."""
        self.virtualize = not self.virtualize
        with self._cpu_maps_lock:
            self._cpu_maps.clear()
        return self.virtualize

    def reload(self) -> None:
        """Re-read the cgroup layout and start the caller cache afresh (rule 4)."""
        reader = type(self.reader)(self.reader.root)
        self.reader = reader
        self.callers = CallerResolver(reader, recent_seconds=RECENT_SECONDS)
        with self._cpu_maps_lock:
            self._cpu_maps.clear()
        self.virtualize = True

    def cpu_cgroup_directory(self, path: str) -> str | None:
        """Where the cpu cgroup ``path`` lives (the sampler's view of the current layout,
        so a reload's new layout is used at once); None without a cpu hierarchy."""
        hierarchy = self.reader.layout.hierarchy_for("cpu")
        if hierarchy is None:
            return None
        return self.reader.path(hierarchy.directory, path.lstrip("/"))

    def cgroup_exists(self, controller: str, path: str | None) -> bool:
        """Whether ``path`` still exists in ``controller``'s hierarchy (None: nothing to
        check, counts as existing)."""
        if path is None:
            return True
        hierarchy = self.reader.layout.hierarchy_for(controller)
        if hierarchy is None:
            return True
        return os.path.isdir(self.reader.path(hierarchy.directory, path.lstrip("/")))

    def prune(self) -> None:
        """Forget callers and histories of containers that are gone (called every few
        seconds by the housekeeping thread)."""
        self.callers.prune()
        self.stat_histories.prune(
            lambda key: (
                not (
                    self.cgroup_exists("cpuset", key[0])
                    and self.cgroup_exists("cpu", key[1])
                    and self.cgroup_exists("cpuacct", key[2])
                )
            )
        )
