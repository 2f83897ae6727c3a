"""lxcfs_cli.deploy: ``docker-args`` and ``env`` print what the mount and the cgroups say.

Expected values come from tests/fixtures/README.md, worked out by hand there:
v2-nested's container /lxc/c2 has cpuset 1-2 of online 0-3 (2 CPUs), quota 150000/100000
(ceil 1.5 = 2), memory.max 536870912 on its parent /lxc; v1-nested's /lxc/c1 has cpuset 1
(1 CPU), quota 50000/100000 and a 512 MiB limit on /lxc.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lxcfs_cli.deploy import (
    RUNC_PROC_MOUNTS,
    docker_bind_paths,
    docker_volume_specs,
    register,
)
from lxcfs_model.errors import LxcfsModelError
from lxcfs_model.files import FILES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V2 = FIXTURES / "v2-nested"
V1 = FIXTURES / "v1-nested"

# The lines of LXCFS's README (docker run ... -v /var/lib/lxcfs/...), the ones runc accepts.
README_FLAGS = [
    "/var/lib/lxcfs/proc/cpuinfo:/proc/cpuinfo:rw",
    "/var/lib/lxcfs/proc/diskstats:/proc/diskstats:rw",
    "/var/lib/lxcfs/proc/meminfo:/proc/meminfo:rw",
    "/var/lib/lxcfs/proc/stat:/proc/stat:rw",
    "/var/lib/lxcfs/proc/swaps:/proc/swaps:rw",
    "/var/lib/lxcfs/proc/uptime:/proc/uptime:rw",
    "/var/lib/lxcfs/proc/slabinfo:/proc/slabinfo:rw",
    "/var/lib/lxcfs/sys/devices/system/cpu:/sys/devices/system/cpu:rw",
]


def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def exported(output: str) -> dict[str, str]:
    """``export NAME=value`` lines as a dict, values unquoted the way sh would."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            (values[name],) = shlex.split(value)
    return values


# ------------------------------------------------------------------------------ docker-args


def test_docker_args_cover_readme_lines_and_loadavg() -> None:
    """Every README -v line is printed, plus loadavg (which runc also allows); nothing else."""
    specs = docker_volume_specs("/var/lib/lxcfs")
    assert sorted(specs) == sorted([*README_FLAGS, "/var/lib/lxcfs/proc/loadavg:/proc/loadavg:rw"])


def test_docker_args_only_use_registered_files_runc_accepts() -> None:
    """Each bound /proc path is a rendered file on runc's list; pressure files are left out."""
    registered = {spec.path for spec in FILES}
    for path in docker_bind_paths():
        assert path == "sys/devices/system/cpu" or path in registered & RUNC_PROC_MOUNTS
    assert not any(path.startswith("proc/pressure") for path in docker_bind_paths())
    # Every registered /proc file runc accepts is bound: none was forgotten.
    assert {p for p in registered if p in RUNC_PROC_MOUNTS} <= set(docker_bind_paths())


def test_docker_args_follow_the_mountpoint_and_reject_unusable_ones() -> None:
    """A custom mount point prefixes every source; relative or ':' paths are refused."""
    specs = docker_volume_specs("/srv/lxcfs/")
    assert all(spec.startswith("/srv/lxcfs/") and "//" not in spec for spec in specs)
    with pytest.raises(LxcfsModelError, match="absolute"):
        docker_volume_specs("var/lib/lxcfs")
    with pytest.raises(LxcfsModelError, match="':'"):
        docker_volume_specs("/a:b")


def test_docker_args_command_prints_flags_and_warns_without_a_mount(tmp_path: Path) -> None:
    """The command prints '-v SPEC' per line and warns on stderr when nothing is mounted."""
    result = CliRunner().invoke(app(), ["docker-args", "--mountpoint", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"-v {spec}" for spec in docker_volume_specs(str(tmp_path))
    ]
    assert "nothing mounted" in result.stderr


def test_docker_args_sources_exist_in_a_mount_shaped_tree(tmp_path: Path) -> None:
    """Given a tree shaped like the mount, every -v source exists with the right type
    (file for /proc, directory for the cpu dir) and no warning is printed."""
    for spec in FILES:
        (tmp_path / spec.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / spec.path).write_text("x\n")
    result = CliRunner().invoke(app(), ["docker-args", "--mountpoint", str(tmp_path)])
    assert result.exit_code == 0 and result.stderr == ""
    for line in result.stdout.splitlines():
        flag, volume = line.split(" ", 1)
        source, target, mode = volume.split(":")
        assert flag == "-v" and mode == "rw"
        assert Path(source).exists()
        assert Path(source).is_dir() == (target == "/sys/devices/system/cpu")
        assert source == str(tmp_path) + target


def test_docker_args_compose_format_is_a_volumes_list() -> None:
    """--format compose prints a YAML volumes: list with the same specs."""
    yaml = pytest.importorskip("yaml")
    output = invoke("docker-args", "--format", "compose")
    assert yaml.safe_load(output) == {"volumes": list(docker_volume_specs("/var/lib/lxcfs"))}


# ------------------------------------------------------------------------------------- env


def test_env_for_a_v2_container_by_pid() -> None:
    """The init of c2 gets 2 CPUs, GOMEMLIMIT 90% of 512 MiB and the JVM flags."""
    values = exported(invoke("env", "--root", str(V2), "--pid", "5101"))
    assert values["PYTHON_CPU_COUNT"] == values["GOMAXPROCS"] == "2"
    assert values["OMP_NUM_THREADS"] == "2"
    assert values["GOMEMLIMIT"] == "483183820"  # floor(536870912 * 0.9)
    assert values["JAVA_TOOL_OPTIONS"] == "-XX:ActiveProcessorCount=2 -XX:MaxRAM=536870912"


def test_env_agrees_for_pid_child_and_cgroup() -> None:
    """A process of the container (5150), its init (5101) and --cgroup /lxc/c2 print the same
    settings."""
    by_init = exported(invoke("env", "--root", str(V2), "--pid", "5101"))
    by_child = exported(invoke("env", "--root", str(V2), "--pid", "5150"))
    by_cgroup = exported(invoke("env", "--root", str(V2), "--cgroup", "/lxc/c2"))
    assert by_init == by_child == by_cgroup


def test_env_for_a_v1_container_and_the_cfs_cap() -> None:
    """c1 on v1 has one CPU (cpuset 1) whatever --enable-cfs says, and 512 MiB."""
    for flag in ("--enable-cfs", "--no-enable-cfs"):
        values = exported(invoke("env", "--root", str(V1), "--pid", "4242", flag))
        assert values["GOMAXPROCS"] == "1"
        assert values["JAVA_TOOL_OPTIONS"] == "-XX:ActiveProcessorCount=1 -XX:MaxRAM=536870912"


def test_env_file_format_has_plain_assignments_and_comments() -> None:
    """--format env-file prints NAME=value lines (no export, no quotes) after # comments."""
    output = invoke("env", "--root", str(V2), "--pid", "5101", "--format", "env-file")
    lines = output.splitlines()
    assert lines[0].startswith("# lxcfs-render env for pid 5101")
    assert "JAVA_TOOL_OPTIONS=-XX:ActiveProcessorCount=2 -XX:MaxRAM=536870912" in lines
    assert all(line.startswith("#") or "=" in line for line in lines)
    assert not any(line.startswith("export ") for line in lines)


def test_env_shell_output_evaluates_in_sh() -> None:
    """The shell format is valid sh: evaluated, it sets the variables to the printed values."""
    output = invoke("env", "--root", str(V2), "--pid", "5101")
    shell = subprocess.run(
        ["sh", "-c", 'eval "$1"; printf "%s|%s" "$GOMAXPROCS" "$JAVA_TOOL_OPTIONS"', "sh", output],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert shell.stdout == "2|-XX:ActiveProcessorCount=2 -XX:MaxRAM=536870912"


def test_env_rejects_pid_and_cgroup_together() -> None:
    """--pid with --cgroup is a usage error (exit 2)."""
    result = CliRunner().invoke(app(), ["env", "--root", str(V2), "--pid", "1", "--cgroup", "/"])
    assert result.exit_code == 2
    assert "not both" in result.output


def test_env_unknown_cgroup_is_a_model_error() -> None:
    """An unknown cgroup raises the model's NoSuchCgroup (the CLI boundary prints it)."""
    with pytest.raises(LxcfsModelError, match="no cgroup"):
        CliRunner().invoke(
            app(), ["env", "--root", str(V2), "--cgroup", "/nope"], catch_exceptions=False
        )


# ---------------------------------------------------------------- through lxcfs-render itself


def _registered() -> bool:
    if shutil.which("lxcfs-render") is None:
        return False
    probe = subprocess.run(
        ["lxcfs-render", "docker-args", "--help"], capture_output=True, timeout=60, check=False
    )
    # Before registration "docker-args" is taken for a FILE name and --help prints the render
    # command's help (exit 0 too), so look for an option only docker-args has.
    return probe.returncode == 0 and b"--mountpoint" in probe.stdout


needs_registration = pytest.mark.skipif(
    not _registered(),
    reason="lxcfs-render has no docker-args command yet: lxcfs_cli/main.py must call "
    "lxcfs_cli.deploy.register(app)",
)


@needs_registration
def test_registered_cli_prints_docker_args_and_env() -> None:
    """Through the installed lxcfs-render, both commands print what the functions print."""
    docker = subprocess.run(
        ["lxcfs-render", "docker-args"], capture_output=True, text=True, timeout=60, check=True
    )
    assert docker.stdout.splitlines() == [f"-v {s}" for s in docker_volume_specs("/var/lib/lxcfs")]
    env = subprocess.run(
        ["lxcfs-render", "env", "--root", str(V2), "--pid", "5150"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert exported(env.stdout)["GOMEMLIMIT"] == "483183820"


@needs_registration
def test_registered_cli_reports_errors_in_one_line() -> None:
    """An unknown cgroup ends as one 'lxcfs-render: error:' line and exit status 1."""
    result = subprocess.run(
        ["lxcfs-render", "env", "--root", str(V2), "--cgroup", "/nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("lxcfs-render: error:") and result.stderr.count("\n") == 1


# ------------------------------------------------------------------- docs stay truthful

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def doc_block_after(prompt: str) -> list[str]:
    """The output lines shown in docs/deploy.md after the shell line ``$ <prompt>``."""
    lines = DEPLOY_DOC.read_text().splitlines()
    start = lines.index(f"$ {prompt}") + 1
    block = []
    for line in lines[start:]:
        if line.startswith(("$ ", "```")) or not line:
            break
        block.append(line)
    return block


def test_deploy_doc_shows_the_real_docker_args_output() -> None:
    """The docker-args example in docs/deploy.md is exactly what the command prints."""
    assert doc_block_after("lxcfs-render docker-args") == invoke("docker-args").splitlines()


def test_deploy_doc_shows_the_real_env_output() -> None:
    """The env example in docs/deploy.md is the output for v1-nested's container init 4242."""
    shown = doc_block_after("lxcfs-render env --pid 4242")
    assert shown == invoke("env", "--root", str(V1), "--pid", "4242").splitlines()
