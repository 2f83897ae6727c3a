"""The lxcfs-compatible command line."""

from __future__ import annotations

import pytest

from lxcfs_fuse.options import DaemonOptions, UsageError, fuse_mount_options, parse_args
from lxcfs_model import RenderOptions, __version__


def _parse(*argv: str) -> DaemonOptions:
    parsed = parse_args(argv)
    assert isinstance(parsed, DaemonOptions)
    return parsed


def test_options_before_and_after_the_mountpoint_mean_the_same() -> None:
    """lxcfs accepts options on either side of the mount point; so do we."""
    before = _parse("-l", "-u", "--enable-cfs", "--disable-zswap", "/var/lib/lxcfs")
    after = _parse("/var/lib/lxcfs", "-l", "-u", "--enable-cfs", "--disable-zswap")
    assert before == after
    assert before.render == RenderOptions(
        enable_cfs=True, disable_swap=True, disable_zswap=True, enable_loadavg=True
    )


def test_daemon_options_and_defaults() -> None:
    """-f -d -s --enable-pidfd -p --runtime-dir are accepted; the pid file defaults to
    <runtime-dir>/lxcfs.pid."""
    options = _parse("-f", "-d", "-s", "--enable-pidfd", "--runtime-dir", "/tmp/rt/", "/mnt")
    assert options.debug and options.single_threaded and options.enable_pidfd
    assert options.pidfile == "/tmp/rt/lxcfs.pid"
    assert _parse("/mnt").pidfile == "/run/lxcfs.pid"
    assert _parse("-p", "/x.pid", "/mnt").pidfile == "/x.pid"
    assert _parse("--pidfile=/y.pid", "/mnt").pidfile == "/y.pid"


def test_mount_options_are_filtered_and_ours_win() -> None:
    """User -o options pass, except the ones the daemon fixes (spec 1.2)."""
    options = _parse("-o", "allow_other,direct_io,entry_timeout=9,attr_timeout=9,ro,nonempty", "/m")
    assert options.user_mount_options == ("ro",)
    merged = fuse_mount_options(options)
    assert merged["ro"] is True and merged["allow_other"] is True
    assert merged["entry_timeout"] == "0.5" and merged["attr_timeout"] == "0.5"


@pytest.mark.parametrize(
    "argv",
    [(), ("/a", "/b"), ("-o", "ro", "-o", "rw", "/m"), ("--no-such-option", "/m"), ("-z", "/m")],
)
def test_unusable_command_lines_are_usage_errors(argv: tuple[str, ...]) -> None:
    """No or two mount points, -o twice and unknown options (-z too, as in lxcfs) fail."""
    with pytest.raises(UsageError):
        parse_args(argv)


def test_help_and_version() -> None:
    """-h returns the usage text and -v the bare version."""
    help_text = parse_args(["-h"])
    assert isinstance(help_text, str) and "--enable-loadavg" in help_text
    assert parse_args(["-v"]) == __version__ + "\n"
