"""Live upgrade on a real mount: SIGUSR1 loads the library installed on disk into the
running daemon (same pid, same mount, open handles keep working), a broken version leaves
the old code serving, readers in a limited cgroup never see an error; SIGUSR2 round trip."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuse.daemon import BINDINGS, Daemon, lxcfs_fuse_mount
from tests.reload.library_copy import (
    BROKEN_MESSAGE,
    MARKER,
    UptimeVersion,
    copy_library,
    edit_copy,
    install_uptime,
)
from tests.system.harness import CgroupSet, Probe, container_cgroups, wait_until

pytestmark = pytest.mark.root

CPU = "sys/devices/system/cpu"
UPTIME = re.compile(r"\d+\.\d\d \d+\.\d\d\n")
LIMIT_KB = 262144
RELOADED = "SIGUSR1: reloaded"
FAILED = "SIGUSR1: reload failed"
SIGUSR1_BIT = 1 << (signal.SIGUSR1 - 1)
SIGUSR2_BIT = 1 << (signal.SIGUSR2 - 1)
UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "lxcfs-py.service"


@contextlib.contextmanager
def upgradable_daemon(
    library: Path, options: tuple[str, ...] = (), binding: str = "fusepy"
) -> Iterator[Daemon]:
    """lxcfs-fuse importing lxcfs_model from ``library`` (first on PYTHONPATH, and the cwd
    that ``python -m`` puts first); the adapter comes from the project as installed."""
    with lxcfs_fuse_mount(
        options, binding, extra_env={"PYTHONPATH": str(library)}, cwd=str(library)
    ) as daemon:
        yield daemon


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A private copy of lxcfs_model the test changes as an upgrade would."""
    return copy_library(tmp_path)


def reload_and_wait(daemon: Daemon, outcome: str = RELOADED, signal_it: bool = True) -> str:
    """Send SIGUSR1 and wait for the daemon's log line about it; returns that line."""
    before = daemon.log().count("SIGUSR1: ")
    if signal_it:
        daemon.process.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: daemon.log().count("SIGUSR1: ") > before, timeout=30)
    line = [entry for entry in daemon.log().splitlines() if "SIGUSR1: " in entry][before]
    assert outcome in line, line
    return line


def _meminfo_kb(text: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()}


def limited(cgroups: CgroupSet) -> Probe:
    """A probe in cgroups with a 256 MiB memory limit and one CPU (cpu0)."""
    cgroups.set_memory_limit(LIMIT_KB << 10)
    cgroups.set_cpuset("0")
    return cgroups.start_probe()


def check_container_answers(texts: dict[str, str]) -> None:
    """What a process limited to 256 MiB and cpu0 must read."""
    assert _meminfo_kb(texts["proc/meminfo"])["MemTotal"] == LIMIT_KB, texts["proc/meminfo"]
    assert texts[f"{CPU}/online"] == "0\n"
    assert texts["proc/cpuinfo"].count("processor\t:") == 1
    cpu_lines = [line.split()[0] for line in texts["proc/stat"].splitlines() if line[:3] == "cpu"]
    assert cpu_lines == ["cpu", "cpu0"], cpu_lines
    assert UPTIME.fullmatch(texts["proc/uptime"].removesuffix(MARKER)), texts["proc/uptime"]


def _cpu_total(stat: str) -> int:
    """The sum of the aggregate ``cpu`` line's counters."""
    (line,) = [line for line in stat.splitlines() if line.split()[0] == "cpu"]
    return sum(int(field) for field in line.split()[1:])


def _reached(counter: list[int], target: int) -> bool:
    return counter[0] >= target


FILES = ["proc/meminfo", "proc/cpuinfo", "proc/stat", "proc/uptime", f"{CPU}/online"]


def test_readers_in_a_limited_cgroup_see_no_error_across_reloads(library: Path) -> None:
    """A probe reading five files in a loop while the daemon reloads four times (one of
    them a new version) gets every read right and no error; its /proc/stat CPU view (which
    starts at 0 with --enable-cfs) never goes back, so the history carried over; the daemon
    is the same process on the same mount throughout."""
    options = ("-l", "--enable-cfs")  # the sampler and the CPU view carry state over
    with upgradable_daemon(library, options) as daemon, container_cgroups() as cgroups:
        probe = limited(cgroups)
        check_container_answers(probe.read_files(daemon.path, FILES))
        mount_device = os.stat(daemon.path).st_dev
        stop = threading.Event()
        reads: list[int] = [0]
        errors: list[str] = []
        cpu_totals: list[int] = []

        def read_loop() -> None:
            while not stop.is_set():
                try:
                    texts = probe.read_files(daemon.path, FILES)
                    check_container_answers(texts)
                    cpu_totals.append(_cpu_total(texts["proc/stat"]))
                    reads[0] += 1
                except Exception as error:  # every failure is a finding
                    errors.append(f"{type(error).__name__}: {error}")

        reader = threading.Thread(target=read_loop)
        reader.start()
        try:
            for round_number in range(4):
                if round_number == 2:
                    install_uptime(library, UptimeVersion.MARKED)
                target = reads[0] + 3
                reload_and_wait(daemon)
                assert wait_until(functools.partial(_reached, reads, target), timeout=30)
        finally:
            stop.set()
            reader.join(60)
        assert errors == []
        assert reads[0] >= 12
        assert cpu_totals == sorted(cpu_totals) and cpu_totals[-1] > cpu_totals[0], cpu_totals
        assert probe.read_files(daemon.path, ["proc/uptime"])["proc/uptime"].endswith(MARKER)
        assert daemon.process.poll() is None
        assert os.path.ismount(daemon.path) and os.stat(daemon.path).st_dev == mount_device


def test_a_renamed_history_field_resets_that_history(library: Path) -> None:
    """A version that renames a StatHistory field (what docs/upgrade.md asks when a field's
    meaning changes) loads; the container's CPU view starts again from 0 (the documented
    reset), every read still succeeds, and later reloads keep the new history."""
    with (
        upgradable_daemon(library, ("--enable-cfs",)) as daemon,
        container_cgroups() as cgroups,
    ):
        probe = limited(cgroups)

        def total() -> int:
            texts = probe.read_files(daemon.path, FILES)
            check_container_answers(texts)
            return _cpu_total(texts["proc/stat"])

        first = total()
        assert wait_until(lambda: total() > first + 20, timeout=10)
        before = total()
        for module in ("history.py", "render/stat.py"):
            edit_copy(library, module, "last_lines", "previous_lines")
        reload_and_wait(daemon)
        after = total()
        assert after < before, (before, after)
        assert wait_until(lambda: total() > after + 20, timeout=10)
        grown = total()
        reload_and_wait(daemon)
        assert total() >= grown


@pytest.mark.parametrize("binding", BINDINGS)
def test_new_code_on_disk_takes_effect_on_sigusr1(library: Path, binding: str) -> None:
    """An uptime renderer changed on disk serves after SIGUSR1: same pid, same mount, the
    new code loaded from the changed copy; a handle opened before re-reads at offset 0
    with the new code."""
    with upgradable_daemon(library, binding=binding) as daemon:
        pid, mount_device = daemon.process.pid, os.stat(daemon.path).st_dev
        handle = os.open(os.path.join(daemon.path, "proc/uptime"), os.O_RDONLY)
        try:
            before = os.pread(handle, 4096, 0).decode()
            assert UPTIME.fullmatch(before), before
            install_uptime(library, UptimeVersion.MARKED)
            line = reload_and_wait(daemon)
            assert f"from {library / 'lxcfs_model'} (generation 1)" in line, line
            after = os.pread(handle, 4096, 0).decode()
            assert after.endswith(MARKER) and UPTIME.fullmatch(after.removesuffix(MARKER)), after
        finally:
            os.close(handle)
        fresh = Path(daemon.path, "proc/uptime").read_text()
        assert fresh.endswith(MARKER)
        assert MARKER not in Path(daemon.path, "proc/meminfo").read_text()
        assert daemon.process.pid == pid and daemon.process.poll() is None
        assert os.stat(daemon.path).st_dev == mount_device


def test_broken_code_keeps_the_old_code_until_fixed(library: Path) -> None:
    """A version that does not compile, then one whose renderer raises, each fail the
    reload with one log line naming the error while the old code serves; the fixed
    version loads on the next SIGUSR1."""
    with upgradable_daemon(library) as daemon:
        before = Path(daemon.path, "proc/uptime").read_text()
        assert UPTIME.fullmatch(before)

        install_uptime(library, UptimeVersion.SYNTAX_ERROR)
        line = reload_and_wait(daemon, FAILED)
        assert "SyntaxError" in line and "(generation 0)" in line, line
        assert UPTIME.fullmatch(Path(daemon.path, "proc/uptime").read_text())

        install_uptime(library, UptimeVersion.RAISES)
        line = reload_and_wait(daemon, FAILED)
        assert f"RuntimeError: {BROKEN_MESSAGE}" in line, line
        assert UPTIME.fullmatch(Path(daemon.path, "proc/uptime").read_text())
        # One line each: the next log line is not a traceback.
        assert "Traceback" not in daemon.log()

        install_uptime(library, UptimeVersion.MARKED)
        line = reload_and_wait(daemon)
        assert "(generation 1)" in line, line
        assert Path(daemon.path, "proc/uptime").read_text().endswith(MARKER)
        assert daemon.process.poll() is None


def test_sigusr2_round_trip_in_a_limited_cgroup(library: Path) -> None:
    """SIGUSR2: a process limited to 256 MiB and cpu0 reads the host's meminfo (MemTotal
    and every label) and online; a reload keeps that mode; a second SIGUSR2 gives it its
    container's values again."""
    with upgradable_daemon(library) as daemon, container_cgroups() as cgroups:
        probe = limited(cgroups)
        check_container_answers(probe.read_files(daemon.path, FILES))
        host_meminfo = _meminfo_kb(Path("/proc/meminfo").read_text())
        host_online = Path("/", CPU, "online").read_text()

        def passthrough() -> bool:
            texts = probe.read_files(daemon.path, ["proc/meminfo", f"{CPU}/online"])
            meminfo = _meminfo_kb(texts["proc/meminfo"])
            return (
                meminfo.keys() == host_meminfo.keys()
                and meminfo["MemTotal"] == host_meminfo["MemTotal"]
                and texts[f"{CPU}/online"] == host_online
            )

        daemon.process.send_signal(signal.SIGUSR2)
        assert wait_until(passthrough, timeout=10)
        assert "switched into non-virtualization mode" in daemon.log()
        reload_and_wait(daemon)
        assert passthrough()
        daemon.process.send_signal(signal.SIGUSR2)
        assert wait_until(
            lambda: (
                _meminfo_kb(probe.read_files(daemon.path, ["proc/meminfo"])["proc/meminfo"])[
                    "MemTotal"
                ]
                == LIMIT_KB
            ),
            timeout=10,
        )
        check_container_answers(probe.read_files(daemon.path, FILES))


@pytest.mark.parametrize("binding", BINDINGS)
def test_usr_signals_reach_the_daemon_only_through_sigwait(library: Path, binding: str) -> None:
    """While the daemon serves (libfuse's C loop, or devfuse's loop on the main thread),
    every thread of the daemon blocks SIGUSR1 and SIGUSR2 except while it waits in
    sigtimedwait (the kernel unblocks the waited set for the wait: that is the housekeeping
    thread), no thread has a handler for them, and a burst of SIGUSR1 during reads reloads
    and the daemon lives."""
    with upgradable_daemon(library, binding=binding) as daemon:
        for _ in range(20):
            Path(daemon.path, "proc/meminfo").read_text()  # let libfuse start its workers
        pid = daemon.process.pid
        # main, housekeeping and (libfuse) a worker; devfuse serves on the main thread
        least = 2 if binding == "devfuse" else 3
        assert len(os.listdir(f"/proc/{pid}/task")) >= least
        # A thread between two sigtimedwait calls has them blocked again: sample until one
        # snapshot shows every thread's state.
        assert wait_until(lambda: _only_sigwait_takes_usr_signals(pid), timeout=5), _tasks(pid)
        caught = int(_status(f"/proc/{pid}/status")["SigCgt"], 16)
        assert not caught & (SIGUSR1_BIT | SIGUSR2_BIT)
        for _ in range(5):
            daemon.process.send_signal(signal.SIGUSR1)
            Path(daemon.path, "proc/uptime").read_text()
        reload_and_wait(daemon, signal_it=False)
        assert daemon.process.poll() is None
        assert UPTIME.fullmatch(Path(daemon.path, "proc/uptime").read_text())


def _tasks(pid: int) -> list[tuple[int, str]]:
    """(SigBlk, wchan) of every thread of ``pid``."""
    tasks = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            blocked = int(_status(f"/proc/{pid}/task/{task}/status")["SigBlk"], 16)
            tasks.append((blocked, Path(f"/proc/{pid}/task/{task}/wchan").read_text()))
    return tasks


def _only_sigwait_takes_usr_signals(pid: int) -> bool:
    usr = SIGUSR1_BIT | SIGUSR2_BIT
    open_to_usr = [wchan for blocked, wchan in _tasks(pid) if blocked & usr != usr]
    return len(open_to_usr) == 1 and "sigtimedwait" in open_to_usr[0]


def _status(path: str) -> dict[str, str]:
    return dict(
        line.split(":\t", 1) for line in Path(path).read_text().splitlines() if ":\t" in line
    )


def test_the_units_execreload_reloads_the_running_daemon(library: Path) -> None:
    """The systemd unit's ExecReload, run as systemd would with $MAINPID, makes the daemon
    load the new code (what ``systemctl reload lxcfs-py`` does)."""
    (exec_reload,) = [
        line.split("=", 1)[1]
        for line in UNIT.read_text().splitlines()
        if line.startswith("ExecReload=")
    ]
    with upgradable_daemon(library) as daemon:
        install_uptime(library, UptimeVersion.MARKED)
        argv = [
            part.replace("$MAINPID", str(daemon.process.pid)) for part in shlex.split(exec_reload)
        ]
        subprocess.run(argv, check=True)
        reload_and_wait(daemon, signal_it=False)
        assert Path(daemon.path, "proc/uptime").read_text().endswith(MARKER)
