"""deploy/systemd and deploy/install.sh: the unit has upstream's shape and systemd accepts it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "lxcfs-py.service"
INSTALL = DEPLOY / "install.sh"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as section -> key -> values (keys may repeat, as in systemd)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"directive outside a section: {line}"
        key, equals, value = line.partition("=")
        assert equals, f"not a directive: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_unit_has_the_directives_the_issue_requires() -> None:
    """ExecStart mounts in the foreground, reload sends SIGUSR1, the mount is cleaned on stop."""
    service = parse_unit(UNIT.read_text())["Service"]
    assert service["Type"] == ["simple"]  # lxcfs-fuse never forks
    assert service["ExecStart"] == ["/usr/local/bin/lxcfs-fuse -f /var/lib/lxcfs"]
    assert service["ExecStartPre"] == ["/bin/mkdir -p /var/lib/lxcfs"]
    assert service["ExecReload"] == ["/bin/kill -USR1 $MAINPID"]
    assert service["OOMScoreAdjust"] == ["-1000"]
    assert service["KillMode"] == ["process"]
    assert service["Restart"] == ["on-failure"]
    # '-' prefix: a daemon that unmounted itself makes umount fail, which must not count.
    assert service["ExecStopPost"] == ["-/bin/umount -l /var/lib/lxcfs"]


def test_unit_orders_itself_like_upstream() -> None:
    """Not inside containers, before lxc.service, never together with Debian's lxcfs."""
    sections = parse_unit(UNIT.read_text())
    assert sections["Unit"]["ConditionVirtualization"] == ["!container"]
    assert sections["Unit"]["Before"] == ["lxc.service"]
    assert sections["Unit"]["Conflicts"] == ["lxcfs.service"]
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]


def install(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    destdir = tmp_path / "root"
    process = subprocess.run(
        ["sh", str(INSTALL), "--destdir", str(destdir), "--lxcfs-fuse", sys.executable, *extra],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return process, destdir


def test_install_stages_every_piece_with_the_chosen_paths(tmp_path: Path) -> None:
    """--mountpoint and --lxcfs-fuse reach the unit, the hook include and nothing else."""
    process, root = install(tmp_path, "--mountpoint", "/srv/lxcfs/", "--prefix", "/opt/lp")
    assert process.returncode == 0, process.stderr
    unit = parse_unit((root / "etc/systemd/system/lxcfs-py.service").read_text())["Service"]
    assert unit["ExecStart"] == [f"{sys.executable} -f /srv/lxcfs"]
    assert unit["ExecStopPost"] == ["-/bin/umount -l /srv/lxcfs"]
    conf = (root / "usr/share/lxc/config/common.conf.d/00-lxcfs-py.conf").read_text()
    assert (
        "lxc.hook.mount = /opt/lp/share/lxcfs-py/lxc.mount.hook --mountpoint=/srv/lxcfs\n" in conf
    )
    assert "lxc.hook.post-stop = /opt/lp/share/lxcfs-py/lxc.reboot.hook\n" in conf
    for executable in (
        "opt/lp/share/lxcfs-py/lxc.mount.hook",
        "opt/lp/share/lxcfs-py/lxc.reboot.hook",
        "opt/lp/sbin/lxcfs-remount",
    ):
        assert (root / executable).stat().st_mode & 0o111, executable
    assert "systemctl daemon-reload" in process.stdout


def test_install_rejects_relative_paths_and_missing_daemon(tmp_path: Path) -> None:
    """A relative mount point or an lxcfs-fuse that is not executable stops the install."""
    process, _ = install(tmp_path, "--mountpoint", "var/lib/lxcfs")
    assert process.returncode == 1 and "absolute" in process.stderr
    missing = subprocess.run(
        ["sh", str(INSTALL), "--destdir", str(tmp_path), "--lxcfs-fuse", "/nonexistent"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 1 and "lxcfs-fuse not found" in missing.stderr
    assert not (tmp_path / "etc").exists()


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_installed_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own parser accepts the installed unit without a single warning."""
    process, root = install(tmp_path)
    assert process.returncode == 0, process.stderr
    result = verify(root / "etc/systemd/system/lxcfs-py.service")
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_would_catch_a_typo(tmp_path: Path) -> None:
    """The verify check can fail: a misspelt key in the same unit produces a warning."""
    process, root = install(tmp_path)
    assert process.returncode == 0, process.stderr
    unit = root / "etc/systemd/system/lxcfs-py.service"
    unit.write_text(unit.read_text().replace("KillMode=", "KillMod="))
    result = verify(unit)
    assert "Unknown key" in result.stdout + result.stderr


def test_unit_command_line_is_one_lxcfs_fuse_accepts() -> None:
    """The daemon's own parser takes ExecStart's arguments: mount point /var/lib/lxcfs,
    foreground, default render options."""
    from lxcfs_fuse.options import DaemonOptions, parse_args

    (exec_start,) = parse_unit(UNIT.read_text())["Service"]["ExecStart"]
    parsed = parse_args(exec_start.split()[1:])
    assert isinstance(parsed, DaemonOptions)
    assert parsed.mountpoint == "/var/lib/lxcfs" and parsed.foreground
