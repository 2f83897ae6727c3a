"""kernel_files: GIL-holding reads of kernel pseudo-files give what ``os`` gives, and anything
that is not a kernel file is read with ``os`` or, under ``only_kernel_files``, refused."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from lxcfs_model.io import CachingReader
from lxcfs_model.io.kernel_files import KernelFiles, WouldBlock, only_kernel_files, read_text

LIVE = KernelFiles(["/proc", "/sys/devices/system/cpu"])
needs_proc = pytest.mark.skipif(not LIVE.trusted, reason="no procfs mounted at /proc")


def _os_read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read()


@needs_proc
def test_live_proc_and_sys_are_trusted() -> None:
    """/proc (procfs) and /sys/devices/system/cpu (sysfs) pass the statfs check."""
    assert LIVE.trusted == ("/proc/", "/sys/devices/system/cpu/")


@needs_proc
@pytest.mark.parametrize(
    "path", ["/proc/self/status", "/proc/self/cgroup", "/proc/meminfo", "/proc/cpuinfo"]
)
def test_kernel_file_reads_like_open(path: str) -> None:
    """A kernel file read with the GIL held has the text ``open().read()`` gives (cpuinfo is
    larger than one seq_file page, so it takes several reads)."""
    assert LIVE.read_text(path).splitlines()[:3] == _os_read(path).splitlines()[:3]
    if path == "/proc/cpuinfo":
        assert LIVE.read_text(path) == _os_read(path)


@needs_proc
def test_a_file_larger_than_the_buffer_is_read_whole() -> None:
    """A kernel file of several megabytes (kallsyms) comes back whole: the per-thread buffer
    bounds one read, not the text."""
    if not os.path.exists("/proc/kallsyms"):
        pytest.skip("no /proc/kallsyms")
    text = LIVE.read_text("/proc/kallsyms")
    assert len(text) > 1 << 20
    assert text.count("\n") == _os_read("/proc/kallsyms").count("\n")


@needs_proc
def test_errors_are_the_os_errors() -> None:
    """A missing kernel file raises FileNotFoundError with its path, like os.open."""
    with pytest.raises(FileNotFoundError) as raised:
        LIVE.read_text("/proc/self/no-such-file")
    assert raised.value.errno == errno.ENOENT
    assert raised.value.filename == "/proc/self/no-such-file"


@needs_proc
def test_directory_link_and_existence_checks_match_os() -> None:
    """is_directory, exists and read_link answer as os.path.isdir, os.path.exists and
    os.readlink do, for present and absent paths."""
    for path in ("/proc/self", "/proc/self/status", "/proc/999999999", "/proc/self/nope"):
        assert LIVE.is_directory(path) == os.path.isdir(path), path
        assert LIVE.exists(path) == os.path.exists(path), path
    assert LIVE.read_link("/proc/self/ns/pid") == os.readlink("/proc/self/ns/pid")
    with pytest.raises(FileNotFoundError):
        LIVE.read_link("/proc/999999999/ns/pid")


def test_a_directory_on_another_filesystem_is_not_trusted(tmp_path: Path) -> None:
    """A directory that is not procfs, sysfs or a cgroup filesystem is left out, so its
    files are read with os (and may block)."""
    (tmp_path / "memory.stat").write_text("cache 1\n")
    files = KernelFiles([str(tmp_path)])
    assert files.trusted == ()
    assert files.read_text(str(tmp_path / "memory.stat")) == "cache 1\n"
    with only_kernel_files(), pytest.raises(WouldBlock):
        files.read_text(str(tmp_path / "memory.stat"))


def test_a_non_kernel_file_below_a_trusted_directory_is_caught_after_open(
    tmp_path: Path,
) -> None:
    """A file under a trusted prefix whose descriptor is not on a kernel filesystem (a bind
    mount over it) is re-read with os, or refused under only_kernel_files; a named pipe
    there is refused at once rather than waited on (the open is O_NONBLOCK)."""
    (tmp_path / "meminfo").write_text("MemTotal: 1 kB\r\n")
    os.mkfifo(tmp_path / "pipe")
    files = KernelFiles([])
    files.trusted = (str(tmp_path) + "/",)  # as if statfs had said procfs
    assert files.read_text(str(tmp_path / "meminfo")) == "MemTotal: 1 kB\n"
    with only_kernel_files():
        with pytest.raises(WouldBlock):
            files.read_text(str(tmp_path / "meminfo"))
        with pytest.raises(WouldBlock):
            files.read_text(str(tmp_path / "pipe"))


def test_distrusted_files_are_never_opened_with_the_gil_held(tmp_path: Path) -> None:
    """A single file named at construction that is not a kernel file is distrusted even
    below a trusted directory, so it is never opened while the GIL is held."""
    target = tmp_path / "meminfo"
    target.write_text("x\n")
    files = KernelFiles([], files=[str(target)])
    assert files.distrusted == frozenset()  # not below a trusted directory: nothing to do
    files.trusted = (str(tmp_path) + "/",)
    files.distrusted = frozenset({str(target)})
    with only_kernel_files(), pytest.raises(WouldBlock):
        files.read_text(str(target))


def test_only_kernel_files_is_per_thread_and_restored(tmp_path: Path) -> None:
    """The refusal mode holds on the thread that set it, for its block only."""
    (tmp_path / "f").write_text("a\n")
    files = KernelFiles([])
    seen: list[str] = []
    with only_kernel_files():
        thread = threading.Thread(target=lambda: seen.append(files.read_text(str(tmp_path / "f"))))
        thread.start()
        thread.join()
    assert seen == ["a\n"]
    assert files.read_text(str(tmp_path / "f")) == "a\n"


def test_read_text_keeps_universal_newlines(tmp_path: Path) -> None:
    """The os path decodes like text-mode open: CRLF and CR become LF, bad UTF-8 replaced."""
    (tmp_path / "f").write_bytes(b"a\r\nb\rc\xff\n")
    assert read_text(str(tmp_path / "f")) == "a\nb\nc\ufffd\n"


@needs_proc
def test_live_reader_trusts_its_kernel_mounts() -> None:
    """The live reader reads /proc and every cgroup hierarchy through the GIL-holding path,
    and a request of our own container needs no other file."""
    reader = CachingReader("/")
    assert "/proc/" in reader.files.trusted
    for hierarchy in reader.layout.hierarchies:
        assert reader.path(hierarchy.directory) + "/" in reader.files.trusted
    with only_kernel_files():
        view = reader.view_for_container(reader.resolve_pid(os.getpid()))
        reader.host_snapshot()
    assert view.memory is not None or reader.layout.hierarchy_for("memory") is None
