#!/usr/bin/env python3
"""Run one command as root inside a throwaway VM with a pure cgroup-v2 hierarchy.

Rules:
1. Everything comes from this machine's own packages: the newest ``/boot/vmlinuz-*`` that has its
   modules in ``/lib/modules/<version>`` (Debian's ``linux-image-amd64``), ``/bin/busybox`` from
   ``busybox-static`` and ``qemu-system-x86_64`` from ``qemu-system-x86``. Nothing is downloaded.
2. A missing piece is a skip with a reason (exit code 77 and a ``LXCFS-VM-SKIP:`` line), never a
   silent pass; a VM that never reports an exit code is a failure (125), a VM past its deadline is
   killed (124). Otherwise the exit code is the command's own.
3. The host is never written to except the runner's own temporary directory: the VM sees this
   machine's root read-only over virtio-9p and writes into a tmpfs overlay.
4. Every qemu process this runner starts is ended by its pid before the runner returns, and
   dies with the runner if the runner itself is killed (PR_SET_PDEATHSIG).

Theory of operation: build an initramfs (busybox, the kernel modules for virtio, 9p, overlay and
fuse in dependency order, ``initramfs-init.sh`` as /init and a job directory: ``stage2.sh``, the
environment and the command); boot it under qemu (KVM where it works, else TCG) with the host
root and a writable results directory exported over 9p, a small raw virtio disk for I/O
accounting, and the serial console on our stdout. /init overlays the host root and switches into
it; stage 2 mounts cgroup2 alone, enables every controller, runs the command in the checkout and
writes its exit code to the results directory. See docs/cgroup-v2.md.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import lzma
import os
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

EXIT_SKIPPED = 77
EXIT_TIMED_OUT = 124
EXIT_VM_FAILED = 125

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent

# The modules the VM needs beyond what Debian builds in; their dependencies are added from
# ``modinfo -F depends`` and loaded first.
WANTED_MODULES = (
    "virtio_pci",  # the virtio transport for every device below
    "9pnet_virtio",  # the host root and the results directory
    "9p",
    "overlay",  # the writable tmpfs layer over the read-only host root
    "fuse",  # /dev/fuse for lxcfs-fuse and Debian's lxcfs
    "virtio_blk",  # /dev/vda, the disk whose I/O io.stat accounts
    "virtio_rng",  # entropy, so nothing in the VM waits for getrandom()
    "loop",
)

DISK_BYTES = 64 * 1024 * 1024  # /dev/vda: raw, for the tests' own I/O (io.stat)
SWAP_BYTES = 128 * 1024 * 1024  # /dev/vdb: stage 2 makes it the VM's swap (memory.swap.max)
KERNEL_COMMAND_LINE = (
    "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init psi=1 cgroup_no_v1=all "
    "random.trust_cpu=on"
)


class Skip(Exception):
    """This machine lacks something the VM needs; the message says what and how to get it."""


class VmFailed(Exception):
    """The VM could not be prepared or started."""


@dataclass(frozen=True, slots=True)
class Kernel:
    image: Path
    version: str

    @property
    def modules_dir(self) -> Path:
        return Path("/lib/modules") / self.version


@dataclass(frozen=True, slots=True)
class VmSettings:
    cpus: int
    memory_mib: int
    timeout_seconds: float
    accel: str
    keep: bool


# --------------------------------------------------------------------------------------------
# Finding the pieces


def find_kernel(explicit: str | None) -> Kernel:
    """The kernel to boot: ``explicit`` or the newest /boot/vmlinuz-* whose modules exist."""
    if explicit:
        image = Path(explicit)
        if not image.is_file():
            raise Skip(f"kernel image {image} does not exist")
        version = image.name.removeprefix("vmlinuz-")
        kernel = Kernel(image, version)
        if not kernel.modules_dir.is_dir():
            raise Skip(f"kernel {image}: no modules at {kernel.modules_dir}")
        return kernel
    candidates = [
        Kernel(image, image.name.removeprefix("vmlinuz-"))
        for image in Path("/boot").glob("vmlinuz-*")
    ]
    usable = [kernel for kernel in candidates if kernel.modules_dir.is_dir()]
    if not usable:
        raise Skip(
            "no kernel image with modules (/boot/vmlinuz-* and /lib/modules/<version>): "
            "apt-get install linux-image-amd64"
        )
    return max(usable, key=lambda kernel: _version_key(kernel.version))


def _version_key(version: str) -> tuple[int | str, ...]:
    parts: list[int | str] = []
    for piece in version.replace("-", ".").split("."):
        parts.append(int(piece) if piece.isdigit() else -1)
    return tuple(parts)


def find_qemu() -> str:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise Skip("qemu-system-x86_64 is not installed: apt-get install qemu-system-x86")
    return qemu


def find_static_busybox() -> Path:
    busybox = Path("/bin/busybox")
    if not busybox.is_file():
        raise Skip("/bin/busybox is missing: apt-get install busybox-static")
    if _elf_has_interpreter(busybox.read_bytes()):
        raise Skip("/bin/busybox is dynamically linked: apt-get install busybox-static")
    return busybox


def _elf_has_interpreter(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF asks for a dynamic loader (a PT_INTERP header)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return True  # not something we can put alone in an initramfs
    (program_headers,) = struct.unpack_from("<Q", elf, 0x20)
    entry_size, entry_count = struct.unpack_from("<HH", elf, 0x36)
    for index in range(entry_count):
        (segment_type,) = struct.unpack_from("<I", elf, program_headers + index * entry_size)
        if segment_type == 3:  # PT_INTERP
            return True
    return False


def modules_in_load_order(kernel: Kernel, wanted: Iterable[str]) -> list[tuple[str, Path]]:
    """Each wanted module after its dependencies, as (name, file); built-in ones left out."""
    ordered: list[tuple[str, Path]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dependency in _modinfo(kernel, name, "depends").split(","):
            if dependency:
                visit(dependency)
        filename = _modinfo(kernel, name, "filename")
        if filename != "(builtin)":
            ordered.append((name, Path(filename)))

    for name in wanted:
        visit(name)
    return ordered


def _modinfo(kernel: Kernel, module: str, field: str) -> str:
    result = subprocess.run(
        ["modinfo", "-k", kernel.version, "-F", field, module],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise VmFailed(f"modinfo {module} for kernel {kernel.version}: {result.stderr.strip()}")
    return result.stdout.strip()


def _module_bytes(path: Path) -> bytes:
    """The module's ELF: busybox insmod loads plain .ko files, so decompress .ko.xz here."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko"):
        return data
    raise VmFailed(f"cannot load {path}: only .ko and .ko.xz modules are supported")


# --------------------------------------------------------------------------------------------
# The initramfs: a newc cpio archive written here, so no cpio tool is needed


class CpioWriter:
    """Writes a "newc" cpio archive (the format the kernel unpacks as its initramfs)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._next_inode = 1

    def directory(self, name: str) -> None:
        self._entry(name, 0o040755, b"")

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, 0o120777, target.encode())

    def char_device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, 0o020600, b"", rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0, b"", inode=0)
        return b"".join(self._chunks)

    def _entry(
        self, name: str, mode: int, data: bytes, rdev: tuple[int, int] = (0, 0), inode: int = -1
    ) -> None:
        if inode < 0:
            inode = self._next_inode
            self._next_inode += 1
        encoded_name = name.encode() + b"\0"
        fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded_name), 0)
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        self._chunks.append(_pad4(header + encoded_name))
        self._chunks.append(_pad4(data))


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def build_initramfs(
    busybox: Path, modules: Sequence[tuple[str, Path]], job_files: dict[str, tuple[bytes, int]]
) -> bytes:
    archive = CpioWriter()
    for directory in ("bin", "dev", "proc", "sys", "lxcfs-vm", "lxcfs-vm/modules", "lxcfs-vm/job"):
        archive.directory(directory)
    # The kernel opens /dev/console for /init's stdio before devtmpfs is mounted.
    archive.char_device("dev/console", 5, 1)
    archive.file("bin/busybox", busybox.read_bytes(), 0o755)
    archive.file("init", (HERE / "initramfs-init.sh").read_bytes(), 0o755)
    order = []
    for name, path in modules:
        module_file = f"{name}.ko"
        archive.file(f"lxcfs-vm/modules/{module_file}", _module_bytes(path))
        order.append(module_file)
    archive.file("lxcfs-vm/modules.order", ("\n".join(order) + "\n").encode())
    for name, (data, mode) in job_files.items():
        archive.file(f"lxcfs-vm/job/{name}", data, mode)
    return archive.finish()


def job_files(
    command: Sequence[str], workdir: Path, command_timeout: int
) -> dict[str, tuple[bytes, int]]:
    """stage2.sh, the environment it sources and the command it runs, as initramfs files."""
    python_dir = str(Path(sys.executable).parent)
    environment = {
        "PATH": f"{python_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "COLUMNS": "120",
        "PYTHONPATH": str(workdir),
        "PYTHONUNBUFFERED": "1",
        "LXCFS_IN_VM": "1",
        "LXCFS_VM_DISK": "/dev/vda",
        "LXCFS_VM_SWAP": "/dev/vdb",
        "LXCFS_VM_PYTHON": sys.executable,
        "LXCFS_VM_WORKDIR": str(workdir),
        "LXCFS_VM_COMMAND_TIMEOUT": str(command_timeout),
    }
    for passed_through in ("CI", "HYPOTHESIS_PROFILE"):
        if passed_through in os.environ:
            environment[passed_through] = os.environ[passed_through]
    exports = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in environment.items())
    return {
        "stage2.sh": ((HERE / "stage2.sh").read_bytes(), 0o755),
        "environment.sh": (exports.encode(), 0o644),
        "command.sh": (f"exec {shlex.join(command)}\n".encode(), 0o755),
    }


# --------------------------------------------------------------------------------------------
# Booting


def accelerator(requested: str) -> list[str]:
    """qemu's -accel and -cpu options.

    TCG by default: it needs nothing from the host and is what CI measures. KVM is opt-in
    (``--accel kvm``): inside this project's Firecracker machines /dev/kvm opens but a nested
    guest hangs or trips over MSRs, so probing for it would only trade a clear result for a hang.
    """
    if requested == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg,thread=multi", "-cpu", "max,-la57"]


def qemu_command(
    qemu: str,
    kernel: Kernel,
    initramfs: Path,
    results: Path,
    disks: Sequence[Path],
    settings: VmSettings,
) -> list[str]:
    drives = [
        option
        for disk in disks
        for option in ("-drive", f"file={disk},if=virtio,format=raw,cache=writeback")
    ]
    return [
        qemu,
        "-name", "lxcfs-cgroup-v2",
        "-machine", "pc",
        *accelerator(settings.accel),
        "-smp", str(settings.cpus),
        "-m", str(settings.memory_mib),
        "-nodefaults", "-no-user-config", "-no-reboot",
        "-display", "none",
        "-serial", "stdio",
        "-nic", "none",
        "-kernel", str(kernel.image),
        "-initrd", str(initramfs),
        "-append", KERNEL_COMMAND_LINE,
        "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        "-fsdev", f"local,id=results,path={results},security_model=none,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=results,mount_tag=results",
        *drives,
        "-device", "virtio-rng-pci",
    ]  # fmt: skip


def run_in_vm(command: Sequence[str], settings: VmSettings, kernel_image: str | None) -> int:
    """Boot the VM, run ``command`` in the checkout as root, stream its output, return its code."""
    qemu = find_qemu()
    kernel = find_kernel(kernel_image)
    busybox = find_static_busybox()
    modules = modules_in_load_order(kernel, WANTED_MODULES)
    command_timeout = max(30, int(settings.timeout_seconds) - 60)

    scratch = Path(tempfile.mkdtemp(prefix="lxcfs-vm-"))
    try:
        initramfs = scratch / "initramfs.cpio"
        initramfs.write_bytes(
            build_initramfs(busybox, modules, job_files(command, CHECKOUT, command_timeout))
        )
        results = scratch / "results"
        results.mkdir()
        disks = (scratch / "io-disk.img", scratch / "swap-disk.img")
        for disk, size in zip(disks, (DISK_BYTES, SWAP_BYTES), strict=True):
            with disk.open("wb") as handle:
                handle.truncate(size)  # sparse: costs no host disk until written
        argv = qemu_command(qemu, kernel, initramfs, results, disks, settings)
        _say(f"booting {kernel.image} ({settings.cpus} CPUs, {settings.memory_mib} MiB)")
        started = time.monotonic()
        timed_out = _boot(argv, settings.timeout_seconds)
        elapsed = time.monotonic() - started
        if timed_out:
            _say(f"the VM passed its {settings.timeout_seconds:.0f} s deadline and was killed")
            return EXIT_TIMED_OUT
        exit_code_file = results / "exit-code"
        reported = exit_code_file.read_text().strip() if exit_code_file.is_file() else ""
        if not reported.isdigit():
            _say(f"the VM stopped after {elapsed:.1f} s without reporting an exit code")
            return EXIT_VM_FAILED
        code = int(reported)
        _say(f"the command exited {code}; the VM ran {elapsed:.1f} s")
        return code
    finally:
        if settings.keep:
            _say(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def _boot(argv: list[str], timeout_seconds: float) -> bool:
    """Run qemu with its serial console copied to our stdout; True if it had to be killed."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    assert process.stdout is not None
    console = process.stdout

    def copy_console() -> None:
        for raw_line in console:
            sys.stdout.write(raw_line.decode("utf-8", "replace").replace("\r", ""))
            sys.stdout.flush()

    copier = threading.Thread(target=copy_console, daemon=True)
    copier.start()
    try:
        process.wait(timeout=timeout_seconds)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # Only the qemu we started, by its pid (Popen.kill signals exactly that process).
        if process.poll() is None:
            process.kill()
            process.wait()
        copier.join(timeout=10)
        with contextlib.suppress(OSError):
            console.close()
    return timed_out


def _die_with_parent() -> None:
    """In the forked child before exec: the kernel sends qemu SIGKILL when this runner dies,
    even by SIGKILL (a test timeout), so no VM outlives the runner that started it."""
    prctl_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(prctl_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def _say(message: str) -> None:
    print(f"lxcfs-vm: {message}", flush=True)


def default_command() -> list[str]:
    """The cgroup-v2 suite: every test marked ``vm``, in one boot.

    Without plugin autoloading: scanning every installed distribution's entry points over 9p
    under emulation costs ~15 s, and the suite needs no third-party plugin."""
    return [
        "env",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1",
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-m",
        "vm",
        "-p",
        "no:cacheprovider",
        "tests/vm",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Without a command it runs the cgroup-v2 suite: pytest -m vm tests/vm.",
    )
    parser.add_argument("--kernel", help="kernel image (default: newest /boot/vmlinuz-*)")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--memory", type=int, default=2048, help="MiB (default 2048)")
    parser.add_argument("--timeout", type=float, default=600, help="hard deadline, seconds")
    parser.add_argument("--accel", choices=("tcg", "kvm"), default="tcg")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    options = parser.parse_args(argv)
    command = list(options.command)
    if command[:1] == ["--"]:
        command = command[1:]
    settings = VmSettings(
        cpus=options.cpus,
        memory_mib=options.memory,
        timeout_seconds=options.timeout,
        accel=options.accel,
        keep=options.keep,
    )
    try:
        return run_in_vm(command or default_command(), settings, options.kernel)
    except Skip as missing:
        print(f"LXCFS-VM-SKIP: {missing}", flush=True)
        return EXIT_SKIPPED
    except VmFailed as failure:
        print(f"LXCFS-VM-FAILED: {failure}", flush=True)
        return EXIT_VM_FAILED


if __name__ == "__main__":
    sys.exit(main())
