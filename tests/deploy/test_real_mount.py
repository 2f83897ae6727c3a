"""deploy/ against a real lxcfs-fuse mount: the LXC hook binds live FUSE files, and the remount
helper revives binds that a daemon restart left answering ENOTCONN.

Everything runs inside a private mount namespace (``unshare --mount``): the daemons, their
mounts and the stand-in container die with it, whatever happens to the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0
        or not os.path.exists("/dev/fuse")
        or not all(shutil.which(tool) for tool in ("unshare", "nsenter", "lxcfs-fuse")),
        reason="needs root, /dev/fuse, unshare, nsenter and lxcfs-fuse on PATH",
    ),
]

# Shell helpers shared by both scenarios: start a daemon and wait until it serves.
PRELUDE = r"""
set -eu
start_daemon() {  # $1: mount point, $2: tag, then daemon options; sets DAEMON
    MOUNT=$1; TAG=$2; shift 2
    lxcfs-fuse -f -p "$WORK/$TAG.pid" "$@" "$MOUNT" > "$WORK/$TAG.log" 2>&1 &
    DAEMON=$!
    i=0
    until [ -f "$MOUNT/proc/meminfo" ]; do
        i=$((i + 1)); [ $i -lt 100 ] || { cat "$WORK/$TAG.log"; exit 9; }
        sleep 0.1
    done
}
"""


def _mounts(output: str) -> dict[str, str]:
    """target -> filesystem type of the ``MOUNT <target> <type>`` lines a hook run printed."""
    lines = [line.split() for line in output.splitlines() if line.startswith("MOUNT ")]
    return {fields[1]: fields[2] for fields in lines}


def run_scenario(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "scenario.sh"
    script.write_text(PRELUDE + body)
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", str(script)],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "WORK": str(tmp_path),
            "HOOK": str(DEPLOY / "lxc" / "lxc.mount.hook"),
            "REMOUNT": f"{sys.executable} {DEPLOY / 'lxcfs-remount'}",
            "PYTHON": sys.executable,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_lxc_hook_binds_the_live_fuse_files(tmp_path: Path) -> None:
    """With lxcfs-fuse mounted, the hook's binds are fuse.lxcfs mounts that serve meminfo."""
    rootfs = tmp_path / "rootfs"
    for name in ("meminfo", "cpuinfo", "uptime"):
        (rootfs / "proc").mkdir(parents=True, exist_ok=True)
        (rootfs / "proc" / name).write_text("container\n")
    (rootfs / "sys/devices/system/cpu").mkdir(parents=True)
    (tmp_path / "mnt").mkdir()
    result = run_scenario(
        tmp_path,
        r"""
start_daemon "$WORK/mnt" d1
trap 'kill $DAEMON 2>/dev/null || true' EXIT
LXC_ROOTFS_MOUNT="$WORK/rootfs" "$HOOK" c1 lxc mount --mountpoint="$WORK/mnt"
awk -v r="$WORK/rootfs/" 'index($5, r) == 1 {print "MOUNT", substr($5, length(r) + 1), $(NF-2)}' \
    /proc/self/mountinfo
echo "READ $(head -n 1 "$WORK/rootfs/proc/meminfo")"
""",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    mounts = _mounts(result.stdout)
    assert mounts == {
        "proc/meminfo": "fuse.lxcfs",
        "proc/cpuinfo": "fuse.lxcfs",
        "proc/uptime": "fuse.lxcfs",
        "sys/devices/system/cpu": "fuse.lxcfs",
    }
    assert "READ MemTotal:" in result.stdout


def enable_cgroup_supported() -> bool:
    """Whether lxcfs-fuse has --enable-cgroup (issue 8)."""
    usage = subprocess.run(["lxcfs-fuse", "--help"], capture_output=True, text=True, timeout=30)
    return "--enable-cgroup" in usage.stdout


def test_lxc_hook_binds_the_live_cgroup_tree(tmp_path: Path) -> None:
    """With lxcfs-fuse --enable-cgroup, the hook binds the mount's memory hierarchy over the
    container's /sys/fs/cgroup/memory (a tmpfs directory, as LXC leaves it): a fuse.lxcfs
    mount that lists the caller's memory cgroup files."""
    if not enable_cgroup_supported():
        pytest.skip("waits for issue 8's core: lxcfs-fuse --enable-cgroup")
    rootfs = tmp_path / "rootfs"
    (rootfs / "proc").mkdir(parents=True)
    (rootfs / "proc" / "meminfo").write_text("container\n")
    (rootfs / "sys/fs/cgroup").mkdir(parents=True)
    (tmp_path / "mnt").mkdir()
    result = run_scenario(
        tmp_path,
        r"""
start_daemon "$WORK/mnt" d1 --enable-cgroup
trap 'kill $DAEMON 2>/dev/null || true' EXIT
mount -t tmpfs lxc-cgroup "$WORK/rootfs/sys/fs/cgroup"
mkdir "$WORK/rootfs/sys/fs/cgroup/memory"
LXC_ROOTFS_MOUNT="$WORK/rootfs" "$HOOK" c1 lxc mount --mountpoint="$WORK/mnt"
awk -v r="$WORK/rootfs/" 'index($5, r) == 1 {print "MOUNT", substr($5, length(r) + 1), $(NF-2)}' \
    /proc/self/mountinfo
ls "$WORK/rootfs/sys/fs/cgroup/memory" | sed 's/^/LIST /'
""",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    mounts = _mounts(result.stdout)
    assert mounts == {
        "proc/meminfo": "fuse.lxcfs",
        "sys/fs/cgroup": "tmpfs",
        "sys/fs/cgroup/memory": "fuse.lxcfs",
    }
    listing = {line[5:] for line in result.stdout.splitlines() if line.startswith("LIST ")}
    assert {"memory.limit_in_bytes", "tasks", "cgroup.procs"} <= listing


def test_remount_revives_binds_after_a_daemon_restart(tmp_path: Path) -> None:
    """A container's bind of the old mount reads ENOTCONN after the daemon died; after the new
    daemon started and lxcfs-remount ran, the same path reads the new mount's meminfo."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "proc").mkdir(parents=True)
    (rootfs / "proc" / "meminfo").write_text("container\n")
    (tmp_path / "mnt").mkdir()
    result = run_scenario(
        tmp_path,
        r"""
M="$WORK/mnt"; R="$WORK/rootfs"
start_daemon "$M" d1
FIRST=$DAEMON
# The "container": its own mount namespace (a copy of this one) with the bind LXC would make.
unshare --mount --propagation private sh -c "mount --bind '$M/proc/meminfo' '$R/proc/meminfo' \
    && echo ready > '$WORK/ready' && exec sleep 60" &
CONTAINER=$!
trap 'kill $CONTAINER ${SECOND:-} 2>/dev/null || true' EXIT
until [ -f "$WORK/ready" ]; do sleep 0.1; done
echo "BEFORE $(nsenter -t $CONTAINER -m head -n 1 "$R/proc/meminfo" 2>&1)"
kill $FIRST; wait $FIRST || true
echo "STALE $(nsenter -t $CONTAINER -m head -n 1 "$R/proc/meminfo" 2>&1 || true)"
start_daemon "$M" d2
SECOND=$DAEMON
$REMOUNT --mountpoint "$M" --pid $CONTAINER
echo "AFTER $(nsenter -t $CONTAINER -m head -n 1 "$R/proc/meminfo" 2>&1)"
""",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split(" ", 1)[0]: line for line in result.stdout.splitlines()}
    assert lines["BEFORE"].startswith("BEFORE MemTotal:")
    assert "Transport endpoint is not connected" in lines["STALE"]
    assert f"{rootfs}/proc/meminfo: re-bound to the live mount" in result.stdout
    assert lines["AFTER"].startswith("AFTER MemTotal:")


def test_docker_args_sources_exist_on_a_real_mount(tmp_path: Path) -> None:
    """Every -v source docker-args prints for a live mount exists, as a file for /proc paths
    and as a directory for the cpu directory: docker run would find them all."""
    (tmp_path / "mnt").mkdir()
    result = run_scenario(
        tmp_path,
        r"""
start_daemon "$WORK/mnt" d1
trap 'kill $DAEMON 2>/dev/null || true' EXIT
"$PYTHON" -c 'import sys; from lxcfs_cli.deploy import docker_volume_specs as d
print("\n".join(d(sys.argv[1])))' "$WORK/mnt" |
while IFS=: read -r source target mode; do
    if [ -d "$source" ]; then kind=dir; elif [ -f "$source" ]; then kind=file; else kind=missing; fi
    echo "SPEC $target $kind $mode"
done
""",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    specs = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith("SPEC ")]
    assert len(specs) == 9
    for target, kind, mode in specs:
        assert mode == "rw"
        assert kind == ("dir" if target == "/sys/devices/system/cpu" else "file"), target
