"""The daemon's log lines: one line per event on stderr, readable by a person and by journald.

Rules:
1. Plain ``lxcfs-fuse: message`` lines on a terminal or a plain pipe.
2. Under systemd (``JOURNAL_STREAM`` set: stderr is connected to the journal) each line starts
   with its syslog priority, ``<3>`` for errors, ``<4>`` warnings, ``<6>`` info, ``<7>``
   debug: journald strips the prefix and files the line at that priority, so
   ``journalctl -p warning -u lxcfs-py`` shows exactly the problems.
3. A message never spans lines: a newline inside one (an exception text) is folded, so a
   syslog reader never takes its continuation for a new event.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

__all__ = ["configure_logging"]

_PRIORITY = ((logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


class _OneLineFormatter(logging.Formatter):
    def __init__(self, journal: bool) -> None:
        super().__init__("lxcfs-fuse: %(message)s")
        self._journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record).replace("\n", " | ")
        if not self._journal:
            return line
        priority = next((p for level, p in _PRIORITY if record.levelno >= level), 7)
        return f"<{priority}>{line}"


def configure_logging(debug: bool, environ: Mapping[str, str] = os.environ) -> None:
    """Send the daemon's log to stderr (rules 1-3); ``debug`` (-d) traces every request."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter(journal=bool(environ.get("JOURNAL_STREAM"))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
