"""lxcfs-render as a user runs it: names, snapshots, options, and one-line errors.

Runs the typer app in-process (typer's CliRunner) and the installed console script in a
subprocess. Live reads use this machine's / through SystemReader; they need no root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lxcfs_cli.main as cli
from lxcfs_model import FILES, RenderInputs, RenderOptions, short_name
from lxcfs_model.io import SystemReader
from lxcfs_model.snapshot import Snapshot, snapshot_from_json, snapshot_to_json

RUNNER = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = RUNNER.invoke(cli.app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def live_snapshot() -> Snapshot:
    """This machine's values for the root cgroup, read once."""
    reader = SystemReader("/")
    return Snapshot(
        view=reader.view_for_cgroup("/"),
        host=reader.host_snapshot(),
        clock=reader.clock(),
        options=RenderOptions(disable_swap=True),
        source="cgroup / (test)",
    )


@pytest.fixture(scope="module")
def snapshot_file(live_snapshot: Snapshot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "snap.json"
    path.write_text(snapshot_to_json(live_snapshot), encoding="ascii")
    return path


# ---------------------------------------------------------------------------------- names


def test_list_names_every_file_with_its_short_name() -> None:
    """--list prints one line per registered file: short name, then the full path."""
    code, out, err = invoke("--list")
    assert (code, err) == (0, "")
    rows = [line.split() for line in out.splitlines()]
    assert rows == [[short_name(spec.path), "/" + spec.path] for spec in FILES]
    assert ["meminfo", "/proc/meminfo"] in rows
    assert ["pressure/cpu", "/proc/pressure/cpu"] in rows
    assert ["online", "/sys/devices/system/cpu/online"] in rows


@pytest.mark.parametrize(
    "names",
    [
        ("meminfo", "proc/meminfo", "/proc/meminfo"),
        ("online", "sys/devices/system/cpu/online", "/sys/devices/system/cpu/online"),
        ("pressure/cpu", "proc/pressure/cpu"),
    ],
)
def test_short_and_full_names_print_the_same_file(
    names: tuple[str, ...], snapshot_file: Path
) -> None:
    """A short name, the path under the mount and the absolute path all name one file."""
    outputs = {invoke(name, "--snapshot", str(snapshot_file)) for name in names}
    assert len(outputs) == 1
    code, _, err = outputs.pop()
    assert (code, err) == (0, "")


# ------------------------------------------------------------------------------ snapshots


@pytest.mark.parametrize("spec", FILES, ids=lambda spec: short_name(spec.path))
def test_snapshot_render_is_byte_identical_to_the_live_values(
    spec: object, live_snapshot: Snapshot, snapshot_file: Path
) -> None:
    """FILE --snapshot prints exactly what the model renders from the values it was taken from."""
    assert isinstance(spec, type(FILES[0]))
    expected = spec.renderer(live_snapshot.inputs()).text
    loaded = snapshot_from_json(snapshot_file.read_text(encoding="ascii"))
    assert loaded == live_snapshot
    code, out, err = invoke(spec.path, "--snapshot", str(snapshot_file))
    assert (code, err) == (0, "")
    assert out == expected


def test_snapshot_command_saves_the_container_and_options(tmp_path: Path) -> None:
    """snapshot -o writes a loadable snapshot of the named cgroup with the given options."""
    target = tmp_path / "out.json"
    code, out, err = invoke("snapshot", "--cgroup", "/", "--enable-cfs", "-o", str(target))
    assert (code, out, err) == (0, "", "")
    saved = snapshot_from_json(target.read_text(encoding="ascii"))
    assert saved.options == RenderOptions(enable_cfs=True)
    assert saved.source == "cgroup /"
    assert saved.host.online == SystemReader("/").host_snapshot().online
    assert not (tmp_path / "out.json.tmp").exists()


def test_snapshot_to_stdout_is_the_json() -> None:
    """snapshot -o - prints the snapshot JSON itself."""
    code, out, _ = invoke("snapshot", "--cgroup", "/", "-o", "-")
    assert code == 0
    assert json.loads(out)["format"] == "lxcfs-py-snapshot"


@pytest.mark.parametrize("name", ["online", "possible", "present", "offline"])
def test_live_render_matches_the_model(name: str) -> None:
    """Without --snapshot the CLI renders the live values SystemReader reads (stable files)."""
    reader = SystemReader("/")
    inputs = RenderInputs(view=reader.view_for_cgroup("/"), host=reader.host_snapshot())
    code, out, err = invoke(name, "--cgroup", "/")
    assert (code, err) == (0, "")
    spec = next(spec for spec in FILES if short_name(spec.path) == name)
    assert out == spec.renderer(inputs).text


def test_default_container_is_the_callers_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither --cgroup nor --pid: the view of lxcfs-render's own pid."""
    asked: list[int] = []
    original = SystemReader.view_for_pid

    def spy(self: SystemReader, pid: int) -> object:
        asked.append(pid)
        return original(self, pid)

    monkeypatch.setattr(SystemReader, "view_for_pid", spy)
    code, _, err = invoke("online")
    assert (code, err) == (0, "")
    assert asked == [os.getpid()]


# -------------------------------------------------------------------------------- options


@pytest.fixture
def rendered_inputs(monkeypatch: pytest.MonkeyPatch) -> list[RenderInputs]:
    """Captures the inputs the CLI hands to the model instead of printing."""
    seen: list[RenderInputs] = []
    monkeypatch.setattr(cli, "_print_render", lambda spec, inputs, explain: seen.append(inputs))
    return seen


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), RenderOptions(disable_swap=True)),
        (("--enable-cfs",), RenderOptions(enable_cfs=True, disable_swap=True)),
        (("--no-disable-swap",), RenderOptions()),
        (
            ("--disable-zswap", "--enable-loadavg"),
            RenderOptions(disable_swap=True, disable_zswap=True, enable_loadavg=True),
        ),
    ],
)
def test_command_line_options_override_only_the_options_they_name(
    flags: tuple[str, ...],
    expected: RenderOptions,
    snapshot_file: Path,
    rendered_inputs: list[RenderInputs],
) -> None:
    """A snapshot renders with its saved options; each flag given replaces that one option."""
    code, _, err = invoke("meminfo", "--snapshot", str(snapshot_file), *flags)
    assert (code, err) == (0, "")
    assert [inputs.options for inputs in rendered_inputs] == [expected]


def test_live_options_default_to_off(rendered_inputs: list[RenderInputs]) -> None:
    """Live renders start from lxcfs's defaults (every option off) plus the flags given."""
    assert invoke("meminfo", "--cgroup", "/", "--disable-swap")[0] == 0
    assert invoke("meminfo", "--cgroup", "/")[0] == 0
    assert [inputs.options for inputs in rendered_inputs] == [
        RenderOptions(disable_swap=True),
        RenderOptions(),
    ]


# --------------------------------------------------------------------------------- errors


def _error_cases(tmp: Path) -> list[tuple[list[str], int, str]]:
    malformed = tmp / "malformed.json"
    malformed.write_text('{"format": "lxcfs-py-snapshot", "version": 1, "view": 3}')
    future = tmp / "future.json"
    future.write_text('{"format": "lxcfs-py-snapshot", "version": 7}')
    not_json = tmp / "junk.json"
    not_json.write_text("MemTotal: 5 kB\n")
    return [
        (["nosuch"], 1, "unknown file 'nosuch'; known files: cpuinfo, diskstats"),
        (["cpu"], 1, "unknown file 'cpu'"),
        ([], 2, "missing FILE argument"),
        (["meminfo", "--bogus"], 2, "No such option: --bogus"),
        (["meminfo", "--pid", "abc"], 2, "'--pid'"),
        (["meminfo", "--pid", "1", "--cgroup", "/"], 2, "give --cgroup or --pid, not both"),
        (["meminfo", "--cgroup", "/lxcfs_py_test_nonexistent"], 1, "no cgroup"),
        (["meminfo", "--pid", "999999999"], 1, "process 999999999 does not exist"),
        (["meminfo", "--root", str(tmp / "absent")], 1, "is not a readable directory"),
        (["meminfo", "--root", str(tmp)], 1, "it has no proc/ directory"),
        (["meminfo", "--snapshot", str(tmp / "absent.json")], 1, "No such file or directory"),
        (["meminfo", "--snapshot", str(malformed)], 1, "snapshot.view: expected an object"),
        (["meminfo", "--snapshot", str(future)], 1, "version 7 is not supported"),
        (["meminfo", "--snapshot", str(not_json)], 1, "snapshot is not valid JSON"),
        (["meminfo", "--snapshot", str(future), "--cgroup", "/"], 2, "--snapshot already"),
        (["snapshot"], 2, "Missing option '-o'"),
        (["snapshot", "-o", str(tmp / "no" / "dir.json"), "--cgroup", "/"], 1, "cannot write"),
        (["docs", "--check", "--out", str(tmp / "nodocs")], 1, "out of date"),
    ]


def test_every_error_is_one_line_and_non_zero(tmp_path: Path) -> None:
    """Each user error prints exactly one 'lxcfs-render: error:' line and a non-zero exit."""
    for args, expected_code, fragment in _error_cases(tmp_path):
        code, out, err = invoke(*args)
        assert code == expected_code, (args, err)
        assert out == "", args
        assert err.count("\n") == 1 and err.startswith("lxcfs-render: error: "), (args, err)
        assert fragment in err, (args, err)


# ------------------------------------------------------------------------ console script


def _console_script() -> list[str]:
    beside_python = Path(sys.executable).parent / "lxcfs-render"
    if beside_python.exists():
        return [str(beside_python)]
    found = shutil.which("lxcfs-render")
    assert found, "the lxcfs-render console script is not installed (pip install -e .)"
    return [found]


def run_script(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*_console_script(), *args], capture_output=True, timeout=60)


def test_console_script_lists_files() -> None:
    """The installed lxcfs-render script runs and lists the files."""
    result = run_script("--list")
    assert result.returncode == 0, result.stderr
    assert b"meminfo" in result.stdout and result.stderr == b""


def test_console_script_errors_without_traceback(tmp_path: Path) -> None:
    """Through the real script, every error path is one stderr line without a traceback."""
    for args, expected_code, fragment in _error_cases(tmp_path):
        result = run_script(*args)
        err = result.stderr.decode()
        assert result.returncode == expected_code, (args, err)
        assert "Traceback" not in err and err.count("\n") == 1, (args, err)
        assert fragment in err, (args, err)


SCRIPT_FILES = ("meminfo", "cpuinfo", "stat", "swaps", "uptime", "online")


def test_console_script_snapshot_round_trip_is_byte_identical(tmp_path: Path) -> None:
    """snapshot then FILE --snapshot through the real script prints the model's bytes.

    (Every file is covered in-process above; the script is run for the main ones only.)"""
    target = tmp_path / "snap.json"
    assert run_script("snapshot", "--cgroup", "/", "-o", str(target)).returncode == 0
    loaded = snapshot_from_json(target.read_text(encoding="ascii"))
    for spec in [spec for spec in FILES if short_name(spec.path) in SCRIPT_FILES]:
        result = run_script(spec.path, "--snapshot", str(target))
        assert result.returncode == 0, result.stderr
        assert result.stdout == spec.renderer(loaded.inputs()).text.encode()
