"""lxcfs_cli: the ``lxcfs-render`` command, a thin adapter over ``lxcfs_model``.

It translates arguments, asks ``lxcfs_model.io.SystemReader`` (or a snapshot file) for the
values, calls the model and prints. Nothing here computes a file's content.
"""
