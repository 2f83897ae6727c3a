"""Targets 1, 2, 3 and 5: our mount and Debian's lxcfs 5.0.3 read side by side.

Rules:
1. Both daemons run with the same options (``-l --enable-cfs``) and are read by the same C
   reader (``client.py``) from inside the same container-like cgroups (memory limit 256 MiB
   on the container's parent, like the differential tests), in its own pid namespace.
2. Interleaved: one reader alternates ours, lxcfs and the raw host file for every file, so
   machine noise (other work on a shared box) lands on all three alike. Throughput runs
   alternate ours/lxcfs/lxcfs/ours so drift cancels too.
3. Everything made here is removed on the way out, failures included: readers are killed by
   pid, cgroups removed by the harness, mounts unmounted and their daemons stopped.
4. Without Debian's lxcfs the comparison is skipped with that reason and ours is measured
   alone against the raw files.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.client import Agent, finish, run_in_container, start_agent, start_in_container, stop
from tests.fuse.daemon import lxcfs_fuse_mount
from tests.system.harness import CgroupSet, container_cgroups, lxcfs_mount, require_lxcfs

__all__ = ["Mounts", "latency_and_cpu", "mounts", "ours_on_fusepy", "scale", "throughput"]

FILES = ("meminfo", "cpuinfo", "stat", "uptime")
OPTIONS = ("-l", "--enable-cfs")
MEMORY_LIMIT = 256 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: Names of the cgroup sets made by this process (the report lists them, so a test can
#: check every one is gone).
MADE: list[str] = []


@dataclass
class Mounts:
    """The mounts under test: name -> (mount point, daemon pid). ``skipped``: why lxcfs is
    missing, if it is."""

    points: dict[str, tuple[str, int]]
    skipped: str | None


@contextlib.contextmanager
def mounts() -> Iterator[Mounts]:
    """Our daemon and, where installed, Debian's lxcfs, both with ``-l --enable-cfs``."""
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(lxcfs_fuse_mount(OPTIONS))
        points = {"ours": (ours.path, ours.process.pid)}
        skipped = None
        try:
            require_lxcfs()
        except BaseException as error:  # pytest's Skipped is a BaseException
            skipped = f"lxcfs comparison skipped: {error}"
        else:
            theirs = stack.enter_context(lxcfs_mount(OPTIONS))
            points["lxcfs"] = (theirs.path, theirs.pid)
        yield Mounts(points=points, skipped=skipped)


@contextlib.contextmanager
def ours_on_fusepy() -> Iterator[Mounts]:
    """Our daemon alone on the fusepy binding (libfuse 2, its thread pool, a ctypes
    callback per request), named ``ours fusepy``: the baseline for our own FUSE session,
    the default binding (docs/performance.md, third round)."""
    with lxcfs_fuse_mount(OPTIONS, binding="fusepy") as ours:
        yield Mounts(points={"ours fusepy": (ours.path, ours.process.pid)}, skipped=None)


def daemon_processes(pid: int) -> list[int]:
    """``pid`` and its child processes: our daemon's helpers (lxcfs_fuse/peers.py) are
    children, and their CPU and memory are the daemon's too."""
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listed:
                found += [int(child) for child in listed.read().split()]
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime so far of every thread of ``pid`` and of its child processes."""
    total = 0
    for process in daemon_processes(pid):
        try:
            with open(f"/proc/{process}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a child gone meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` plus its child processes', in KiB (a helper's pages
    shared with the parent since the fork count twice, so growth and what is left are
    the figures to compare, not the baselines)."""
    total = 0
    for process in daemon_processes(pid):
        try:
            with open(f"/proc/{process}/status") as file:
                for line in file:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            if process == pid:
                raise
    if not total:
        raise RuntimeError(f"no VmRSS for {pid}")
    return total


def percentile(samples: Sequence[int], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (nearest rank), in microseconds."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index] / 1000


def summary(samples: Sequence[int]) -> dict[str, float]:
    """p50/p99/mean in microseconds and the sample count (failed reads, -1, left out)."""
    samples = [value for value in samples if value >= 0]
    if not samples:
        return {
            "p50_us": float("nan"),
            "p99_us": float("nan"),
            "mean_us": float("nan"),
            "samples": 0,
        }
    return {
        "p50_us": percentile(samples, 0.50),
        "p99_us": percentile(samples, 0.99),
        "mean_us": statistics.fmean(samples) / 1000,
        "samples": len(samples),
    }


def _container(stack: contextlib.ExitStack) -> CgroupSet:
    cgroups = stack.enter_context(container_cgroups())
    MADE.append(cgroups.name)
    cgroups.set_memory_limit(MEMORY_LIMIT, on_parent=True)
    return cgroups


def latency_and_cpu(binary: str, where: Mounts, iterations: int) -> dict[str, Any]:
    """Targets 1 and 5: per-file latency of each mount and the raw file, interleaved, and
    each daemon's CPU seconds per 10,000 of those reads."""
    names = list(where.points)
    paths: list[tuple[str, str]] = []  # (file, source)
    for file in FILES:
        paths += [(file, name) for name in names] + [(file, "host")]

    def absolute(file: str, source: str) -> str:
        return f"/proc/{file}" if source == "host" else f"{where.points[source][0]}/proc/{file}"

    with contextlib.ExitStack() as stack:
        cgroups = _container(stack)
        before = {name: cpu_seconds(pid) for name, (_, pid) in where.points.items()}
        started = time.monotonic()
        output = run_in_container(
            cgroups,
            [binary, "latency", str(iterations), *(absolute(f, s) for f, s in paths)],
            timeout=600 + iterations,
        )
        elapsed = time.monotonic() - started
        after = {name: cpu_seconds(pid) for name, (_, pid) in where.points.items()}
    files: dict[str, dict[str, Any]] = {file: {} for file in FILES}
    for (file, source), line in zip(paths, output.splitlines(), strict=True):
        errors, *samples = (int(field) for field in line.split())
        files[file][source] = {**summary(samples), "errors": errors}
    reads = (iterations + 1) * len(FILES)  # one warm-up round per file
    cpu = {
        name: {
            "cpu_seconds": after[name] - before[name],
            "reads": reads,
            "cpu_seconds_per_10k_reads": (after[name] - before[name]) / reads * 10_000,
        }
        for name in names
    }
    return {"iterations": iterations, "elapsed_s": elapsed, "files": files, "cpu": cpu}


#: Throughput runs per daemon and reader count, in ABBA pairs (ours, lxcfs, lxcfs, ours,
#: ...): this machine's speed drifts by half within seconds, and short alternating runs
#: put the drift on both daemons alike.
THROUGHPUT_RUNS = 6


def throughput(
    binary: str, where: Mounts, readers: Sequence[int], seconds: float
) -> dict[str, Any]:
    """Target 2: ops/s of 1, 2, 4, 8 concurrent readers, each in its own cgroups and pid
    namespace, cycling through the four files; ours and lxcfs alternate ABBA,
    ``THROUGHPUT_RUNS`` runs each of ``seconds``."""
    names = list(where.points)
    order = (names + names[::-1]) * (THROUGHPUT_RUNS // 2)
    runs = len(order) // len(names)
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        containers = [_container(stack) for _ in range(max(readers))]
        for count in readers:
            ops = dict.fromkeys(names, 0)
            errors = dict.fromkeys(names, 0)
            per_run: dict[str, list[float]] = {name: [] for name in names}
            for name in order:
                mount = where.points[name][0]
                paths = [f"{mount}/proc/{file}" for file in FILES]
                start = time.monotonic_ns() + 500_000_000
                stop_at = start + int(seconds * 1e9)
                processes = []
                try:
                    for cgroups in containers[:count]:
                        processes.append(
                            start_in_container(
                                cgroups, [binary, "throughput", str(start), str(stop_at), *paths]
                            )
                        )
                    done_in_run = 0
                    for process in processes:
                        done, failed = finish(process, timeout=seconds + 30).split()
                        done_in_run += int(done)
                        errors[name] += int(failed)
                    ops[name] += done_in_run
                    per_run[name].append(round(done_in_run / seconds, 1))
                finally:
                    for process in processes:
                        stop(process)
            results[str(count)] = {
                name: {
                    "ops_per_s": ops[name] / (runs * seconds),
                    "errors": errors[name],
                    "ops_per_s_each_run": per_run[name],
                }
                for name in names
            }
    return {"seconds_per_run": seconds, "runs_per_daemon": runs, "readers": results}


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def _round_robin(agents: Sequence[Agent], rounds: int, pause: float = 0.0) -> list[list[int]]:
    """``rounds`` passes over ``agents``, one read of each path per agent per pass; the
    samples per path."""
    per_path: list[list[int]] = []
    for _ in range(rounds):
        for agent in agents:
            agent.send()
            timings = agent.receive()
            if not per_path:
                per_path = [[] for _ in timings]
            for column, value in zip(per_path, timings, strict=True):
                column.append(value)
            if pause:
                time.sleep(pause)
    return per_path


def _settle(pids: dict[str, int]) -> dict[str, int]:
    time.sleep(0.5)
    return {name: rss_kib(pid) for name, pid in pids.items()}


def scale(
    binary: str, where: Mounts, containers: int, rounds: int, forget_wait: float
) -> dict[str, Any]:
    """Target 3: ``containers`` live containers (own cgroups, own pid namespace) read in
    round robin, against one container read alone at the same pace (reads far enough apart
    that no cache entry is reused, as in the round robin); daemon RSS before, with all of
    them live, and after they are gone (``forget_wait`` seconds later)."""
    names = list(where.points)
    pids = {name: pid for name, (_, pid) in where.points.items()}
    paths = [f"{where.points[name][0]}/proc/meminfo" for name in names]
    _raise_fd_limit(4 * containers + 256)
    result: dict[str, Any] = {"containers": containers, "rounds": rounds}
    with contextlib.ExitStack() as stack:
        first = _container(stack)
        alone = start_agent(binary, first, paths)
        stack.callback(stop, alone.process)
        _round_robin([alone], 20)  # warm-up: caches and histories exist
        single = _round_robin([alone], 200 if rounds > 1 else 50, pause=0.02)
        result["single"] = {name: summary(s) for name, s in zip(names, single, strict=True)}
        baseline = _settle(pids)
        agents = [alone]
        made_started = time.monotonic()
        for _ in range(containers - 1):
            agents.append(start_agent(binary, _container(stack), paths))
            stack.callback(stop, agents[-1].process)
        result["setup_s"] = time.monotonic() - made_started
        _round_robin(agents, 1)  # every container read once: all state exists
        many = _round_robin(agents, rounds)
        result["many"] = {name: summary(s) for name, s in zip(names, many, strict=True)}
        live = _settle(pids)
    # Every reader and cgroup is gone now (the stack closed). The daemons forget them on
    # their own schedule; reads from a fresh container let caches see time pass.
    time.sleep(forget_wait)
    with contextlib.ExitStack() as stack:
        probe = start_agent(binary, _container(stack), paths)
        stack.callback(stop, probe.process)
        _round_robin([probe], 5, pause=0.02)
        gone = _settle(pids)
    result["rss_kib"] = {
        name: {
            "baseline": baseline[name],
            "live": live[name],
            "gone": gone[name],
            "growth_per_container_kib": (live[name] - baseline[name]) / containers,
            "left_after_gone_kib": gone[name] - baseline[name],
        }
        for name in names
    }
    result["forget_wait_s"] = forget_wait
    result["failed_reads"] = {
        name: sum(1 for value in many[index] if value < 0) for index, name in enumerate(names)
    }
    return result
