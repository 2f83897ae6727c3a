"""When "\\n" is the only line break of a text, so that fast parsers may split at "\\n" alone.

Rules:
1. The careful parsers cut lines with ``str.splitlines``, which also breaks at ``\\r``,
   ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028`` and ``\\u2029``. A fast path that
   scans for "\\n" (``str.split``, a regex) sees the same lines only when none of those others
   occurs, which ``newline_is_the_only_line_break`` checks; otherwise it takes the careful path.
2. The kernel's procfs and cgroup texts are ASCII with "\\n" line ends, so the check passes on
   every text a live system produces, in a handful of C-level scans.
"""

from __future__ import annotations

__all__ = ["newline_is_the_only_line_break"]

# The str.splitlines boundaries that are ASCII, "\n" aside; the non-ASCII ones (\x85,
# \u2028, \u2029) are excluded by str.isascii.
_OTHER_ASCII_LINE_BREAKS = "\r\v\f\x1c\x1d\x1e"


def newline_is_the_only_line_break(text: str) -> bool:
    """True when ``text.splitlines(keepends=True)`` is ``text`` cut after each "\\n"."""
    return text.isascii() and not any(map(text.__contains__, _OTHER_ASCII_LINE_BREAKS))
