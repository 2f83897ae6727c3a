"""The FUSE operations without a mount: a fake content source and a fake host sysfs."""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import types
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lxcfs_fuse.operations import ErrnoError, LxcfsOperations
from lxcfs_model.files import FILES
from tests.fuse.fakes import FakeCaller, FakeContent

MEMINFO = "".join(f"Line{n}:{n * 1000:>12} kB\n" for n in range(40))
CPU = "/sys/devices/system/cpu"


def _file_info() -> types.SimpleNamespace:
    return types.SimpleNamespace(fh=0, direct_io=0, flags=os.O_RDONLY)


@pytest.fixture
def sys_root(tmp_path: Path) -> Path:
    """A host sysfs with cpu0..cpu3, a few plain files and a relative symlink."""
    cpu = tmp_path / "devices/system/cpu"
    for n in range(4):
        (cpu / f"cpu{n}/topology").mkdir(parents=True)
        (cpu / f"cpu{n}/topology/core_id").write_text(f"{n}\n")
        (cpu / f"cpu{n}/online").write_text("1\n")
        (cpu / f"cpu{n}/subsystem").symlink_to("../../../../bus/cpu")
    for name, text in {"online": "0-3\n", "kernel_max": "8191\n", "uevent": ""}.items():
        (cpu / name).write_text(text)
    (cpu / "cpufreq").mkdir()
    return tmp_path


def _operations(
    sys_root: Path, content: FakeContent, caller: FakeCaller | None = None
) -> LxcfsOperations:
    return LxcfsOperations(content, sys_root=str(sys_root), caller=caller or FakeCaller())


def _content(
    *, stamp: bool = False, cpu_maps: dict[int, Mapping[str, str]] | None = None
) -> FakeContent:
    texts = {spec.path: f"{spec.path} text\n" for spec in FILES}
    texts["proc/meminfo"] = MEMINFO
    return FakeContent(
        texts={100: texts, 200: {**texts, "proc/meminfo": "short\n"}},
        cpu_maps=cpu_maps or {},
        stamp=stamp,
    )


def _read_all(ops: LxcfsOperations, path: str, chunk: int) -> bytes:
    info = _file_info()
    ops.open(path, info)
    data = b""
    while piece := ops.read(path, chunk, len(data), info):
        data += piece
    ops.release(path, info)
    return data


@given(chunk=st.integers(min_value=1, max_value=5000))
def test_reads_of_any_size_reassemble_the_file(
    chunk: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Reads of any chunk size (1 byte included) reassemble exactly the rendered text."""
    ops = _operations(tmp_path_factory.mktemp("sys"), _content())
    assert _read_all(ops, "/proc/meminfo", chunk) == MEMINFO.encode()


def test_offset_reads_come_from_the_snapshot_and_offset_zero_renders_again(sys_root: Path) -> None:
    """One render serves every later offset; a read at offset 0 (lseek(0)) renders anew."""
    content = _content(stamp=True)
    ops = _operations(sys_root, content)
    info = _file_info()
    ops.open("/proc/uptime", info)
    first = ops.read("/proc/uptime", 5, 0, info)
    rest = ops.read("/proc/uptime", 4096, 5, info)
    assert (first + rest).decode() == "proc/uptime text\n#1\n"
    assert content.renders == 1
    again = ops.read("/proc/uptime", 4096, 0, info)
    assert again.decode() == "proc/uptime text\n#2\n" and content.renders == 2


def test_past_the_end_is_eof_and_a_fresh_handle_snapshots_at_any_offset(sys_root: Path) -> None:
    """pread past the end returns 0 bytes (not EINVAL); a first read at offset > 0 renders."""
    ops = _operations(sys_root, _content())
    info = _file_info()
    ops.open("/proc/meminfo", info)
    assert ops.read("/proc/meminfo", 10, 5, info) == MEMINFO.encode()[5:15]
    assert ops.read("/proc/meminfo", 10, len(MEMINFO), info) == b""
    assert ops.read("/proc/meminfo", 10, 10**9, info) == b""


def test_open_sets_direct_io_and_release_frees_the_handle(sys_root: Path) -> None:
    """Every open asks the kernel for direct I/O and gets its own handle; release frees it."""
    ops = _operations(sys_root, _content())
    first, second = _file_info(), _file_info()
    ops.open("/proc/stat", first)
    ops.open(CPU + "/kernel_max", second)
    assert first.direct_io == 1 and second.direct_io == 1 and first.fh != second.fh
    assert ops.open_handles == 2
    ops.release("/proc/stat", first)
    ops.release(CPU + "/kernel_max", second)
    assert ops.open_handles == 0


def test_st_size_is_the_length_the_caller_reads(sys_root: Path) -> None:
    """A rendered file's st_size is the byte length of the text that caller would read."""
    caller = FakeCaller(100)
    ops = _operations(sys_root, _content(), caller)
    attributes = ops.getattr("/proc/meminfo")
    assert attributes["st_size"] == len(MEMINFO)
    assert attributes["st_mode"] == stat.S_IFREG | 0o444 and attributes["st_nlink"] == 1
    caller.pid = 200
    assert ops.getattr("/proc/meminfo")["st_size"] == len("short\n")


def test_fixed_directories_come_from_the_registry(sys_root: Path) -> None:
    """/, /proc and /proc/pressure list exactly the registry's files and directories."""
    ops = _operations(sys_root, _content())
    assert ops.readdir("/", 0) == [".", "..", "proc", "sys"]
    proc = {spec.path.split("/")[1] for spec in FILES if spec.path.startswith("proc/")}
    assert sorted(ops.readdir("/proc", 0)[2:]) == sorted(proc)
    assert sorted(ops.readdir("/proc/pressure", 0)[2:]) == ["cpu", "io", "memory"]
    assert ops.getattr("/")["st_mode"] == stat.S_IFDIR | 0o755
    assert ops.getattr("/proc")["st_mode"] == stat.S_IFDIR | 0o555


def test_cpu_directory_lists_the_visible_cpus_once_each(sys_root: Path) -> None:
    """The cpu directory has cpuK for the caller's visible CPUs only, no name twice, and the
    host's other entries; cpuK shows the host cpuH it maps to."""
    content = _content(cpu_maps={100: {"cpu0": "cpu1", "cpu1": "cpu3"}})
    ops = _operations(sys_root, content)
    names = ops.readdir(CPU, 0)
    assert len(names) == len(set(names))
    assert [n for n in names if n.startswith("cpu") and n[3:].isdigit()] == ["cpu0", "cpu1"]
    assert {"online", "offline", "possible", "present", "kernel_max", "uevent", "cpufreq"} <= set(
        names
    )
    info = _file_info()
    ops.open(CPU + "/cpu1/topology/core_id", info)
    assert ops.read(CPU + "/cpu1/topology/core_id", 100, 0, info) == b"3\n"
    assert ops.readlink(CPU + "/cpu0/subsystem") == "../../../../bus/cpu"
    for hidden in ("/cpu2", "/cpu3/topology/core_id", "/cpu9"):
        with pytest.raises(ErrnoError) as raised:
            ops.getattr(CPU + hidden)
        assert raised.value.errno == errno.ENOENT


def test_pass_through_is_read_only(sys_root: Path) -> None:
    """Host entries keep their type and size but lose their write bits."""
    (sys_root / "devices/system/cpu/uevent").chmod(0o644)
    ops = _operations(sys_root, _content())
    uevent = ops.getattr(CPU + "/uevent")
    assert uevent["st_mode"] == stat.S_IFREG | 0o444
    assert ops.getattr(CPU + "/cpufreq")["st_mode"] & 0o222 == 0
    assert stat.S_ISLNK(ops.getattr(CPU + "/cpu0/subsystem")["st_mode"])


@pytest.mark.parametrize(
    ("operation", "args", "expected"),
    [
        ("write", ("/proc/meminfo", b"x", 0), errno.EINVAL),
        ("write", ("/proc/pressure/cpu", b"some 1 2", 0), errno.EINVAL),
        ("write", (CPU + "/online", b"0", 0), errno.EINVAL),
        ("write", (CPU + "/cpu0/online", b"0", 0), errno.EACCES),
        ("truncate", ("/proc/meminfo", 0), errno.EPERM),
        ("mkdir", ("/proc/x", 0o755), errno.EPERM),
        ("rmdir", ("/proc/pressure",), errno.EPERM),
        ("chmod", ("/proc/meminfo", 0o644), errno.EPERM),
        ("chmod", (CPU + "/kernel_max", 0o644), errno.EPERM),
        ("chmod", ("/", 0o700), errno.ENOENT),
        ("chown", ("/proc/stat", 1, 1), errno.EPERM),
        ("create", ("/proc/new", 0o644), errno.ENOSYS),
        ("mknod", ("/proc/new", 0o644, 0), errno.ENOSYS),
        ("unlink", ("/proc/meminfo",), errno.ENOSYS),
        ("rename", ("/proc/meminfo", "/proc/x"), errno.ENOSYS),
        ("link", ("/proc/x", "/proc/meminfo"), errno.ENOSYS),
        ("symlink", ("/proc/x", "/proc/meminfo"), errno.ENOSYS),
        ("access", ("/proc/meminfo", os.W_OK), errno.EACCES),
        ("access", ("/proc/meminfo", os.X_OK), errno.EACCES),
        ("access", (CPU + "/kernel_max", os.W_OK), errno.EACCES),
        ("getattr", ("/proc/nonexistent",), errno.ENOENT),
        ("getattr", ("/sys/class",), errno.ENOENT),
        ("opendir", ("/proc/meminfo",), errno.ENOTDIR),
        ("readlink", ("/proc/meminfo",), errno.EINVAL),
    ],
)
def test_refused_operations_answer_their_errno(
    sys_root: Path, operation: str, args: tuple[object, ...], expected: int
) -> None:
    """Every refused request answers the documented errno (rule 6 of operations)."""
    ops = _operations(sys_root, _content())
    if operation == "write":
        info = _file_info()
        ops.open(str(args[0]), info)
        args = (*args, info)
    with pytest.raises(ErrnoError) as raised:
        getattr(ops, operation)(*args)
    assert raised.value.errno == expected


def test_writes_never_reach_the_host(sys_root: Path) -> None:
    """A write and a truncate through a pass-through file leave the host file untouched."""
    host = sys_root / "devices/system/cpu/cpu2/online"
    ops = _operations(sys_root, _content(cpu_maps={100: {"cpu0": "cpu2"}}))
    info = _file_info()
    ops.open(CPU + "/cpu0/online", info)
    with pytest.raises(ErrnoError):
        ops.write(CPU + "/cpu0/online", b"0\n", 0, info)
    assert ops.truncate(CPU + "/cpu0/online", 0) == 0  # spec: a no-op under /sys
    assert host.read_text() == "1\n"


def test_any_exception_becomes_eio(sys_root: Path) -> None:
    """A handler that hits any exception, BaseException included, answers EIO."""

    class Exploding(FakeContent):
        def render(self, path: str, pid: int) -> str:
            raise KeyboardInterrupt

    ops = _operations(sys_root, Exploding(texts={}))
    with pytest.raises(ErrnoError) as raised:
        ops.getattr("/proc/meminfo")
    assert raised.value.errno == errno.EIO
    info = _file_info()
    ops.open("/proc/meminfo", info)
    with pytest.raises(ErrnoError) as raised:
        ops.read("/proc/meminfo", 10, 0, info)
    assert raised.value.errno == errno.EIO


def test_model_error_of_a_reloaded_library_is_a_warning(
    sys_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An LxcfsModelError of a later library generation (its own class, after SIGUSR1) is
    logged as a warning like the first generation's, and any other exception as an error."""
    reloaded_error = type("LxcfsModelError", (Exception,), {"__module__": "lxcfs_model.errors"})
    unknown_file = type("UnknownFile", (reloaded_error,), {"__module__": "lxcfs_model.errors"})
    raised: list[BaseException] = [unknown_file("no such file"), RuntimeError("bug")]

    class Failing(FakeContent):
        def render(self, path: str, pid: int) -> str:
            raise raised.pop(0)

    ops = _operations(sys_root, Failing(texts={}))
    caplog.set_level(logging.WARNING, logger="lxcfs_fuse")
    for _ in range(2):
        with pytest.raises(ErrnoError) as failure:
            ops.getattr("/proc/meminfo")
        assert failure.value.errno == errno.EIO
    assert [record.levelno for record in caplog.records] == [logging.WARNING, logging.ERROR]


def test_concurrent_readers_of_one_handle_get_whole_snapshots(sys_root: Path) -> None:
    """Threads reading one handle at offset 0 never see a mix of two renders."""
    content = _content(stamp=True)
    ops = _operations(sys_root, content)
    info = _file_info()
    ops.open("/proc/meminfo", info)
    seen: list[bytes] = []

    def reader() -> None:
        for _ in range(50):
            seen.append(ops.read("/proc/meminfo", 1 << 16, 0, info))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 200
    assert all(text.startswith(MEMINFO.encode()) and text.endswith(b"\n") for text in seen)


def test_stat_open_read_renders_once_and_reads_exactly_st_size(sys_root: Path) -> None:
    """getattr's text is what the same caller's next read at offset 0 gets (one render,
    st_size bytes exactly); a later read at offset 0 renders anew; another caller never
    gets it."""
    content = _content(stamp=True)
    caller = FakeCaller(100)
    ops = _operations(sys_root, content, caller)
    size = ops.getattr("/proc/uptime")["st_size"]
    info = _file_info()
    ops.open("/proc/uptime", info)
    first = ops.read("/proc/uptime", 4096, 0, info)
    assert len(first) == size and first.endswith(b"#1\n") and content.renders == 1
    assert ops.read("/proc/uptime", 4096, 0, info).endswith(b"#2\n")
    ops.getattr("/proc/uptime")  # renders #3 for caller 100
    caller.pid = 200
    assert ops.read("/proc/uptime", 4096, 0, info).endswith(b"#4\n")
