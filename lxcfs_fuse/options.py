"""Command line of ``lxcfs-fuse``: lxcfs's options, parsed into one frozen value.

Rules:
1. Every option lxcfs 5.0.3 and 7.0 accept is accepted here with the same spelling, before or
   after the mount point (``lxcfs -l /var/lib/lxcfs`` and ``lxcfs /var/lib/lxcfs -l`` alike),
   so an existing systemd unit or init script runs unchanged.
2. Options that change content become ``RenderOptions``; the rest drive the daemon.
3. ``-o`` options are filtered like 7.0 (spec 1.2): the ones this daemon fixes itself
   (allow_other, direct_io, entry/attr timeouts, nonempty) are dropped, the rest are passed
   to libfuse, and ours are appended last so they win.

Deliberate differences (docs/differences-fuse.md): the daemon always stays in the foreground
(like 7.0; ``-f`` is accepted and changes nothing), ``-d`` may be combined with ``-f``,
``-h`` prints to stdout and exits 0, ``-v`` prints the bare version to stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import attrs

from lxcfs_model import RenderOptions, __version__

__all__ = ["DaemonOptions", "UsageError", "fuse_mount_options", "parse_args"]

DEFAULT_RUNTIME_DIR = "/run"

#: Mount options the daemon always sets (spec 1.2); a user's own values for these are dropped.
FIXED_MOUNT_OPTIONS: dict[str, str | bool] = {
    "allow_other": True,
    "entry_timeout": "0.5",
    "attr_timeout": "0.5",
    "fsname": "lxcfs",
    "subtype": "lxcfs",
}
_DROPPED_USER_OPTIONS = ("allow_other", "direct_io", "entry_timeout", "attr_timeout", "nonempty")


class UsageError(Exception):
    """The command line cannot be used; the message says why (exit status 1, like lxcfs)."""


@attrs.frozen
class DaemonOptions:
    """Everything the command line decides."""

    mountpoint: str
    render: RenderOptions
    debug: bool = False
    foreground: bool = True
    single_threaded: bool = False
    enable_pidfd: bool = False
    enable_psi_poll: bool = False
    enable_cgroup: bool = False
    pidfile: str = DEFAULT_RUNTIME_DIR + "/lxcfs.pid"
    runtime_dir: str = DEFAULT_RUNTIME_DIR
    user_mount_options: tuple[str, ...] = ()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(
        prog="lxcfs-fuse",
        description="Mount container-aware /proc and /sys files (a drop-in for lxcfs).",
        epilog="Example: lxcfs-fuse -l --enable-cfs /var/lib/lxcfs",
        add_help=False,
    )
    parser.add_argument("mountpoint", nargs="*", help="where to mount (e.g. /var/lib/lxcfs)")
    flag = parser.add_argument
    flag("-h", "--help", action="store_true", help="show this help and exit")
    flag("-v", "--version", action="store_true", help="print the version and exit")
    flag("-f", "--foreground", action="store_true", help="accepted; always in the foreground")
    flag("-d", "--debug", action="store_true", help="libfuse request tracing on stderr")
    flag("-l", "--enable-loadavg", action="store_true", help="virtualize /proc/loadavg")
    flag("-u", "--disable-swap", action="store_true", help="report no swap")
    flag("--disable-zswap", action="store_true", help="report Zswap/Zswapped as 0")
    flag("--enable-cfs", action="store_true", help="CPU view: count CPUs from the CFS quota")
    flag("--enable-pidfd", action="store_true", help="accepted (init validation is always on)")
    flag("--enable-psi-poll", action="store_true", help="accepted; PSI triggers unsupported")
    flag(
        "--enable-cgroup",
        action="store_true",
        help="serve <mountpoint>/cgroup: each container's own cgroups, confined and writable",
    )
    flag("-s", dest="single_threaded", action="store_true", help="serve in one thread")
    flag("-o", dest="mount_options", action="append", default=[], help="FUSE mount options")
    flag("-p", "--pidfile", default=None, help="pid file (default <runtime-dir>/lxcfs.pid)")
    flag("--runtime-dir", default=DEFAULT_RUNTIME_DIR, help="runtime directory (default /run)")
    return parser


def usage() -> str:
    """The help text."""
    return _parser().format_help()


def parse_args(argv: Sequence[str]) -> DaemonOptions | str:
    """Parse ``argv`` (without the program name). Returns the options, or the text to print
    for ``--help``/``--version``. Raises ``UsageError`` for an unusable command line."""
    parsed = _parser().parse_intermixed_args(list(argv))
    if parsed.help:
        return usage()
    if parsed.version:
        return __version__ + "\n"
    if len(parsed.mountpoint) != 1:
        raise UsageError(
            "missing mountpoint" if not parsed.mountpoint else "more than one mountpoint given"
        )
    if len(parsed.mount_options) > 1:
        raise UsageError("-o given more than once (join the options with commas)")
    runtime_dir = parsed.runtime_dir.rstrip("/") or "/"
    user_options = tuple(
        option
        for group in parsed.mount_options
        for option in group.split(",")
        if option and not option.startswith(_DROPPED_USER_OPTIONS)
    )
    return DaemonOptions(
        mountpoint=parsed.mountpoint[0],
        render=RenderOptions(
            enable_cfs=parsed.enable_cfs,
            disable_swap=parsed.disable_swap,
            disable_zswap=parsed.disable_zswap,
            enable_loadavg=parsed.enable_loadavg,
        ),
        debug=parsed.debug,
        foreground=True,
        single_threaded=parsed.single_threaded,
        enable_pidfd=parsed.enable_pidfd,
        enable_psi_poll=parsed.enable_psi_poll,
        enable_cgroup=parsed.enable_cgroup,
        pidfile=parsed.pidfile or f"{runtime_dir.rstrip('/')}/lxcfs.pid",
        runtime_dir=runtime_dir,
        user_mount_options=user_options,
    )


def fuse_mount_options(options: DaemonOptions) -> dict[str, str | bool]:
    """The ``-o`` options handed to libfuse: the user's (filtered) first, ours last."""
    merged: dict[str, str | bool] = {}
    for option in options.user_mount_options:
        key, equals, value = option.partition("=")
        merged[key] = value if equals else True
    merged.update(FIXED_MOUNT_OPTIONS)
    return merged


def print_usage_error(error: UsageError) -> None:
    """One line for a bad command line, then the usage synopsis (stderr), like lxcfs."""
    print(f"lxcfs-fuse: {error}", file=sys.stderr)
    print(_parser().format_usage().rstrip(), file=sys.stderr)
