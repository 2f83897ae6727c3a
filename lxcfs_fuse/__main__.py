"""``python -m lxcfs_fuse``: the same as the ``lxcfs-fuse`` command."""

from lxcfs_fuse.main import run

run()
