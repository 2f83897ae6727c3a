"""``lxcfs-render docker-args`` and ``lxcfs-render env``: deployment helpers of the CLI.

Rules:
1. Thin, like the rest of the CLI: the bind list comes from the file registry
   (``lxcfs_model.files.FILES``) and the limits from ``lxcfs_model.launchers``; this module
   only reads the system and prints.
2. Errors a user can cause are ``LxcfsModelError`` or a typer usage error; the CLI's one
   boundary (``RenderGroup.main``) turns them into one line on stderr.
3. ``register(app)`` adds both commands to a Typer app; ``lxcfs_cli.main`` calls it.

Why docker-args binds only some /proc files: runc (Docker's and most Kubernetes nodes'
runtime) refuses any mount inside /proc except a fixed list it keeps for LXCFS
(``validProcMounts`` in libcontainer/rootfs_linux.go: cpuinfo, diskstats, meminfo, stat,
swaps, uptime, loadavg, slabinfo, ...). /proc/pressure/* is not on it, so a ``-v`` for it
would make ``docker run`` fail; LXC, which mounts by itself, does bind it.
"""

from __future__ import annotations

import os
import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lxcfs_model.errors import LxcfsModelError
from lxcfs_model.files import FILES
from lxcfs_model.io import SystemReader
from lxcfs_model.launchers import (
    DEFAULT_GO_MEMORY_SHARE,
    container_limits,
    launcher_environment,
)
from lxcfs_model.values import RenderOptions

__all__ = [
    "DEFAULT_MOUNTPOINT",
    "RUNC_PROC_MOUNTS",
    "docker_bind_paths",
    "docker_volume_specs",
    "register",
]

DEFAULT_MOUNTPOINT = "/var/lib/lxcfs"
CPU_DIRECTORY = "sys/devices/system/cpu"

#: /proc files runc lets a container bind over (libcontainer checkProcMount).
RUNC_PROC_MOUNTS = frozenset(
    {
        "proc/cpuinfo",
        "proc/diskstats",
        "proc/meminfo",
        "proc/stat",
        "proc/swaps",
        "proc/uptime",
        "proc/loadavg",
        "proc/slabinfo",
    }
)


def docker_bind_paths() -> tuple[str, ...]:
    """Paths under the mount that a container runtime binds, same path inside the container.

    Every /proc file of the registry runc accepts, then the whole sysfs cpu directory (the
    mount passes it through and virtualizes online & co. inside it, as LXCFS's README binds
    it). Order follows the registry.
    """
    paths = [spec.path for spec in FILES if spec.path in RUNC_PROC_MOUNTS]
    if any(spec.path.startswith(CPU_DIRECTORY + "/") for spec in FILES):
        paths.append(CPU_DIRECTORY)
    return tuple(paths)


def docker_volume_specs(mountpoint: str) -> tuple[str, ...]:
    """``SRC:DST:rw`` volume specs for ``docker run -v`` (and compose), for ``mountpoint``."""
    base = mountpoint.rstrip("/") or "/"
    if not base.startswith("/"):
        raise LxcfsModelError(f"--mountpoint must be an absolute path, not {mountpoint!r}")
    if ":" in base:
        # docker -v splits on ':'; such a path cannot be expressed in this syntax.
        raise LxcfsModelError(f"--mountpoint {mountpoint!r} contains ':', which -v cannot take")
    return tuple(f"{base}/{path}:/{path}:rw" for path in docker_bind_paths())


class DockerFormat(StrEnum):
    flags = "flags"
    compose = "compose"


class EnvFormat(StrEnum):
    shell = "shell"
    env_file = "env-file"


def docker_args_command(
    mountpoint: Annotated[
        str,
        typer.Option("--mountpoint", metavar="DIR", help="Where lxcfs-fuse is mounted."),
    ] = DEFAULT_MOUNTPOINT,
    output_format: Annotated[
        DockerFormat,
        typer.Option(
            "--format",
            help="flags: '-v SRC:DST:rw' lines for docker run; compose: a volumes: list.",
        ),
    ] = DockerFormat.flags,
) -> None:
    """Print the docker run -v flags that show a container the LXCFS files.

    \b
    Example:
      docker run -it -m 256m $(lxcfs-render docker-args) debian:12 free -m
    """
    specs = docker_volume_specs(mountpoint)
    if not os.path.isfile(os.path.join(mountpoint, "proc", "meminfo")):
        print(
            f"lxcfs-render: warning: nothing mounted at {mountpoint} yet "
            f"(start lxcfs-fuse {mountpoint}); docker run will fail until it is",
            file=sys.stderr,
        )
    if output_format is DockerFormat.compose:
        lines = ["volumes:", *(f"  - {spec}" for spec in specs)]
    else:
        lines = [f"-v {spec}" for spec in specs]
    sys.stdout.write("\n".join(lines) + "\n")


def env_command(
    pid: Annotated[
        int | None,
        typer.Option("--pid", metavar="PID", help="The container this pid belongs to."),
    ] = None,
    cgroup: Annotated[
        str | None,
        typer.Option(
            "--cgroup",
            metavar="PATH",
            help="The container's cgroup path (as /proc/<pid>/cgroup prints it).",
        ),
    ] = None,
    root: Annotated[
        Path,
        typer.Option(
            "--root", metavar="DIR", help="Read the system from DIR instead of / (fixtures)."
        ),
    ] = Path("/"),
    enable_cfs: Annotated[
        bool,
        typer.Option(
            "--enable-cfs/--no-enable-cfs",
            help="Count CPUs as the daemon does with --enable-cfs (capped by the CFS quota).",
        ),
    ] = False,
    output_format: Annotated[
        EnvFormat,
        typer.Option(
            "--format",
            help="shell: 'export NAME=value' for eval; env-file: NAME=value lines "
            "(docker --env-file, systemd EnvironmentFile=).",
        ),
    ] = EnvFormat.shell,
    go_memory_share: Annotated[
        float,
        typer.Option(
            "--go-memory-share",
            min=0.01,
            max=1.0,
            help="Fraction of the memory limit given to GOMEMLIMIT.",
        ),
    ] = DEFAULT_GO_MEMORY_SHARE,
) -> None:
    """Print the container's CPU count and memory limit as runtime environment settings.

    For programs that ask the kernel (sysinfo(2), sched_getaffinity(2)) or cgroupfs instead
    of reading /proc: the numbers are the ones the LXCFS files show.

    \b
    Examples:
      eval "$(lxcfs-render env)" && exec java -jar app.jar
      lxcfs-render env --pid 4242 --format env-file > /run/c1.env
    """
    if pid is not None and cgroup is not None:
        raise typer.BadParameter("give --cgroup or --pid, not both")
    reader = SystemReader(str(root))
    if cgroup is not None:
        view = reader.view_for_cgroup(cgroup)
        source = f"cgroup {cgroup}"
    else:
        target = os.getpid() if pid is None else pid
        view = reader.view_for_pid(target)
        source = f"pid {target}"
    limits = container_limits(view, reader.host_snapshot(), RenderOptions(enable_cfs=enable_cfs))
    lines = [
        f"# lxcfs-render env for {source}",
        f"# CPUs: {limits.cpu_count} = {limits.cpu_reason}",
        "# memory: "
        + (
            f"{limits.memory_bytes} bytes = {limits.memory_reason}"
            if limits.memory_bytes is not None
            else f"no limit to pass on ({limits.memory_reason})"
        ),
    ]
    for setting in launcher_environment(limits, go_memory_share):
        if output_format is EnvFormat.shell:
            lines.append(f"export {setting.name}={shlex.quote(setting.value)}")
        else:
            lines.append(f"{setting.name}={setting.value}")
    sys.stdout.write("\n".join(lines) + "\n")


def register(app: typer.Typer) -> None:
    """Add ``docker-args`` and ``env`` to the ``lxcfs-render`` app."""
    app.command("docker-args")(docker_args_command)
    app.command("env")(env_command)
