"""The load run: many readers in many cgroups with distinct limits, each checking that every
answer is its own MemTotal, while cgroups come and go and short-lived readers are killed.

Rules:
1. A reader is a process started inside its cgroup (``live.spawn_in``); it opens, reads and
   closes /proc/meminfo ``reads`` times and counts errors (an OSError) and wrong answers
   (a first line other than its own ``MemTotal``). Nothing is inferred from the daemon's
   side: the readers' own counts are the result.
2. Churn, beside them: a thread creates a cgroup set with its own limit, starts a reader
   there that loops until killed, SIGKILLs it after 20-200 ms and removes the cgroups;
   every churn reader killed mid-read and every cgroup removed is counted.
3. The daemon's RSS, descriptors and threads are sampled every half second; the run
   reports the peak and the last sample, and fails when descriptors do not come back to
   their starting level once the readers are gone.

``run_load`` serves tests/reliability/test_live_mount.py (small sizes) and scripts/soak.py
(32 readers x 5,000 reads over 16 cgroups; ``--minutes`` repeats rounds for a soak).
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from tests.fuse.daemon import Daemon
from tests.reliability.live import (
    daemon_figures,
    expected_memtotal_line,
    host_memtotal_kb,
    reader_argv,
    spawn_in,
)
from tests.system.harness import container_cgroups, wait_until

__all__ = ["LoadResult", "run_load"]

MIB = 1 << 20


@dataclass
class LoadResult:
    """What one load run counted."""

    readers: int = 0
    reads: int = 0
    errors: int = 0
    wrong: int = 0
    first_wrong: list[str] = field(default_factory=list)
    cgroups_created: int = 0
    cgroups_removed: int = 0
    churn_readers_killed: int = 0
    seconds: float = 0.0
    rss_start_kb: int = 0
    rss_peak_kb: int = 0
    rss_end_kb: int = 0
    fds_start: int = 0
    fds_peak: int = 0
    fds_end: int = 0
    threads_peak: int = 0
    churn_failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        rate = self.reads / self.seconds if self.seconds else 0.0
        return [
            f"readers: {self.readers}, reads: {self.reads} in {self.seconds:.0f} s ({rate:.0f}/s)",
            f"errors: {self.errors}, wrong-container answers: {self.wrong}",
            f"churn: {self.cgroups_created} cgroup sets created, {self.cgroups_removed} removed, "
            f"{self.churn_readers_killed} readers SIGKILLed mid-read",
            f"daemon RSS: start {self.rss_start_kb} kB, peak {self.rss_peak_kb} kB, "
            f"end {self.rss_end_kb} kB",
            f"daemon fds: start {self.fds_start}, peak {self.fds_peak}, end {self.fds_end}; "
            f"threads peak {self.threads_peak}",
        ]


def _churn(daemon: Daemon, stop: threading.Event, result: LoadResult, seed: int) -> None:
    rng = random.Random(seed)
    host_kb = host_memtotal_kb()
    number = 0
    while not stop.is_set():
        number += 1
        try:
            with container_cgroups(child=f"churn{number}") as cgroups:
                result.cgroups_created += 1
                limit = rng.randrange(32, 1024) * MIB
                cgroups.set_memory_limit(limit)
                reader = spawn_in(
                    cgroups,
                    reader_argv(daemon.path, expected_memtotal_line(limit, host_kb), 0),
                    stdout=subprocess.DEVNULL,
                )
                time.sleep(rng.uniform(0.02, 0.2))
                reader.send_signal(signal.SIGKILL)
                reader.wait(timeout=30)
                result.churn_readers_killed += 1
            result.cgroups_removed += 1
        except Exception as error:  # counted and reported, the run goes on
            result.churn_failures.append(f"{type(error).__name__}: {error}")
            time.sleep(0.1)


def _monitor(pid: int, stop: threading.Event, result: LoadResult) -> None:
    while not stop.wait(0.5):
        with contextlib.suppress(OSError):
            fds, rss, threads = daemon_figures(pid)
            result.rss_peak_kb = max(result.rss_peak_kb, rss)
            result.fds_peak = max(result.fds_peak, fds)
            result.threads_peak = max(result.threads_peak, threads)


def run_load(
    daemon: Daemon,
    *,
    readers: int,
    reads: int,
    cgroups: int,
    churn: bool = True,
    minutes: float = 0.0,
    seed: int = 6,
) -> LoadResult:
    """Rules 1-3. With ``minutes`` > 0 rounds of ``readers`` x ``reads`` repeat until that
    much time has passed (a soak); otherwise one round."""
    result = LoadResult()
    pid = daemon.process.pid
    result.fds_start, result.rss_start_kb, _ = daemon_figures(pid)
    host_kb = host_memtotal_kb()
    stop = threading.Event()
    helpers = [threading.Thread(target=_monitor, args=(pid, stop, result), daemon=True)]
    if churn:
        helpers.append(
            threading.Thread(target=_churn, args=(daemon, stop, result, seed), daemon=True)
        )
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        groups = []
        for index in range(cgroups):
            group = stack.enter_context(container_cgroups(child=f"load{index}"))
            limit = (64 + 48 * index) * MIB  # distinct, all below this host's RAM
            group.set_memory_limit(limit)
            groups.append((group, expected_memtotal_line(limit, host_kb)))
        for helper in helpers:
            helper.start()
        processes: list[subprocess.Popen[str]] = []
        try:
            while True:
                processes = [
                    spawn_in(
                        groups[index % cgroups][0],
                        reader_argv(daemon.path, groups[index % cgroups][1], reads),
                        stdout=subprocess.PIPE,
                    )
                    for index in range(readers)
                ]
                for process in processes:
                    out, _ = process.communicate()
                    fields = out.split(maxsplit=3)
                    result.readers += 1
                    result.reads += int(fields[0])
                    result.errors += int(fields[1])
                    result.wrong += int(fields[2])
                    if len(fields) > 3 and len(result.first_wrong) < 5:
                        result.first_wrong.append(fields[3].strip())
                if minutes <= 0 or time.monotonic() - started >= minutes * 60:
                    break
        finally:
            # Interrupted (^C): readers still running would keep their cgroups busy.
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            stop.set()
            for helper in helpers:
                helper.join(timeout=30)
    result.seconds = time.monotonic() - started
    wait_until(lambda: daemon_figures(pid)[0] <= result.fds_start, 10.0)
    result.fds_end, result.rss_end_kb, _ = daemon_figures(pid)
    return result
