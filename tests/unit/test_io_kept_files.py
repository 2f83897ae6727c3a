"""CachingReader rule 3b on real cgroup files: a kept descriptor reads the kernel's values of
the moment, a removed cgroup is never read through it, and descriptors are bounded in
number and age and closed when dropped."""

from __future__ import annotations

import gc
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxcfs_model.io import CachingReader, kernel_files

MEMORY = Path("/sys/fs/cgroup/memory")
UNLIMITED = "9223372036854771712"  # v1 "no limit" with 4 KiB pages


class FakeClock:
    """A monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 64.0

    def __call__(self) -> float:
        return self.now


def _own_memory_cgroup() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return MEMORY / path.lstrip("/")
    pytest.skip("this process is in no v1 memory cgroup")


@pytest.fixture
def cgroup() -> Iterator[Path]:
    """An empty memory cgroup beneath the one this test runs in, removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root (creates a memory cgroup)")
    if not (MEMORY / "memory.limit_in_bytes").exists():
        pytest.skip("no v1 memory hierarchy at /sys/fs/cgroup/memory")
    path = _own_memory_cgroup() / f"lxcfs_py_test_{secrets.token_hex(4)}"
    path.mkdir()
    try:
        yield path
    finally:
        if path.exists():
            path.rmdir()


def _reader(clock: FakeClock, kept_files: int = 8) -> CachingReader:
    # setting_max_age 0: the limit file (which a test can write) is read afresh, through a
    # kept descriptor, like a usage file.
    return CachingReader(
        "/", setting_max_age=0, kept_file_max_age=0.125, kept_files=kept_files, monotonic=clock
    )


def _no_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here any open of a kernel file fails the test."""
    monkeypatch.setattr(kernel_files, "_syscall", None)
    monkeypatch.setattr(kernel_files, "_open", None)


@pytest.mark.root
def test_a_kept_descriptor_reads_the_value_of_the_moment(
    cgroup: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second read of a cgroup file opens nothing and still shows a value written in
    between (pread from offset 0 makes the kernel print it afresh)."""
    clock = FakeClock()
    reader = _reader(clock)
    limit = str(cgroup / "memory.limit_in_bytes")
    assert reader.read_cgroup_file(limit) == UNLIMITED + "\n"
    assert reader.kept_descriptors() == 1
    (cgroup / "memory.limit_in_bytes").write_text("104857600")
    _no_opens(monkeypatch)
    clock.now += 0.125 - 1 / 1024
    assert reader.read_cgroup_file(limit) == "104857600\n"


@pytest.mark.root
def test_a_removed_cgroup_is_not_read_through_its_descriptor(cgroup: Path) -> None:
    """A cgroup removed and made again under the same name is read as the new one (its
    own default limit, not the old one's); removed for good, the read fails as the plain
    reader's does (FileNotFoundError) and nothing stays kept."""
    clock = FakeClock()
    reader = _reader(clock)
    limit = str(cgroup / "memory.limit_in_bytes")
    (cgroup / "memory.limit_in_bytes").write_text("104857600")
    assert reader.read_cgroup_file(limit) == "104857600\n"
    cgroup.rmdir()
    cgroup.mkdir()
    assert reader.read_cgroup_file(limit) == UNLIMITED + "\n"
    cgroup.rmdir()
    with pytest.raises(FileNotFoundError):
        reader.read_cgroup_file(limit)
    assert reader.kept_descriptors() == 0


@pytest.mark.root
def test_descriptors_are_bounded_by_number_and_age_and_closed(cgroup: Path) -> None:
    """At most kept_files descriptors; one older than kept_file_max_age is opened afresh;
    drop_expired closes every expired one, so the process's descriptors come back to what
    they were."""
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    clock = FakeClock()
    reader = _reader(clock, kept_files=2)
    opened = len(os.listdir("/proc/self/fd"))
    names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat")
    for name in names:
        reader.read_cgroup_file(str(cgroup / name))
        assert reader.kept_descriptors() <= 2
    assert len(os.listdir("/proc/self/fd")) == opened + 2
    limit = str(cgroup / "memory.limit_in_bytes")
    reader.read_cgroup_file(limit)
    first = reader._kept[limit]
    clock.now += 0.125
    reader.read_cgroup_file(limit)
    assert reader._kept[limit][0] == clock.now != first[0]
    assert reader.kept_descriptors() == 1  # the other one expired at this insert
    clock.now += 0.125
    reader.drop_expired()
    assert reader.kept_descriptors() == 0
    assert len(os.listdir("/proc/self/fd")) == opened
    del reader
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.root
def test_kept_descriptors_are_closed_with_the_reader(cgroup: Path) -> None:
    """A reader collected while it holds cgroup files closes them."""
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    reader = _reader(FakeClock())
    baseline = len(os.listdir("/proc/self/fd")) - before  # its trusted directories, host files
    reader.read_cgroup_file(str(cgroup / "memory.stat"))
    assert len(os.listdir("/proc/self/fd")) == before + baseline + 1
    del reader
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.root
def test_threads_never_read_a_descriptor_closed_under_them(cgroup: Path) -> None:
    """Four threads reading two files through one kept slot (every read closes the other
    file's descriptor and opens its own) each get the file they asked for, whole."""
    reader = _reader(FakeClock(), kept_files=1)
    stat, usage = str(cgroup / "memory.stat"), str(cgroup / "memory.usage_in_bytes")
    bad: list[str] = []

    def read_many() -> None:
        for _ in range(300):
            if not reader.read_cgroup_file(stat).startswith("cache "):
                bad.append("stat")
            if not reader.read_cgroup_file(usage).strip().isdigit():
                bad.append("usage")

    threads = [threading.Thread(target=read_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert bad == []
    assert reader.kept_descriptors() == 1


@pytest.mark.root
def test_an_idle_reader_closes_its_descriptors_by_itself(cgroup: Path) -> None:
    """With no further request (and no housekeeping), kept descriptors are closed within
    twice kept_file_max_age, the process's descriptor count comes back, and the closer
    thread sleeps once nothing is kept; a descriptor kept later wakes the same thread,
    and the thread ends once the reader is collected."""
    gc.collect()
    reader = CachingReader("/", kept_file_max_age=0.05)
    before = len(os.listdir("/proc/self/fd"))
    reader.read_cgroup_file(str(cgroup / "memory.stat"))
    reader.read_cgroup_file(str(cgroup / "memory.usage_in_bytes"))
    assert len(os.listdir("/proc/self/fd")) == before + 2
    closer = reader._closer
    assert closer is not None and closer.is_alive()

    def closed_by_itself(reader: CachingReader) -> bool:
        deadline = time.monotonic() + 2.0
        while reader.kept_descriptors() and time.monotonic() < deadline:
            time.sleep(0.01)
        return reader.kept_descriptors() == 0 and len(os.listdir("/proc/self/fd")) == before

    assert closed_by_itself(reader)
    time.sleep(0.01)
    assert not reader._closer_wake.is_set()  # the last round found nothing left: asleep
    reader.read_cgroup_file(str(cgroup / "memory.stat"))
    assert reader._closer is closer and reader._closer_wake.is_set()
    assert closed_by_itself(reader)
    del reader
    gc.collect()
    closer.join(2.0)
    assert not closer.is_alive()
