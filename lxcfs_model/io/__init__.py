"""The I/O layer: the one place in lxcfs_model that reads files, clocks and processes.

It reads a live system (root ``/``) or a fixture tree laid out the same way (``<root>/proc``,
``<root>/sys/fs/cgroup``) into the values the renderers take. Contract (implemented in the
modules of this package):

- ``SystemReader(root="/")``
  - ``.host_snapshot() -> HostSnapshot``
  - ``.clock() -> Clock``
  - ``.layout`` -> the cgroup hierarchies found (v1, hybrid or v2)
  - ``.view_for_cgroup(path) -> CgroupView`` (same path in every hierarchy; ``NoSuchCgroup``)
  - ``.resolve_pid(pid) -> Container`` (the container a pid belongs to, spec section 2;
    ``NoSuchProcess``)
  - ``.view_for_container(container) -> CgroupView``
  - ``.view_for_pid(pid) -> CgroupView``
"""
