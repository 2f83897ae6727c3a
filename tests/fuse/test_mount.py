"""The daemon on a real FUSE mount: layout, read semantics, errno, lifecycle, both bindings."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from lxcfs_model.files import FILES
from tests.fuse.daemon import BINDINGS, Daemon, lxcfs_fuse_mount
from tests.system.harness import container_cgroups, wait_until

pytestmark = pytest.mark.root

CPU = "sys/devices/system/cpu"


@pytest.fixture(scope="module", params=BINDINGS)
def daemon(request: pytest.FixtureRequest) -> Iterator[Daemon]:
    """lxcfs-fuse -l --enable-cfs, once per binding (fusepy/libfuse 2, mfusepy/libfuse 3)."""
    with lxcfs_fuse_mount(binding=request.param) as mounted:
        yield mounted


def _path(daemon: Daemon, relative: str) -> str:
    return os.path.join(daemon.path, relative)


def test_layout_and_modes(daemon: Daemon) -> None:
    """The tree is spec 1.1's: the registry's files 0444, /proc dirs 0555, fuse.lxcfs."""
    assert sorted(os.listdir(daemon.path)) == ["proc", "sys"]
    assert sorted(os.listdir(_path(daemon, "proc/pressure"))) == ["cpu", "io", "memory"]
    for spec in FILES:
        mode = os.stat(_path(daemon, spec.path)).st_mode
        assert mode == stat.S_IFREG | 0o444, spec.path
    assert os.stat(_path(daemon, "proc")).st_mode == stat.S_IFDIR | 0o555
    with open("/proc/mounts") as mounts:
        assert f"lxcfs {daemon.path} fuse.lxcfs " in mounts.read()


def test_st_size_is_the_whole_file(daemon: Daemon) -> None:
    """Reading exactly st_size bytes yields the whole file, with no trailing NUL (files
    whose content does not move between two calls)."""
    for relative in ("proc/cpuinfo", "proc/swaps", f"{CPU}/online", f"{CPU}/possible"):
        path = _path(daemon, relative)
        size = os.stat(path).st_size
        with open(path, "rb", buffering=0) as file:
            data = file.read(size)
            assert file.read(4096) == b"", relative
        assert len(data) == size and b"\0" not in data, relative


def test_byte_reads_reassemble_a_whole_read(daemon: Daemon) -> None:
    """1-byte and odd-sized reads of one open file reassemble the text a single read gets."""
    path = _path(daemon, "proc/cpuinfo")
    with open(path, "rb", buffering=0) as file:
        whole = file.read(1 << 20)
    for size in (1, 7, 4096):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            parts = []
            while piece := os.read(descriptor, size):
                parts.append(piece)
        finally:
            os.close(descriptor)
        assert b"".join(parts) == whole


def test_lseek_zero_renders_again_and_pread_past_the_end_is_eof(daemon: Daemon) -> None:
    """top's pattern: lseek(0) + read shows fresh content; pread beyond the end gives 0
    bytes (upstream: EINVAL)."""
    descriptor = os.open(_path(daemon, "proc/uptime"), os.O_RDONLY)
    try:
        first = os.read(descriptor, 4096)
        time.sleep(0.05)
        os.lseek(descriptor, 0, os.SEEK_SET)
        second = os.read(descriptor, 4096)
        assert float(second.split()[0]) > float(first.split()[0])
        assert os.pread(descriptor, 100, 10**6) == b""
        assert os.pread(descriptor, 3, 1) == second[1:4]  # the snapshot of the last read at 0
    finally:
        os.close(descriptor)


def _errno_of(action: object) -> int:
    assert callable(action)
    try:
        action()
    except OSError as error:
        return error.errno or 0
    return 0


def test_refused_operations(daemon: Daemon) -> None:
    """Writes, creates, removals and permission changes answer their errno (spec 1.4)."""
    meminfo = _path(daemon, "proc/meminfo")

    def write(path: str) -> None:
        descriptor = os.open(path, os.O_WRONLY)
        try:
            os.write(descriptor, b"0\n")
        finally:
            os.close(descriptor)

    assert _errno_of(lambda: write(meminfo)) == errno.EINVAL
    assert _errno_of(lambda: write(_path(daemon, f"{CPU}/online"))) == errno.EINVAL
    assert _errno_of(lambda: write(_path(daemon, f"{CPU}/cpu0/online"))) in (
        errno.EACCES,
        errno.ENOENT,  # cpu0 has no online file on hosts where it cannot be offlined
    )
    assert _errno_of(lambda: os.truncate(meminfo, 0)) == errno.EPERM
    assert _errno_of(lambda: os.mkdir(_path(daemon, "proc/x"))) == errno.EPERM
    assert _errno_of(lambda: os.rmdir(_path(daemon, "proc/pressure"))) == errno.EPERM
    assert _errno_of(lambda: os.unlink(meminfo)) == errno.ENOSYS
    assert _errno_of(lambda: os.rename(meminfo, _path(daemon, "proc/x"))) == errno.ENOSYS
    assert _errno_of(lambda: os.symlink("meminfo", _path(daemon, "proc/x"))) == errno.ENOSYS
    # We answer link with ENOSYS; the kernel's fuse_link reports that as EPERM.
    assert _errno_of(lambda: os.link(meminfo, _path(daemon, "proc/x"))) == errno.EPERM
    assert _errno_of(lambda: os.chmod(meminfo, 0o644)) == errno.EPERM
    assert _errno_of(lambda: os.chown(meminfo, 1, 1)) == errno.EPERM
    created = _errno_of(lambda: os.close(os.open(_path(daemon, "proc/new"), os.O_CREAT)))
    assert created == errno.ENOSYS
    assert not os.access(meminfo, os.W_OK) and os.access(meminfo, os.R_OK)


def test_writes_through_sys_never_reach_the_host(daemon: Daemon) -> None:
    """Writing a pass-through sysfs file fails with EACCES and the host file is unchanged."""
    uevent = _path(daemon, f"{CPU}/uevent")
    with open(f"/sys/{CPU.removeprefix('sys/')}/uevent", "rb") as host:
        before = host.read()
    descriptor = os.open(uevent, os.O_WRONLY)
    try:
        assert _errno_of(lambda: os.write(descriptor, b"add\n")) == errno.EACCES
    finally:
        os.close(descriptor)
    with open(f"/sys/{CPU.removeprefix('sys/')}/uevent", "rb") as host:
        assert host.read() == before


def test_concurrent_readers_in_different_cgroups_each_see_their_own(daemon: Daemon) -> None:
    """Probes in three cgroups with different memory limits, reading meminfo at the same
    time, each always see their own MemTotal."""
    limits = {0: 128 << 20, 1: 192 << 20, 2: 320 << 20}
    errors: list[str] = []
    with (
        container_cgroups() as first,
        container_cgroups() as second,
        container_cgroups() as third,
    ):
        probes = []
        for index, cgroups in enumerate((first, second, third)):
            cgroups.set_memory_limit(limits[index])
            probes.append(cgroups.start_probe())

        def reader(index: int) -> None:
            expected = f"MemTotal:       {limits[index] // 1024:>8} kB"
            for _ in range(15):
                text = probes[index].read_files(daemon.path, ["proc/meminfo"])["proc/meminfo"]
                if not text.startswith(expected):
                    errors.append(f"probe {index}: {text.splitlines()[0]!r} != {expected!r}")

        threads = [threading.Thread(target=reader, args=(index,)) for index in limits]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_daemon_keeps_serving_after_failures(daemon: Daemon) -> None:
    """After refused requests and lookups of missing paths the mount still serves."""
    for _ in range(3):
        assert _errno_of(lambda: os.stat(_path(daemon, "proc/nope"))) == errno.ENOENT
    with open(_path(daemon, "proc/meminfo")) as file:
        assert file.read().startswith("MemTotal:")


# ---------------------------------------------------------------------------- lifecycle


def test_second_daemon_on_the_same_pidfile_refuses(tmp_path: os.PathLike[str]) -> None:
    """While a daemon holds the pid file, a second one exits 1 and the first keeps serving."""
    with lxcfs_fuse_mount(()) as running:
        other = os.path.join(str(tmp_path), "other")
        os.mkdir(other)
        second = subprocess.run(
            [sys.executable, "-m", "lxcfs_fuse", "-p", running.pidfile, other],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1 and "locked" in second.stderr
        assert not os.path.ismount(other)
        with open(running.pidfile) as pidfile:
            assert int(pidfile.read()) == running.process.pid
        assert os.path.exists(_path(running, "proc/meminfo"))


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_signals_unmount_cleanly(signal_number: int) -> None:
    """SIGTERM and SIGINT unmount, remove the pid file and exit 0."""
    with lxcfs_fuse_mount(()) as running:
        running.process.send_signal(signal_number)
        assert running.process.wait(timeout=10) == 0
        assert not os.path.ismount(running.path)
        assert not os.path.exists(running.pidfile)


def test_start_over_a_stale_mount(tmp_path: os.PathLike[str]) -> None:
    """A daemon killed with SIGKILL leaves a dead mount; the next start clears it and serves."""
    with lxcfs_fuse_mount(()) as first:
        first.process.kill()
        first.process.wait(timeout=10)
        # Cached attributes answer for up to attr_timeout (0.5 s), then ENOTCONN shows.
        assert wait_until(lambda: _errno_of(lambda: os.stat(first.path)) == errno.ENOTCONN)
        process = subprocess.Popen(
            [sys.executable, "-m", "lxcfs_fuse", "-p", first.pidfile, first.path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            assert wait_until(lambda: os.path.exists(_path(first, "proc/meminfo")), timeout=15)
            with open("/proc/self/mountinfo") as mountinfo:
                assert mountinfo.read().count(f" {first.path} ") == 1
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
