"""Preparing the mount point: create it if missing, clear a stale mount left by a dead daemon.

A FUSE daemon that died without unmounting leaves its mount behind; every access to it then
fails with ENOTCONN ("Transport endpoint is not connected") and mounting over it would stack
a second mount on a dead one. ``prepare`` detaches such a mount (``fusermount -u -z``, else
``umount -l``) before the daemon mounts. A live mount is left alone.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess

__all__ = ["is_stale", "prepare"]

log = logging.getLogger("lxcfs_fuse")

_UNMOUNT_COMMANDS = (
    ("fusermount", "-u", "-z"),
    ("fusermount3", "-u", "-z"),
    ("umount", "-l"),
)


def is_stale(path: str) -> bool:
    """Whether ``path`` is a FUSE mount whose daemon is gone."""
    try:
        os.stat(path)
    except OSError as error:
        return error.errno == errno.ENOTCONN
    return False


def prepare(path: str) -> None:
    """Make ``path`` a usable mount point (see the module text). Raises OSError when a stale
    mount cannot be detached or the directory cannot be made."""
    if is_stale(path):
        log.warning("%s: stale mount of a dead daemon; detaching it", path)
        for command in _UNMOUNT_COMMANDS:
            if shutil.which(command[0]) is None:
                continue
            subprocess.run([*command, path], check=False, capture_output=True)
            if not is_stale(path):
                break
        if is_stale(path):
            raise OSError(errno.ENOTCONN, "cannot detach the stale mount", path)
    os.makedirs(path, exist_ok=True)
