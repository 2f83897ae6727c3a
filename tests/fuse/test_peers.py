"""Helper processes (``lxcfs_fuse.peers``): the shared records, marks and mailboxes as units,
the routing of every kind of request, and a real mount served by the main process and a
helper under readers in several containers."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from lxcfs_fuse import devfuse, peers
from lxcfs_fuse import fuse_protocol as wire
from lxcfs_fuse.deadline import MustDefer
from lxcfs_fuse.fuse_protocol import Opcode
from lxcfs_fuse.peers import IDLE, IDLE_REQUESTED, Peers, SharedFiles
from tests.fuse.daemon import Daemon, lxcfs_fuse_mount
from tests.system.harness import CgroupSet, Probe, container_cgroups

# ----------------------------------------------------------------------- shared records


def test_each_process_takes_slots_from_its_own_share() -> None:
    """Slots taken by process i are i modulo the count, so two processes never take the
    same one without a lock."""
    files = SharedFiles(3, per_process=8)
    taken = {index: [files.take(index) for _ in range(8)] for index in range(3)}
    for index, slots in taken.items():
        assert all(slot % 3 == index for slot in slots)
        assert len(set(slots)) == 8
    with pytest.raises(OSError) as raised:
        files.take(1)
    assert raised.value.errno == errno.ENFILE


def test_a_record_tells_holder_and_length_and_is_reused_once_free() -> None:
    """An open record has no length until rendered; a freed one answers EBADF and is the
    next one its owner takes."""
    files = SharedFiles(2, per_process=2)
    slot = files.take(0)
    assert files.record(slot) == (-1, None)
    files.held[slot] = b"text"
    files.rendered(slot, 0, 4)
    assert files.record(slot) == (0, 4)
    files.rendered(slot, -1, 0)
    assert files.record(slot) == (-1, 0)
    files.free(slot)
    assert slot not in files.held
    with pytest.raises(OSError) as raised:
        files.record(slot)
    assert raised.value.errno == errno.EBADF
    with pytest.raises(OSError):
        files.record(10**9)
    others = {files.take(0), files.take(0)}
    assert slot in others


# ------------------------------------------------------------------------------ marks


def test_a_mark_lives_half_a_second_for_its_own_pid_and_node() -> None:
    """mark_sized(pid, node) makes exactly that pair pending until SIZED_SECONDS pass."""
    shared = Peers(2)
    shared.mark_sized(100, 7, now=10.0)
    assert shared.sized_pending(100, 7, now=10.0)
    assert shared.sized_pending(100, 7, now=10.0 + peers.SIZED_SECONDS - 0.01)
    assert not shared.sized_pending(100, 7, now=10.0 + peers.SIZED_SECONDS)
    assert not shared.sized_pending(101, 7, now=10.0)
    assert not shared.sized_pending(100, 8, now=10.0)


def test_a_served_mark_is_cleared_for_its_own_pair_only() -> None:
    """sized_served(pid, node) ends that pair's mark at once; another pair's stays."""
    shared = Peers(2)
    shared.mark_sized(100, 7, now=10.0)
    shared.mark_sized(101, 7, now=10.0)
    shared.sized_served(100, 7)
    shared.sized_served(100, 8)  # no mark of its own: nothing changes
    assert not shared.sized_pending(100, 7, now=10.0)
    assert shared.sized_pending(101, 7, now=10.0)


def test_a_clash_with_a_live_mark_makes_every_open_pending() -> None:
    """Two pairs on one slot: the live mark is kept and every pair counts as pending until
    the clash has expired (a helper then forwards every open: never a lost st_size text)."""
    shared = Peers(2)
    first = (5, 3)
    clash = next(
        (pid, 3) for pid in range(6, 100_000) if peers._slot(pid, 3) == peers._slot(*first)
    )
    shared.mark_sized(*first, now=1.0)
    shared.mark_sized(*clash, now=1.1)
    assert shared.sized_pending(*first, now=1.2)
    assert shared.sized_pending(*clash, now=1.2)
    assert shared.sized_pending(999, 999, now=1.2)
    assert not shared.sized_pending(999, 999, now=1.1 + peers.SIZED_SECONDS)


# -------------------------------------------------------------------- mail and control


def test_mail_is_counted_before_it_is_received() -> None:
    """A message to a process shows in its counters without a system call, and is gone from
    them once received."""
    shared = Peers(2)
    assert not shared.mail_waiting()
    shared.index = 1
    shared.send(0, peers.KIND_ENGAGE)
    shared.forward(0, b"request")
    shared.index = 0
    assert shared.mail_waiting()
    assert shared.receive() == [peers.KIND_ENGAGE, peers.KIND_REQUEST + b"\x01request"]
    assert not shared.mail_waiting()


def test_engaging_and_idling() -> None:
    """An idle helper is engaged once (one message); asked to idle it stays engaged until
    it goes idle itself; a helper asked to idle is engaged again without a message."""
    shared = Peers(2)
    assert shared.engage_idle_helper()
    assert not shared.engage_idle_helper()
    assert shared.any_engaged()
    shared.request_idle()
    assert shared.state(1) == IDLE_REQUESTED and shared.any_engaged()
    assert shared.engage_idle_helper()  # still reading: no second message
    shared.index = 1
    assert shared.receive() == [peers.KIND_ENGAGE]
    shared.go_idle()
    assert shared.state(1) == IDLE
    shared.index = 0
    assert not shared.any_engaged()


def test_control_carries_the_switch_and_counts_reloads() -> None:
    """publish sets virtualization and counts reloads, as helpers read them."""
    shared = Peers(2)
    shared.publish(True)
    assert shared.control() == (True, 0)
    shared.publish(False, reloaded=True)
    shared.publish(False, reloaded=True)
    assert shared.control() == (False, 2)


def test_a_helper_gets_its_device_and_burying_it_closes_ours() -> None:
    """hand_device passes a descriptor the helper receives as its own; once the helper is
    buried the main process's copy is closed (the kernel then ends what it had read)."""
    shared = Peers(2)
    read_end, write_end = os.pipe()
    shared.hand_device(1, write_end)
    shared.index = 1
    received = shared.receive_device()
    assert received is not None and received != write_end
    os.write(received, b"x")
    assert os.read(read_end, 1) == b"x"
    os.close(received)
    shared.index = 0
    shared.pids[1] = os.getpid()  # waitpid on ourselves: ChildProcessError, ignored
    shared.buried(1)
    assert not shared.alive(1) and shared.devices == {}
    with pytest.raises(OSError):
        os.fstat(write_end)
    os.close(read_end)


# ------------------------------------------------------------------------ configuration


def test_process_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """LXCFS_FUSE_HELPERS wins; bad values serve alone; -s or one CPU serve alone; else two."""
    monkeypatch.setenv(peers.HELPERS_VARIABLE, "0")
    assert peers.process_count(False) == 1
    monkeypatch.setenv(peers.HELPERS_VARIABLE, "3")
    assert peers.process_count(True) == 4
    for bad in ("x", "-1", "65"):
        monkeypatch.setenv(peers.HELPERS_VARIABLE, bad)
        assert peers.process_count(False) == 1
    monkeypatch.delenv(peers.HELPERS_VARIABLE)
    assert peers.process_count(True) == 1
    expected = 2 if len(os.sched_getaffinity(0)) >= 2 else 1
    assert peers.process_count(False) == expected


def test_stat_and_loadavg_are_the_main_process_files() -> None:
    """Of the rendered /proc files, only stat (histories) and loadavg (sampler) are kept to
    the main process."""
    shared = set(peers.shared_files())
    assert {"/proc/meminfo", "/proc/cpuinfo", "/proc/uptime", "/proc/stat"} <= shared
    assert all(path.startswith("/proc/") for path in shared)
    assert peers.main_only_files() == {"/proc/stat", "/proc/loadavg"}


# ----------------------------------------------------------------------------- routing


def _session(index: int) -> tuple[devfuse.Session, Peers]:
    shared = Peers(2)
    shared.index = index
    return devfuse.Session(object(), shared.mailbox.fileno(), peers=shared), shared


def _read_body(handle: int, offset: int, size: int = 4096) -> bytes:
    return wire.READ_IN.pack(handle, offset, size, 0, 0, 0, 0)


def test_fixed_node_ids_are_the_same_in_every_process() -> None:
    """Helper files have the same node ids in the main process and a helper, and lookups
    and forgets never move them."""
    main, _ = _session(0)
    helper, _ = _session(1)
    for path in peers.shared_files():
        assert main.nodes._ids[path] == helper.nodes._ids[path]
    nodeid = main.nodes.remember("/proc/meminfo")
    main.nodes.forget(nodeid, 5)
    assert main.nodes.paths[nodeid] == "/proc/meminfo"
    assert main.nodes.remember("/proc/meminfo") == nodeid


def test_a_helper_serves_opens_and_fresh_reads_of_helper_files_only() -> None:
    """A helper opens any rendered /proc file and renders reads of the files without
    history; stat's reads, lookups, attributes and other handles go to the main process."""
    helper, shared = _session(1)
    meminfo = helper.nodes._ids["/proc/meminfo"]
    stat = helper.nodes._ids["/proc/stat"]
    slot = shared.files.take(1)
    record = SharedFiles.BIT | slot
    assert helper._route(Opcode.OPEN, meminfo, b"", 50) == 1
    assert helper._route(Opcode.OPEN, stat, b"", 50) == 1
    assert helper._route(Opcode.READ, meminfo, _read_body(record, 0), 50) == 1
    assert helper._route(Opcode.READ, stat, _read_body(record, 0), 50) == 0
    assert helper._route(Opcode.LOOKUP, 1, b"proc\0", 50) == 0
    assert helper._route(Opcode.GETATTR, meminfo, b"", 50) == 0
    assert helper._route(Opcode.FORGET, meminfo, b"", 50) == 0
    assert helper._route(Opcode.OPEN, 999, b"", 50) == 0
    assert helper._route(Opcode.READ, meminfo, _read_body(7, 0), 50) == 0
    assert helper._route(Opcode.RELEASE, meminfo, _read_body(7, 0), 50) == 0


def test_reads_follow_the_record() -> None:
    """At or past a record's end anyone answers EOF; inside a text the main process keeps,
    the main process answers; a pair marked for st_size goes to the main process."""
    helper, shared = _session(1)
    meminfo = helper.nodes._ids["/proc/meminfo"]
    slot = shared.files.take(1)
    record = SharedFiles.BIT | slot
    shared.files.rendered(slot, -1, 100)
    assert helper._route(Opcode.READ, meminfo, _read_body(record, 100), 50) == 1
    assert helper._route(Opcode.READ, meminfo, _read_body(record, 40), 50) == 1
    shared.files.rendered(slot, 0, 100)
    assert helper._route(Opcode.READ, meminfo, _read_body(record, 40), 50) == 0
    assert helper._route(Opcode.READ, meminfo, _read_body(record, 0), 50) == 0
    assert helper._route(Opcode.RELEASE, meminfo, _read_body(record, 0), 50) == 0
    assert helper._route(Opcode.READ, meminfo, _read_body(record, 100), 50) == 1
    fresh = shared.files.take(1)
    shared.mark_sized(50, meminfo)
    body = _read_body(SharedFiles.BIT | fresh, 0)
    assert helper._route(Opcode.READ, meminfo, body, 50) == 0
    assert helper._route(Opcode.READ, meminfo, body, 51) == 1


def test_the_main_process_serves_everything_it_reads() -> None:
    """The main process keeps every request but those on records whose text a helper
    keeps (none does today: a helper hands partial reads over)."""
    main, shared = _session(0)
    meminfo = main.nodes._ids["/proc/meminfo"]
    stat = main.nodes._ids["/proc/stat"]
    slot = shared.files.take(1)
    for opcode, nodeid, body in (
        (Opcode.LOOKUP, 1, b"proc\0"),
        (Opcode.OPEN, stat, b""),
        (Opcode.READ, stat, _read_body(SharedFiles.BIT | slot, 0)),
        (Opcode.READ, meminfo, _read_body(7, 0)),
    ):
        assert main._route(opcode, nodeid, body, 50) == 0


# --------------------------------------------------------------- records over a socket


class _Texts:
    """Operations that render a fixed text per path (the record path reads through
    ``content_of``)."""

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.renders = 0

    def content_of(self, path: str) -> bytes:
        self.renders += 1
        return self.text


@pytest.fixture
def main_session() -> Iterator[tuple[socket.socket, devfuse.Session, _Texts, Peers]]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    shared = Peers(2)
    operations = _Texts(b"0123456789" * 10)
    session = devfuse.Session(operations, theirs.fileno(), peers=shared)
    yield ours, session, operations, shared
    ours.close()
    theirs.close()


def _request(opcode: int, nodeid: int, body: bytes, unique: int, pid: int = 77) -> bytes:
    header = wire.IN_HEADER.pack(
        wire.IN_HEADER.size + len(body), opcode, unique, nodeid, 0, 0, pid, 0, 0
    )
    return header + body


def _answer(end: socket.socket) -> tuple[int, int, bytes]:
    data = end.recv(1 << 20)
    _, error, unique = wire.OUT_HEADER.unpack_from(data)
    return unique, -error, data[wire.OUT_HEADER.size :]


class _Idling(_Texts):
    """Operations whose idle work (reading ahead) only counts its steps: asked for, taken
    and given back. ``has_work``: whether a step is there to be found."""

    def __init__(self) -> None:
        super().__init__(b"")
        self.has_work = True
        self.asked = self.steps = self.given_back = 0

    def idle_step(self) -> _Idling | None:
        self.asked += 1
        return self if self.has_work else None

    def take(self) -> None:
        self.steps += 1

    def give_back(self) -> None:
        self.given_back += 1


def test_quiet_is_false_at_once_when_a_request_waits_and_true_after_the_wait() -> None:
    """``_quiet``: a waiting request ends the wait at once; none, and it lasts its time."""
    kernel, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    session = devfuse.Session(_Idling(), device.fileno(), peers=Peers(2))
    try:
        started = time.monotonic()
        assert session._quiet(0.05)
        assert time.monotonic() - started >= 0.04
        kernel.send(_request(Opcode.STATFS, 1, b"", 1))
        started = time.monotonic()
        assert not session._quiet(5.0)
        assert time.monotonic() - started < 1.0
    finally:
        kernel.close()
        device.close()


def test_quiet_without_select_is_quiet_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A descriptor beyond select's range (ValueError) means no wait, never an exception
    out of the serving loop: idle work goes on as it did before the wait existed."""
    kernel, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    session = devfuse.Session(_Idling(), device.fileno(), peers=Peers(2))

    def out_of_range(*arguments: object) -> None:
        raise ValueError("filedescriptor out of range in select()")

    monkeypatch.setattr(devfuse.select, "select", out_of_range)
    try:
        assert session._quiet(5.0)
    finally:
        kernel.close()
        device.close()


def _serve_four_requests(
    operations: _Idling, quiet_moments: tuple[bool, ...]
) -> tuple[list[tuple[int, int, int]], int]:
    """A real main-process loop over a socket pair, serving four requests with a dry spell
    after each; ``_quiet`` says whether each spell's moment stayed quiet. (asked, taken,
    given back) after each spell, and how many quiet moments were waited for."""
    kernel, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    device.setblocking(False)  # the mounted device is read without blocking
    session = devfuse.Session(operations, device.fileno(), peers=Peers(2))
    quiet = [False]
    waited = [0]

    def quiet_moment(seconds: float) -> bool:
        waited[0] += 1
        return quiet[0]

    session._quiet = quiet_moment  # type: ignore[method-assign]
    seen: list[tuple[int, int, int]] = []

    def reader() -> None:
        for unique, is_quiet in enumerate(quiet_moments, start=1):
            quiet[0] = is_quiet
            kernel.send(_request(Opcode.STATFS, 1, b"", unique))
            assert _answer(kernel)[0] == unique
            time.sleep(0.1)  # the loop reaches its dry spell and sleeps
            seen.append((operations.asked, operations.steps, operations.given_back))
        kernel.close()  # the device reads EOF: the loop ends

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        session.serve()  # this (the main) thread: it sets the signal wake-up descriptor
    finally:
        thread.join(10)
        device.close()
    return seen, waited[0]


def test_the_main_process_steps_idle_only_after_a_quiet_moment() -> None:
    """Idle work (a render ahead) waits for a moment without requests (devfuse rule 8): a
    reader reading files back to back must not find its next open behind a render. With
    ``_quiet`` saying a request came meanwhile, the step found is given back, not taken;
    once it says the moment was quiet, one is taken, after each request."""
    seen, waited = _serve_four_requests(_Idling(), (False, False, True, True))
    assert seen == [(1, 0, 1), (2, 0, 2), (3, 1, 2), (4, 2, 2)]
    assert waited == 4


def test_a_dry_spell_with_no_idle_work_sleeps_without_a_quiet_moment() -> None:
    """No step due (most dry spells): the loop asks once and goes straight to sleep, no
    quiet moment first, so it wakes once, at the next request (devfuse rule 8)."""
    operations = _Idling()
    operations.has_work = False
    seen, waited = _serve_four_requests(operations, (True, True, True, True))
    assert seen == [(1, 0, 0), (2, 0, 0), (3, 0, 0), (4, 0, 0)]
    assert waited == 0


def test_a_record_reassembles_one_text_and_ends_at_eof(
    main_session: tuple[socket.socket, devfuse.Session, _Texts, Peers],
) -> None:
    """Open, a read of part, the rest, EOF, release: one text rendered once, kept while a
    read did not take it all, freed at release."""
    kernel, session, operations, shared = main_session
    meminfo = session.nodes._ids["/proc/meminfo"]
    session._dispatch(_request(Opcode.OPEN, meminfo, wire.OPEN_IN.pack(0, 0), 1), forwarded=False)
    _, error, payload = _answer(kernel)
    assert error == 0
    handle = wire.OPEN_OUT.unpack_from(payload)[0]
    assert handle & SharedFiles.BIT
    slot = handle ^ SharedFiles.BIT
    got = b""
    for unique, (offset, size) in enumerate(((0, 30), (30, 1000), (100, 1000)), start=2):
        session._dispatch(
            _request(Opcode.READ, meminfo, _read_body(handle, offset, size), unique),
            forwarded=False,
        )
        got += _answer(kernel)[2]
        if offset == 0:
            assert shared.files.record(slot) == (0, 100) and slot in shared.files.held
    assert got == operations.text and operations.renders == 1
    session._dispatch(
        _request(Opcode.RELEASE, meminfo, wire.RELEASE_IN.pack(handle, 0, 0, 0), 9),
        forwarded=False,
    )
    assert _answer(kernel)[1] == 0
    assert slot not in shared.files.held
    session._dispatch(
        _request(Opcode.WRITE, meminfo, wire.WRITE_IN.pack(handle, 0, 1, 0, 0, 0, 0) + b"x", 10),
        forwarded=False,
    )
    assert _answer(kernel)[1] == errno.EINVAL


def test_the_main_process_clears_a_mark_once_it_served_that_fresh_read(
    main_session: tuple[socket.socket, devfuse.Session, _Texts, Peers],
) -> None:
    """After the marked task's fresh read (the one the st_size text is for), its later
    reads are a helper's to serve again; another task's mark is untouched (peers rule
    6: a mark left to expire sent every read of the task to the main process for half a
    second after each lookup)."""
    kernel, session, _, shared = main_session
    meminfo = session.nodes._ids["/proc/meminfo"]
    shared.mark_sized(77, meminfo)
    shared.mark_sized(78, meminfo)
    slot = shared.files.take(0)
    session._dispatch(
        _request(Opcode.READ, meminfo, _read_body(SharedFiles.BIT | slot, 0), 1, pid=77),
        forwarded=False,
    )
    assert _answer(kernel)[1] == 0
    assert not shared.sized_pending(77, meminfo)
    assert shared.sized_pending(78, meminfo)


def test_a_whole_read_keeps_no_text(
    main_session: tuple[socket.socket, devfuse.Session, _Texts, Peers],
) -> None:
    """A read that takes the whole text leaves only its length: EOF is anyone's answer."""
    kernel, session, _, shared = main_session
    meminfo = session.nodes._ids["/proc/meminfo"]
    slot = shared.files.take(0)
    handle = SharedFiles.BIT | slot
    session._dispatch(
        _request(Opcode.READ, meminfo, _read_body(handle, 0, 4096), 1), forwarded=False
    )
    assert len(_answer(kernel)[2]) == 100
    assert shared.files.record(slot) == (-1, 100)
    assert slot not in shared.files.held


# ------------------------------------------------------------------- a real mount


_READER = r"""
import json, os, sys, time
path, seconds, expected = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
reads = wrong = 0
stop = time.monotonic() + seconds
while time.monotonic() < stop:
    with open(path, "rb", buffering=0) as f:
        text = b""
        while True:
            part = f.read(97)  # small reads: most texts span several, held by one process
            if not part:
                break
            text += part
    total = int(text.split(b"\n", 1)[0].split()[1])
    reads += 1
    wrong += total != expected or not text.endswith(b"kB\n")
print(json.dumps({"reads": reads, "wrong": wrong}))
"""


@pytest.fixture
def helped_daemon() -> Iterator[Daemon]:
    with lxcfs_fuse_mount(("-l", "--enable-cfs"), extra_env={peers.HELPERS_VARIABLE: "1"}) as d:
        yield d


@pytest.mark.root
def test_readers_in_many_containers_get_their_own_texts_from_both_processes(
    helped_daemon: Daemon,
) -> None:
    """Six containers read meminfo in small pieces at once for two seconds: every text is
    whole and the container's own, and the helper served a share of the requests."""
    limits = [(64 + 32 * index) << 20 for index in range(6)]
    with container_cgroups() as first:
        sets: list[CgroupSet] = [first]
        stack = [container_cgroups() for _ in range(5)]
        try:
            sets += [context.__enter__() for context in stack]
            probes: list[Probe] = []
            for cgroups, limit in zip(sets, limits, strict=True):
                cgroups.set_memory_limit(limit)
                probes.append(cgroups.start_probe(new_pid_namespace=True))
            results: list[dict[str, int]] = [{} for _ in probes]

            def run(index: int) -> None:
                done = probes[index].run(
                    [
                        "python3",
                        "-c",
                        _READER,
                        f"{helped_daemon.path}/proc/meminfo",
                        "2",
                        str(limits[index] >> 10),
                    ],
                    timeout=60,
                )
                results[index] = json.loads(done.stdout)

            threads = [threading.Thread(target=run, args=(i,)) for i in range(len(probes))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(90)
            assert all(result.get("reads", 0) > 10 for result in results), results
            assert sum(result["wrong"] for result in results) == 0, results
        finally:
            for context in reversed(stack):
                context.__exit__(None, None, None)
    helped_daemon.process.send_signal(signal.SIGTERM)
    helped_daemon.process.wait(timeout=15)
    with open(helped_daemon.log_path) as log:
        text = log.read()
    served = re.search(r"helper 1: served (\d+) requests", text)
    assert served is not None, text[-2000:]
    assert int(served.group(1)) > 0, text[-2000:]


@pytest.mark.root
def test_a_killed_helper_leaves_no_reader_waiting(helped_daemon: Daemon) -> None:
    """SIGKILL the helper while containers read: every read still ends (answered, or EIO
    for the few the helper held), and the main process serves on alone."""
    children = []
    for task in os.listdir(f"/proc/{helped_daemon.process.pid}/task"):
        with open(f"/proc/{helped_daemon.process.pid}/task/{task}/children") as listed:
            children += [int(pid) for pid in listed.read().split()]
    assert len(children) == 1
    reader = (
        "import os, sys, time\n"
        "stop = time.monotonic() + 3\n"
        "n = 0\n"
        "while time.monotonic() < stop:\n"
        "    try:\n"
        "        open(sys.argv[1], 'rb').read(); n += 1\n"
        "    except OSError:\n"
        "        pass\n"
        "print(n)\n"
    )
    with container_cgroups() as a, container_cgroups() as b, container_cgroups() as c:
        probes = [cgroups.start_probe() for cgroups in (a, b, c)]
        outputs: list[str] = ["", "", ""]

        def run(index: int) -> None:
            done = probes[index].run(
                ["python3", "-c", reader, f"{helped_daemon.path}/proc/meminfo"], timeout=30
            )
            outputs[index] = done.stdout

        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        os.kill(children[0], signal.SIGKILL)
        for thread in threads:
            thread.join(40)
        assert not any(thread.is_alive() for thread in threads)
        assert all(int(output or 0) > 0 for output in outputs), outputs
        # The main process still answers, alone.
        assert probes[0].read_raw([f"{helped_daemon.path}/proc/meminfo"])
    with open(f"{helped_daemon.path}/proc/uptime") as uptime:
        assert len(uptime.read().split()) == 2


@pytest.mark.root
def test_sigterm_ends_the_daemon_and_its_helper_while_it_reads() -> None:
    """SIGTERM right after reads (when the I/O layer's descriptor-closing timer thread may
    be alive: it blocks every signal, so the serving thread gets it) ends the main process
    and its helper within seconds, exit 0."""
    for _ in range(3):
        with lxcfs_fuse_mount(("-l",), extra_env={peers.HELPERS_VARIABLE: "1"}) as daemon:
            pid = daemon.process.pid
            with open(f"/proc/{pid}/task/{pid}/children") as listed:
                (helper,) = (int(child) for child in listed.read().split())
            for _ in range(20):
                with open(f"{daemon.path}/proc/meminfo", "rb") as meminfo:
                    assert meminfo.read().startswith(b"MemTotal:")
            daemon.process.send_signal(signal.SIGTERM)
            assert daemon.process.wait(timeout=10) == 0, daemon.log()[-2000:]
            deadline = time.monotonic() + 5
            while os.path.exists(f"/proc/{helper}") and time.monotonic() < deadline:
                with open(f"/proc/{helper}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
                time.sleep(0.05)
            assert "helper 1: served" in daemon.log(), daemon.log()[-2000:]


# ------------------------------------------------- a record's own requests (devfuse rule 9)


def _twin_sessions() -> Iterator[tuple[socket.socket, socket.socket, devfuse.Session]]:
    for _ in range(2):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        session = devfuse.Session(_Texts(b"0123456789" * 10), theirs.fileno(), peers=Peers(2))
        yield ours, theirs, session


def test_a_records_own_requests_are_answered_as_dispatch_answers_them() -> None:
    """The open, the read at offset 0, the read at EOF and the release are answered at
    once with what ``_dispatch`` answers; a read inside the text, a second release and the
    open of a file that is no record are left to ``_dispatch``."""
    (kernel, device, fast), (other, other_device, slow) = _twin_sessions()
    meminfo = fast.nodes._ids["/proc/meminfo"]
    assert slow.nodes._ids["/proc/meminfo"] == meminfo
    try:
        requests: list[tuple[bytes, bool]] = []
        handle = SharedFiles.BIT  # both sessions hand out slot 0 first
        requests.append((_request(Opcode.OPEN, meminfo, wire.OPEN_IN.pack(0, 0), 1), True))
        requests.append((_request(Opcode.READ, meminfo, _read_body(handle, 0, 30), 2), True))
        requests.append((_request(Opcode.READ, meminfo, _read_body(handle, 30, 30), 3), False))
        requests.append((_request(Opcode.READ, meminfo, _read_body(handle, 60, 99), 4), False))
        requests.append((_request(Opcode.READ, meminfo, _read_body(handle, 100, 99), 5), True))
        requests.append((_request(Opcode.READ, meminfo, _read_body(handle, 150, 99), 6), True))
        release = wire.RELEASE_IN.pack(handle, 0, 0, 0)
        requests.append((_request(Opcode.RELEASE, meminfo, release, 7), True))
        requests.append((_request(Opcode.RELEASE, meminfo, release, 8), False))  # not open
        requests.append((_request(Opcode.OPEN, 1, wire.OPEN_IN.pack(0, 0), 9), False))
        for request, answered_at_once in requests:
            assert fast._answered_from_record(request) is answered_at_once
            if not answered_at_once:
                fast._dispatch(request, forwarded=False)
            slow._dispatch(request, forwarded=False)
            assert kernel.recv(1 << 20) == other.recv(1 << 20)
        assert fast.requests_served == slow.requests_served == len(requests)
    finally:
        for end in (kernel, device, other, other_device):
            end.close()


class _Failing(_Texts):
    """Operations whose render fails with ``failure``."""

    def __init__(self, failure: BaseException) -> None:
        super().__init__(b"")
        self.failure = failure

    def content_of(self, path: str) -> bytes:
        self.renders += 1
        raise self.failure


@pytest.mark.parametrize(
    "failure",
    [OSError(errno.EACCES, "denied"), RuntimeError("a bug"), MustDefer()],
    ids=["errno", "unexpected", "must-defer"],
)
def test_a_failed_render_at_offset_0_is_answered_as_dispatch_answers_it(
    failure: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read at offset 0 answered at once fails as ``_dispatch``'s does: the errno, EIO
    for anything unexpected (met at the open, rule 10), and a request that must wait
    handed to a worker whole (the render at the open given up)."""
    monkeypatch.setattr(devfuse, "RENDER_AT_OPEN_SECONDS", 60.0)
    sessions = []
    for _ in range(2):
        kernel, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        session = devfuse.Session(_Failing(failure), device.fileno(), peers=Peers(2))
        deferred: list[tuple[object, ...]] = []
        session._defer = lambda *request, deferred=deferred: deferred.append(request)  # type: ignore[method-assign]
        sessions.append((kernel, device, session, deferred))
    (kernel, _, fast, fast_deferred), (other, _, slow, slow_deferred) = sessions
    meminfo = fast.nodes._ids["/proc/meminfo"]
    try:
        opened = _request(Opcode.OPEN, meminfo, wire.OPEN_IN.pack(0, 0), 1, pid=4242)
        read = _request(Opcode.READ, meminfo, _read_body(SharedFiles.BIT, 0, 30), 2, pid=4242)
        for request in (opened, read):
            assert fast._answered_from_record(request)
            slow._dispatch(request, forwarded=False)
            if isinstance(failure, MustDefer) and request is read:
                continue
            assert kernel.recv(1 << 20) == other.recv(1 << 20)
        assert fast_deferred == slow_deferred
        assert len(fast_deferred) == (1 if isinstance(failure, MustDefer) else 0)
        if fast_deferred:
            assert fast_deferred[0][:4] == (Opcode.READ, 2, meminfo, (0, 0, 4242))
        assert fast.requests_served == slow.requests_served == 2
        assert slow._operations.renders == 1
        assert fast._operations.renders == (2 if isinstance(failure, MustDefer) else 1)
    finally:
        for kernel_end, device_end, _, _ in sessions:
            kernel_end.close()
            device_end.close()


def test_a_read_at_offset_0_of_a_text_another_process_holds_goes_to_dispatch() -> None:
    """Rule 9 takes the read at offset 0 only where ``_route`` would keep it: not when a
    helper holds the record's text (it goes to the holder), nor in a helper."""
    shared = Peers(2)
    main = devfuse.Session(object(), shared.mailbox.fileno(), peers=shared)
    shared.index = 1
    helper = devfuse.Session(object(), shared.mailbox.fileno(), peers=shared)
    files = shared.files
    slot = files.take(0)
    meminfo = main.nodes._ids["/proc/meminfo"]
    read = _request(Opcode.READ, meminfo, _read_body(SharedFiles.BIT | slot, 0, 30), 2)
    files.rendered(slot, 1, 100)  # the helper holds the text
    assert not main._answered_from_record(read)
    files.rendered(slot, -1, 100)  # nobody does: still the main process's to render
    assert not helper._answered_from_record(read)
    assert main._route(Opcode.READ, meminfo, read[wire.IN_HEADER.size :], 77) == 0


def _opened_session() -> tuple[socket.socket, socket.socket, devfuse.Session, _Texts, int]:
    kernel, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    operations = _Texts(b"0123456789" * 10)
    session = devfuse.Session(operations, device.fileno(), peers=Peers(2))
    return kernel, device, session, operations, session.nodes._ids["/proc/meminfo"]


def _open_and_read(
    session: devfuse.Session,
    kernel: socket.socket,
    meminfo: int,
    *,
    flags: int = os.O_RDONLY,
    reader: int = 5,
    between: bytes | None = None,
) -> tuple[int, bytes]:
    """An OPEN by task 5, ``between`` if given, then a READ at offset 0 by ``reader``: the
    renders made at the open, and the read's answer."""
    operations = session._operations
    assert session._answered_from_record(
        _request(Opcode.OPEN, meminfo, wire.OPEN_IN.pack(flags, 0), 1, pid=5)
    )
    made_at_open = operations.renders
    handle = wire.OPEN_OUT.unpack_from(_answer(kernel)[2])[0]
    if between is not None:
        if not session._answered_from_record(between):
            session._dispatch(between, forwarded=False)
        _answer(kernel)
    read = _request(Opcode.READ, meminfo, _read_body(handle, 0, 4096), 2, pid=reader)
    assert session._answered_from_record(read)
    return made_at_open, _answer(kernel)[2]


def test_the_text_made_at_the_open_goes_to_the_first_read_by_the_same_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rule 10: the OPEN renders for the opener, and its READ at offset 0 by the same task
    within ``RENDER_AT_OPEN_SECONDS`` gets that text: one render in all."""
    monkeypatch.setattr(devfuse, "RENDER_AT_OPEN_SECONDS", 60.0)
    kernel, device, session, operations, meminfo = _opened_session()
    try:
        assert _open_and_read(session, kernel, meminfo) == (1, b"0123456789" * 10)
        assert operations.renders == 1
    finally:
        kernel.close()
        device.close()


@pytest.mark.parametrize("case", ["other task", "too late", "request between", "write only"])
def test_any_other_read_renders_anew_and_an_open_for_writing_makes_nothing(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule 10: a read by another task, one later than ``RENDER_AT_OPEN_SECONDS``, or one
    after another request renders as before; an open for writing renders nothing."""
    monkeypatch.setattr(devfuse, "RENDER_AT_OPEN_SECONDS", -1.0 if case == "too late" else 60.0)
    kernel, device, session, operations, meminfo = _opened_session()
    # A release of a record that is not open (answered EBADF by ``_dispatch``).
    stray = _request(Opcode.RELEASE, meminfo, wire.RELEASE_IN.pack(SharedFiles.BIT | 9, 0, 0, 0), 3)
    try:
        made_at_open, text = _open_and_read(
            session,
            kernel,
            meminfo,
            reader=6 if case == "other task" else 5,
            between=stray if case == "request between" else None,
            flags=os.O_WRONLY if case == "write only" else os.O_RDONLY,
        )
        assert text == b"0123456789" * 10
        assert made_at_open == (0 if case == "write only" else 1)
        assert operations.renders == made_at_open + 1
    finally:
        kernel.close()
        device.close()


def test_nothing_is_made_at_the_open_with_a_helper_engaged_or_in_a_helper() -> None:
    """Rule 10 is the main process's, and not while a helper may take the read."""
    kernel, device, session, operations, meminfo = _opened_session()
    shared = session._peers
    assert shared is not None
    try:
        assert shared.engage_idle_helper()
        assert session._answered_from_record(
            _request(Opcode.OPEN, meminfo, wire.OPEN_IN.pack(0, 0), 1, pid=5)
        )
        _answer(kernel)
        assert operations.renders == 0
        shared.index = 1
        helper = devfuse.Session(operations, device.fileno(), peers=shared)
        helper._render_at_open(
            _request(Opcode.OPEN, meminfo, wire.OPEN_IN.pack(0, 0), 2, pid=5), 0, meminfo
        )
        assert operations.renders == 0
    finally:
        kernel.close()
        device.close()


def test_the_main_loop_answers_a_whole_read_without_dispatch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A whole read through the main process's loop (open, read, read at EOF, release):
    no request goes through ``_dispatch``; the text is made once, at the open."""
    monkeypatch.setattr(devfuse, "RENDER_AT_OPEN_SECONDS", 60.0)
    kernel, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    device.setblocking(False)  # the mounted device is read without blocking
    operations = _Texts(b"0123456789" * 10)
    session = devfuse.Session(operations, device.fileno(), peers=Peers(2))
    meminfo = session.nodes._ids["/proc/meminfo"]
    dispatched: list[int] = []
    dispatch = session._dispatch

    def counting(request: bytes, *, forwarded: bool, reply_to: int | None = None) -> None:
        dispatched.append(wire.IN_HEADER.unpack_from(request)[1])
        dispatch(request, forwarded=forwarded, reply_to=reply_to)

    session._dispatch = counting  # type: ignore[method-assign]
    got: list[bytes] = []

    def reader() -> None:
        kernel.send(_request(Opcode.OPEN, meminfo, wire.OPEN_IN.pack(0, 0), 1))
        handle = wire.OPEN_OUT.unpack_from(_answer(kernel)[2])[0]
        kernel.send(_request(Opcode.READ, meminfo, _read_body(handle, 0), 2))
        got.append(_answer(kernel)[2])
        kernel.send(_request(Opcode.READ, meminfo, _read_body(handle, 100), 3))
        got.append(_answer(kernel)[2])
        kernel.send(_request(Opcode.RELEASE, meminfo, wire.RELEASE_IN.pack(handle, 0, 0, 0), 4))
        got.append(_answer(kernel)[2])
        kernel.close()  # the device reads EOF: the loop ends

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        session.serve()
    finally:
        thread.join(10)
        device.close()
    assert got == [b"0123456789" * 10, b"", b""]
    assert dispatched == []
    assert operations.renders == 1
