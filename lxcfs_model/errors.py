"""The one error type the public API raises.

Rules:
1. Renderers never raise for bad *values*: they fall back (usually to the host file) and say
   why in ``Rendered.fallback``. ``LxcfsModelError`` is for bad *requests*: an unknown file
   name, a cgroup or pid that does not exist, an unreadable root, a malformed snapshot.
2. Every subclass carries a message a user can act on; the CLI prints it as one line.
"""

from __future__ import annotations

__all__ = ["LxcfsModelError", "NoSuchCgroup", "NoSuchProcess", "ParseError", "UnknownFile"]


class LxcfsModelError(Exception):
    """Base of every error lxcfs_model raises on purpose."""


class UnknownFile(LxcfsModelError):
    """The name does not denote a file the model renders."""


class NoSuchCgroup(LxcfsModelError):
    """The cgroup path does not exist in any hierarchy."""


class NoSuchProcess(LxcfsModelError):
    """The pid does not exist (or vanished while it was being resolved)."""


class ParseError(LxcfsModelError):
    """A cgroup or procfs text is malformed; the message names the file and the problem."""
