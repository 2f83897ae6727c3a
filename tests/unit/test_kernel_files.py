"""kernel_files: GIL-holding reads of kernel pseudo-files give what ``os`` gives, and anything
that is not a kernel file is read with ``os`` or, under ``only_kernel_files``, refused."""

from __future__ import annotations

import ast
import errno
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from lxcfs_model.io import CachingReader, kernel_files
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


def _filesystem(path: Path) -> frozenset[int]:
    """The statfs type of ``path``, to let a test directory stand in for a kernel mount."""
    return frozenset({kernel_files._statfs_type(str(path)) or 0})


# Run as root in a private mount namespace (nothing outlives the subprocess): a directory
# trusted as a kernel mount, then files and a named pipe mounted below it afterwards.
_MOUNTED_BELOW = """
import os, sys
from lxcfs_model.io import kernel_files
from lxcfs_model.io.kernel_files import KernelFiles, WouldBlock, only_kernel_files
top = sys.argv[1]
files = KernelFiles([top], filesystems=frozenset({kernel_files._statfs_type(top)}))
files.resolves_beneath = sys.argv[2] == "openat2"
os.system(f"mount -t tmpfs none {top}/mnt")
for name, text in (("meminfo", "MemTotal: 1 kB\\r\\n"), ("real", "bound over\\n")):
    with open(f"{top}/mnt/{name}", "w") as file:
        file.write(text)
os.system(f"mount --bind {top}/mnt/real {top}/bound")
os.mkfifo(f"{top}/mnt/pipe")
results = [
    files.read_text(f"{top}/plain"),
    files.read_text(f"{top}/mnt/meminfo"),
    files.read_text(f"{top}/bound"),
    str(files.is_directory(f"{top}/mnt")),
]
for path in ("mnt/meminfo", "mnt/pipe", "bound"):
    try:
        with only_kernel_files():
            files.read_text(f"{top}/{path}")
        results.append("read " + path)
    except WouldBlock:
        results.append("refused " + path)
with only_kernel_files():
    results.append(files.read_text(f"{top}/plain"))
print(repr(results))
"""


@pytest.mark.root
@pytest.mark.parametrize("opener", ["openat2", "open+fstatfs"])
def test_what_is_mounted_below_a_trusted_directory_is_never_read_with_the_gil(
    tmp_path: Path, opener: str
) -> None:
    """A file, a named pipe or a bind mount mounted below a trusted directory after start is
    read with os, and refused at once under only_kernel_files (openat2 refuses to cross
    the mount; without it the fstatfs after the open catches it); files of the trusted
    mount itself are still read under only_kernel_files."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    (tmp_path / "mnt").mkdir()
    (tmp_path / "plain").write_text("plain\n")
    (tmp_path / "bound").write_text("hidden\n")
    done = subprocess.run(
        [
            *("unshare", "--mount", "--propagation", "private"),
            *(sys.executable, "-c", _MOUNTED_BELOW, str(tmp_path), opener),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert ast.literal_eval(done.stdout) == [
        "plain\n",
        "MemTotal: 1 kB\n",
        "bound over\n",
        "True",
        "refused mnt/meminfo",
        "refused mnt/pipe",
        "refused bound",
        "plain\n",
    ]


@needs_proc
def test_a_kernel_mount_below_a_trusted_one_is_another_mount() -> None:
    """openat2 never leaves a trusted directory's mount, kernel filesystem or not: with
    /sys trusted, a cgroup file (below the /sys/fs/cgroup tmpfs) is read with os, and
    refused under only_kernel_files."""
    files = KernelFiles(["/sys"])
    target = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    if not files.resolves_beneath or not os.path.ismount("/sys/fs/cgroup"):
        pytest.skip("needs openat2 and a separate /sys/fs/cgroup mount")
    if not os.path.exists(target):
        pytest.skip(f"no {target}")
    assert files.read_text(target) == _os_read(target)
    with only_kernel_files(), pytest.raises(WouldBlock):
        files.read_text(target)
    with only_kernel_files():
        assert files.read_text("/sys/devices/system/cpu/online") == _os_read(
            "/sys/devices/system/cpu/online"
        )


def test_distrusted_files_are_never_opened_with_the_gil_held(tmp_path: Path) -> None:
    """A single file named at construction that is not on a trusted filesystem (here a
    symlink to another filesystem) is distrusted below a trusted directory, so it is
    never opened while the GIL is held."""
    if not os.path.isdir("/dev/shm") or _filesystem(Path("/dev/shm")) == _filesystem(tmp_path):
        pytest.skip("needs /dev/shm on a filesystem other than the test directory's")
    elsewhere = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        (elsewhere / "meminfo").write_text("x\n")
        (tmp_path / "meminfo").symlink_to(elsewhere / "meminfo")
        (tmp_path / "own").write_text("own\n")
        target = str(tmp_path / "meminfo")
        files = KernelFiles([str(tmp_path)], files=[target], filesystems=_filesystem(tmp_path))
        assert files.trusted == (str(tmp_path) + "/",)
        assert files.distrusted == frozenset({target})
        for beneath in (True, False):
            files.resolves_beneath = beneath
            with only_kernel_files():
                assert files.read_text(str(tmp_path / "own")) == "own\n"
                with pytest.raises(WouldBlock):
                    files.read_text(target)
            assert files.read_text(target) == "x\n"
    finally:
        shutil.rmtree(elsewhere)


def test_trusted_directories_are_held_open_until_the_reader_goes(tmp_path: Path) -> None:
    """One descriptor per trusted directory is held (none for untrusted ones), and all are
    closed when the KernelFiles is collected."""
    gc.collect()  # readers of earlier tests (a failed one's traceback) go first
    before = len(os.listdir("/proc/self/fd"))
    (tmp_path / "a").mkdir()
    files = KernelFiles(
        [str(tmp_path), str(tmp_path / "a"), str(tmp_path) + "/", "/nonexistent"],
        filesystems=_filesystem(tmp_path),
    )
    assert files.trusted == (str(tmp_path) + "/", str(tmp_path / "a") + "/")
    assert len(os.listdir("/proc/self/fd")) == before + 2
    del files
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


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


def _raw_reads(path: str) -> tuple[int, int]:
    """Lengths of a first read with the GIL-path buffer size and of the read after it."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        return len(os.read(descriptor, 1 << 14)), len(os.read(descriptor, 1 << 14))
    finally:
        os.close(descriptor)


def _single_record_files_here() -> list[str]:
    """Every file of SINGLE_RECORD_FILES this machine has where the live reader reads it:
    in each hierarchy's root and our own cgroup, and procfs/sysfs."""
    reader = CachingReader("/")
    own = reader.resolve_pid(os.getpid()).cgroup_paths
    directories = {"/proc", "/proc/self", "/sys/devices/system/cpu"}
    for hierarchy in reader.layout.hierarchies:
        directories.add(reader.path(hierarchy.directory))
        path = own.get("" if hierarchy.version == "v2" else min(hierarchy.controllers, default=""))
        if path is not None:
            directories.add(reader.path(hierarchy.directory, path))
    return sorted(
        os.path.join(directory, name)
        for directory in directories
        for name in kernel_files.SINGLE_RECORD_FILES
        if os.path.isfile(os.path.join(directory, name))
    )


@needs_proc
def test_single_record_files_are_whole_in_one_short_read() -> None:
    """Rule 4 on this kernel: each single-record file present (memory.stat and
    cpuacct.usage_percpu included, where the hierarchies have them) gives all of its text
    in one read shorter than the buffer, and the next read returns 0 bytes."""
    present = _single_record_files_here()
    assert "/proc/meminfo" in present and "/proc/self/stat" in present
    for path in present:
        for _ in range(20):
            first, second = _raw_reads(path)
            assert first < 1 << 14 and second == 0, path


@needs_proc
def test_a_multi_record_file_can_stop_short_of_its_end() -> None:
    """Why rule 4 needs its list: a file made record by record (kallsyms) returns a short
    first read that is not its end, so files like it (cpuinfo, diskstats, swaps, slabinfo,
    cgroup.procs) are read until a read returns 0."""
    if not os.path.exists("/proc/kallsyms"):
        pytest.skip("no /proc/kallsyms")
    first, second = _raw_reads("/proc/kallsyms")
    assert first < 1 << 14 and second > 0
    multi = {"cpuinfo", "diskstats", "swaps", "slabinfo", "memory.kmem.slabinfo", "cgroup.procs"}
    assert multi.isdisjoint(kernel_files.SINGLE_RECORD_FILES)


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counts: list[int] = []
    real_read = kernel_files._read

    def counted(descriptor: int, buffer: object, size: int) -> int:
        count = int(real_read(descriptor, buffer, size))
        counts.append(count)
        return count

    monkeypatch.setattr(kernel_files, "_read", counted)
    return counts


@needs_proc
def test_single_record_files_take_one_read_others_read_to_eof(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/proc/meminfo (single record) is read with one read; /proc/cpuinfo (several) until a
    read returns 0; both with open()'s text."""
    counts = _counting_reads(monkeypatch)
    assert LIVE.read_text("/proc/meminfo").startswith("MemTotal:")
    assert len(counts) == 1 and counts[0] > 0
    counts.clear()
    assert LIVE.read_text("/proc/cpuinfo") == _os_read("/proc/cpuinfo")
    assert counts[-1] == 0


@needs_proc
def test_a_single_record_file_filling_the_buffer_is_read_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read that fills the buffer is never taken for the end, even for a single-record
    file: with an 8-byte buffer /proc/self/status still comes back whole."""
    counts = _counting_reads(monkeypatch)
    monkeypatch.setattr(kernel_files, "_GIL_READ_CHUNK", 8)
    text = LIVE.read_text("/proc/self/status")
    assert text.startswith("Name:") and text.endswith("\n") and "\nPid:" in text
    assert len(counts) > 10 and counts[-1] < 8


@needs_proc
@pytest.mark.parametrize("beneath", [True, False], ids=["openat2", "open+fstatfs"])
def test_both_openers_read_like_os(beneath: bool) -> None:
    """The openat2 path and the open+fstatfs fallback give os's texts, answers and errors."""
    files = KernelFiles(["/proc", "/sys/devices/system/cpu"])
    files.resolves_beneath = beneath
    assert files.read_text("/proc/self/cgroup") == _os_read("/proc/self/cgroup")
    assert files.read_text("/sys/devices/system/cpu/online") == _os_read(
        "/sys/devices/system/cpu/online"
    )
    for path in ("/proc", "/proc/self", "/proc/self/status", "/proc/999999999", "/proc/x/y"):
        assert files.is_directory(path) == os.path.isdir(path), path
        assert files.exists(path) == os.path.exists(path), path
    with pytest.raises(FileNotFoundError) as raised:
        files.read_text("/proc/self/no-such-file")
    assert raised.value.filename == "/proc/self/no-such-file"
    with pytest.raises(IsADirectoryError):
        files.read_text("/proc/self")


@needs_proc
def test_held_host_files_are_read_afresh_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule 4a: of the files named at construction only the single-record kernel files
    present are held open; each read of one is one pread from offset 0 without an open,
    and shows the kernel's values of that moment (uptime advances between two reads)."""
    files = KernelFiles(["/proc"], files=["/proc/uptime", "/proc/cpuinfo", "/proc/nope"])
    assert set(files._held) == {"/proc/uptime"}
    preads: list[int] = []
    real_pread = kernel_files._pread

    def counted(descriptor: int, buffer: object, size: int, offset: int) -> int:
        preads.append(offset)
        return int(real_pread(descriptor, buffer, size, offset))

    monkeypatch.setattr(kernel_files, "_pread", counted)
    monkeypatch.setattr(kernel_files, "_syscall", None)  # no open of any kind from here
    monkeypatch.setattr(kernel_files, "_open", None)
    first = files.read_text("/proc/uptime")
    time.sleep(0.05)
    second = files.read_text("/proc/uptime")
    assert preads == [0, 0]
    assert float(second.split()[0]) > float(first.split()[0])
    assert second.endswith("\n") and len(second.split()) == 2


@needs_proc
def test_held_files_are_shared_by_threads() -> None:
    """Threads reading one held file at once each get a whole, well-formed text."""
    files = KernelFiles(["/proc"], files=["/proc/meminfo"])
    assert set(files._held) == {"/proc/meminfo"}
    lines = len(_os_read("/proc/meminfo").splitlines())
    bad: list[str] = []

    def read_many() -> None:
        for _ in range(300):
            text = files.read_text("/proc/meminfo")
            if not text.startswith("MemTotal:") or len(text.splitlines()) != lines:
                bad.append(text)

    threads = [threading.Thread(target=read_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert bad == []


@needs_proc
def test_held_files_are_closed_with_the_reader() -> None:
    """Held host files are closed, with the trusted directories, when the KernelFiles is
    collected."""
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    files = KernelFiles(["/proc"], files=["/proc/meminfo", "/proc/uptime"])
    assert len(os.listdir("/proc/self/fd")) == before + 3
    del files
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


@needs_proc
def test_a_held_file_is_only_ever_read_from_offset_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules 4a and 4b: a held or kept descriptor is read with one pread from offset 0 (a
    second one further on could continue a newer record another thread's pread just
    made: a torn text); a text that fills the buffer is read whole through a descriptor
    of its own, and a held file that long is not pread again."""
    monkeypatch.setattr(kernel_files, "_GIL_READ_CHUNK", 64)  # buffers of threads made now
    files = KernelFiles(["/proc"], files=["/proc/meminfo"])
    kept = files.open_kept("/proc/meminfo")
    assert set(files._held) == {"/proc/meminfo"} and kept is not None
    offsets: list[int] = []
    real_pread = kernel_files._pread

    def counted(descriptor: int, buffer: object, size: int, offset: int) -> int:
        offsets.append(offset)
        return int(real_pread(descriptor, buffer, size, offset))

    monkeypatch.setattr(kernel_files, "_pread", counted)
    texts: list[str] = []
    reader = threading.Thread(
        target=lambda: texts.extend(
            (files.read_text("/proc/meminfo"), files.read_kept(kept, "/proc/meminfo"))
        )
    )
    reader.start()
    reader.join()
    files.close_kept(kept)
    assert offsets == [0, 0]
    assert "/proc/meminfo" not in files._held  # too long to hold: opened from now on
    keys = [line.split(":")[0] for line in _os_read("/proc/meminfo").splitlines()]
    for text in texts:
        assert len(text) > 64 and text.endswith("\n")
        assert [line.split(":")[0] for line in text.splitlines()] == keys
