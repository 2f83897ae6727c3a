"""The daemon's log: one line per event, syslog priorities under systemd, -d traces requests."""

from __future__ import annotations

import io
import logging
import os
import re

import pytest

from lxcfs_fuse import logs
from tests.fuse.daemon import lxcfs_fuse_mount


def _emit(journal: bool, level: int, message: str) -> str:
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        logs.configure_logging(False, {"JOURNAL_STREAM": "8:1234"} if journal else {})
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("lxcfs_fuse").log(level, message)
    finally:
        root.handlers[:], root.level = saved_handlers, saved_level
    return stream.getvalue()


def test_plain_lines_without_systemd() -> None:
    """Outside systemd a line is `lxcfs-fuse: message`, with no priority prefix."""
    assert _emit(False, logging.WARNING, "x stalled") == "lxcfs-fuse: x stalled\n"


@pytest.mark.parametrize(
    ("level", "priority"),
    [(logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6)],
)
def test_journal_lines_carry_the_syslog_priority(level: int, priority: int) -> None:
    """With JOURNAL_STREAM set each line starts with its syslog priority for journald."""
    assert _emit(True, level, "event") == f"<{priority}>lxcfs-fuse: event\n"


def test_a_message_never_spans_lines() -> None:
    """A newline inside a message is folded, so a log reader sees one event per line."""
    assert _emit(False, logging.ERROR, "first\nsecond") == "lxcfs-fuse: first | second\n"


@pytest.mark.root
def test_debug_traces_every_request_with_caller_container_and_time() -> None:
    """-d logs each request's operation, path, caller pid and time, and for a read the
    container's cgroups it was rendered for."""
    with lxcfs_fuse_mount(("-d",)) as daemon:
        with open(f"{daemon.path}/proc/meminfo") as file:
            assert file.read().startswith("MemTotal:")
        pid = os.getpid()
        log = daemon.log()
    assert re.search(rf"read /proc/meminfo pid={pid}: ok in \d+ us", log), log[-2000:]
    assert re.search(rf"render proc/meminfo pid={pid} container=memory:/\S*", log), log[-2000:]
