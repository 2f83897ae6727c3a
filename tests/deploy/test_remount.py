"""deploy/lxcfs-remount: stale LXCFS binds in other mount namespaces are replaced by live ones.

The end-to-end tests stand a tmpfs with source name ``lxcfs`` in for each FUSE connection:
the helper tells connections apart by device number, exactly as it does for two FUSE mounts.
Every mount lives in a private namespace created by ``unshare`` and dies with it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

HELPER = Path(__file__).resolve().parents[2] / "deploy" / "lxcfs-remount"


def load_helper() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("lxcfs_remount", str(HELPER))
    spec = importlib.util.spec_from_loader("lxcfs_remount", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lxcfs_remount"] = module  # dataclasses look their module up here
    loader.exec_module(module)
    return module


remount = load_helper()

MOUNTINFO = """\
22 1 0:21 / / rw,relatime - overlay overlay rw
30 22 0:5 / /proc rw,nosuid - proc proc rw
41 30 0:52 /proc/meminfo /proc/meminfo rw - fuse.lxcfs lxcfs rw,user_id=0
42 30 0:52 /proc/cpuinfo /proc/cpuinfo rw - fuse.lxcfs lxcfs rw,user_id=0
43 22 0:52 /sys/devices/system/cpu /sys/devices/system/cpu rw - fuse.lxcfs lxcfs rw
44 22 0:60 / /var/lib/lxcfs rw - fuse.lxcfs lxcfs rw
45 30 0:60 /proc/cpuinfo /proc/cpuinfo rw - fuse.lxcfs lxcfs rw
46 22 0:33 /data /mnt/with\\040space rw - ext4 /dev/sda1 rw
"""


def test_parse_mountinfo_reads_the_fields_and_unescapes_paths() -> None:
    """Optional fields are skipped via the '-' separator and \\040 becomes a space."""
    mounts = remount.parse_mountinfo(MOUNTINFO + "garbage line\n")
    assert len(mounts) == 8
    first = mounts[2]
    assert (first.mount_id, first.device, first.root, first.mount_point) == (
        41,
        "0:52",
        "/proc/meminfo",
        "/proc/meminfo",
    )
    assert (first.fstype, first.source, first.is_lxcfs) == ("fuse.lxcfs", "lxcfs", True)
    assert mounts[-1].mount_point == "/mnt/with space"
    assert not mounts[-1].is_lxcfs


def test_stale_mounts_are_lxcfs_mounts_of_another_device_that_readers_see() -> None:
    """With 0:60 live, meminfo and the cpu dir are stale; cpuinfo is covered by a live bind."""
    mounts = remount.parse_mountinfo(MOUNTINFO)
    stale = remount.stale_mounts(mounts, "0:60")
    assert [mount.mount_point for mount in stale] == ["/proc/meminfo", "/sys/devices/system/cpu"]
    # With 0:52 live instead, the 0:60 root mount and the 0:60 cpuinfo on top are the stale ones.
    assert [mount.mount_id for mount in remount.stale_mounts(mounts, "0:52")] == [44, 45]


def test_live_root_in_finds_where_the_namespace_sees_the_live_mount() -> None:
    """The namespace's own view of the live root is its /var/lib/lxcfs; none for a dead one."""
    mounts = remount.parse_mountinfo(MOUNTINFO)
    assert remount.live_root_in(mounts, "0:60") == "/var/lib/lxcfs"
    assert remount.live_root_in(mounts, "0:52") is None


needs_namespaces = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("unshare", "nsenter")),
    reason="needs root, unshare(1) and nsenter(1) to build private mount namespaces",
)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """A process in its own mount namespace whose rootfs/proc/meminfo is bound from an 'old'
    LXCFS connection (a tmpfs named lxcfs at old/). Yields (pid, rootfs, old)."""
    rootfs, old = tmp_path / "rootfs", tmp_path / "old"
    (rootfs / "proc").mkdir(parents=True)
    (rootfs / "proc" / "meminfo").write_text("container\n")
    (rootfs / "proc" / "uptime").write_text("container uptime\n")
    old.mkdir()
    script = (
        f"mount -t tmpfs lxcfs {old} && mkdir {old}/proc && echo old > {old}/proc/meminfo && "
        f"mount --bind {old}/proc/meminfo {rootfs}/proc/meminfo && echo ready && exec sleep 120"
    )
    process = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        yield process.pid, rootfs, old
    finally:
        process.kill()
        process.wait(timeout=10)


def read_in_namespace(pid: int, path: Path) -> str:
    return subprocess.run(
        ["nsenter", "-t", str(pid), "-m", "cat", str(path)],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout


def run_helper(tmp_path: Path, pid: int, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the helper in a namespace of its own, where new/ is the live 'lxcfs' mount."""
    new = tmp_path / "new"
    new.mkdir(exist_ok=True)
    script = (
        f"mount -t tmpfs lxcfs {new} && mkdir {new}/proc && echo new > {new}/proc/meminfo && "
        f'exec {sys.executable} {HELPER} --mountpoint {new} --pid {pid} "$@"'
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *extra],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.root
@needs_namespaces
def test_remount_replaces_stale_binds_with_the_live_mount(
    container: tuple[int, Path, Path], tmp_path: Path
) -> None:
    """After the helper ran, the container's meminfo (and its old mount root) read the live
    mount, while files that were never bound from LXCFS stay the container's own."""
    pid, rootfs, old = container
    assert read_in_namespace(pid, rootfs / "proc" / "meminfo") == "old\n"
    # The stand-in "old connection" still answers, so only --replace-live takes it over (the
    # dead-connection path is tested against real FUSE mounts in test_real_mount.py).
    result = run_helper(tmp_path, pid, "--replace-live")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"pid {pid}: {rootfs}/proc/meminfo: re-bound to the live mount" in result.stdout
    assert read_in_namespace(pid, rootfs / "proc" / "meminfo") == "new\n"
    assert read_in_namespace(pid, old / "proc" / "meminfo") == "new\n"
    assert read_in_namespace(pid, rootfs / "proc" / "uptime") == "container uptime\n"
    # Nothing leaked into this (the test's) namespace.
    assert (rootfs / "proc" / "meminfo").read_text() == "container\n"


@pytest.mark.root
@needs_namespaces
def test_remount_dry_run_changes_nothing(container: tuple[int, Path, Path], tmp_path: Path) -> None:
    """--dry-run names the stale mount and leaves it in place."""
    pid, rootfs, _ = container
    result = run_helper(tmp_path, pid, "--dry-run", "--replace-live")
    assert result.returncode == 0, result.stderr
    assert f"would re-bind {rootfs}/proc/meminfo" in result.stdout
    assert read_in_namespace(pid, rootfs / "proc" / "meminfo") == "old\n"


@pytest.mark.root
@needs_namespaces
def test_remount_without_a_live_mount_fails_clearly(tmp_path: Path) -> None:
    """Pointed at a directory that is no LXCFS mount, the helper exits 1 and says so."""
    result = subprocess.run(
        [sys.executable, str(HELPER), "--mountpoint", str(tmp_path), "--pid", str(os.getpid())],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "no LXCFS mount at" in result.stderr


def test_remount_wait_gives_up_on_a_dead_mount(tmp_path: Path) -> None:
    """--wait polls for proc/meminfo and gives up with exit 1 when it never appears."""
    result = subprocess.run(
        [sys.executable, str(HELPER), "--mountpoint", str(tmp_path), "--wait", "0.6"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "did not come up" in result.stderr


@pytest.mark.root
@needs_namespaces
def test_remount_leaves_a_mount_another_daemon_serves_alone(
    container: tuple[int, Path, Path], tmp_path: Path
) -> None:
    """Without --replace-live a foreign LXCFS mount that still answers is not touched."""
    pid, rootfs, _ = container
    result = run_helper(tmp_path, pid)
    assert result.returncode == 0, result.stderr
    assert f"{rootfs}/proc/meminfo: left alone, another LXCFS daemon still serves it" in (
        result.stdout
    )
    assert read_in_namespace(pid, rootfs / "proc" / "meminfo") == "old\n"
