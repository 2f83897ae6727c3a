"""The VM runner's host-side pieces, without booting: initramfs archive, module order, skips.

These run on the host in the ordinary suite (not marked ``vm``) and take well under a second.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

RUNNER_PATH = Path(__file__).resolve().parents[2] / "tools" / "vm" / "cgroup2_vm.py"


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cgroup2_vm", RUNNER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cgroup2_vm"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


def parse_newc(archive: bytes) -> list[tuple[str, int, int, int, bytes]]:
    """(name, mode, rdev major, rdev minor, data) per entry of a newc cpio archive, checking
    the magic and the 4-byte alignment the kernel's unpacker requires."""
    entries: list[tuple[str, int, int, int, bytes]] = []
    offset = 0
    while True:
        assert offset % 4 == 0
        header = archive[offset : offset + 110]
        assert header[:6] == b"070701", header[:6]
        fields = [int(header[6 + 8 * index : 14 + 8 * index], 16) for index in range(13)]
        mode, size, rdev_major, rdev_minor, name_size = (
            fields[1],
            fields[6],
            fields[9],
            fields[10],
            fields[11],
        )
        name_start = offset + 110
        name = archive[name_start : name_start + name_size - 1].decode()
        assert archive[name_start + name_size - 1] == 0
        data_start = name_start + name_size + (-(110 + name_size) % 4)
        data = archive[data_start : data_start + size]
        offset = data_start + size + (-size % 4)
        if name == "TRAILER!!!":
            assert offset == len(archive)
            return entries
        entries.append((name, mode, rdev_major, rdev_minor, data))


def test_cpio_writer_produces_the_kernels_newc_format() -> None:
    """Directories, files, symlinks and device nodes come out as newc entries with their
    modes, data, device numbers and padding, ending with the trailer."""
    writer = runner.CpioWriter()
    writer.directory("bin")
    writer.file("bin/tool", b"abcde", 0o755)
    writer.symlink("bin/sh", "tool")
    writer.char_device("dev/console", 5, 1)
    entries = parse_newc(writer.finish())
    assert entries == [
        ("bin", 0o040755, 0, 0, b""),
        ("bin/tool", 0o100755, 0, 0, b"abcde"),
        ("bin/sh", 0o120777, 0, 0, b"tool"),
        ("dev/console", 0o020600, 5, 1, b""),
    ]


def test_static_busybox_has_no_interpreter_and_a_dynamic_binary_has_one() -> None:
    """The PT_INTERP check tells busybox-static from a dynamically linked program."""
    if not Path("/bin/busybox").is_file():
        pytest.skip("busybox-static is not installed")
    assert runner._elf_has_interpreter(Path("/bin/busybox").read_bytes()) is False
    dynamic = shutil.which("sh")
    assert dynamic is not None
    assert runner._elf_has_interpreter(Path(dynamic).resolve().read_bytes()) is True


def test_modules_load_after_their_dependencies() -> None:
    """Every module in the initramfs order comes after each module it depends on."""
    try:
        kernel = runner.find_kernel(None)
    except runner.Skip as missing:
        pytest.skip(str(missing))
    order = runner.modules_in_load_order(kernel, runner.WANTED_MODULES)
    names = [name for name, _ in order]
    assert len(names) == len(set(names))
    for position, name in enumerate(names):
        for dependency in runner._modinfo(kernel, name, "depends").split(","):
            if dependency and dependency in names:
                assert names.index(dependency) < position, (dependency, name)
    assert {"virtio_pci", "9pnet_virtio", "overlay", "fuse", "virtio_blk"} <= set(names)


def test_a_missing_kernel_is_a_skip_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    """A kernel image that does not exist ends the runner with exit 77 and a SKIP line."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu is missing, which the runner reports first")
    code = runner.main(["--kernel", "/nonexistent/vmlinuz-0", "--", "true"])
    assert code == runner.EXIT_SKIPPED == 77
    assert "LXCFS-VM-SKIP: kernel image /nonexistent/vmlinuz-0 does not exist" in (
        capsys.readouterr().out
    )


def test_job_files_carry_the_command_and_the_environment() -> None:
    """The command runs quoted as given; the environment names the checkout, the host's
    Python directory first in PATH, and LXCFS_IN_VM=1."""
    files = runner.job_files(["python3", "-c", "print('a b')"], Path("/work/x y"), 99)
    assert files["command.sh"][0] == b"exec python3 -c 'print('\"'\"'a b'\"'\"')'\n"
    environment = files["environment.sh"][0].decode()
    assert "export LXCFS_VM_WORKDIR='/work/x y'\n" in environment
    assert "export LXCFS_IN_VM=1\n" in environment
    assert "export LXCFS_VM_COMMAND_TIMEOUT=99\n" in environment
    assert f"export PATH={os.path.dirname(sys.executable)}:" in environment
