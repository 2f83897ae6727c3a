"""lxcfs_fuse: the FUSE daemon that serves lxcfs_model's files to every container.

A drop-in for lxcfs: ``lxcfs-fuse /var/lib/lxcfs`` mounts proc/{cpuinfo,diskstats,loadavg,
meminfo,slabinfo,stat,swaps,uptime}, proc/pressure/{cpu,io,memory} and
sys/devices/system/cpu/, which a runtime bind-mounts into containers; each reader sees its
own container. The adapter is thin: it maps paths, pids, errno and options; all content is
rendered by ``lxcfs_model``. Flow: ``main`` (options, pid file, mount) -> ``operations``
(FUSE handlers) -> ``tree`` (what a path is) -> ``content`` (caller -> container -> model).
``fuse_api`` is the one place that knows the FUSE binding (fusepy or mfusepy).
"""
